"""Docker healthcheck for the jupyter service: exit 0 when the server answers."""

import json
import sys
import urllib.request

API_URL = "http://127.0.0.1:8888/api"


def main() -> int:
    try:
        with urllib.request.urlopen(API_URL, timeout=3) as response:
            version = json.load(response)["version"]
    except (OSError, ValueError, KeyError) as error:
        print(f"jupyter is not answering at {API_URL}: {error}", file=sys.stderr)
        return 1
    print(f"jupyter_server {version} is answering")
    return 0


if __name__ == "__main__":
    sys.exit(main())
