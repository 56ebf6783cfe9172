"""The interview stack end to end: datagen, hardened Jupyter, the link, via the fake."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import uuid

import httpx
import pytest

from support.jupyter import JupyterClient, Kernel
from support.stack import Links, Stack, wait_until


def test_datagen_exited_zero_after_writing_every_manifest_file(stack: Stack) -> None:
    state = stack.container_state("datagen")
    listing = stack.exec(
        "jupyter", "ls", "-1", "/home/pairlab/work/data"
    ).stdout.split()
    manifest = json.loads(
        stack.exec("jupyter", "cat", "/home/pairlab/work/data/manifest.json").stdout
    )

    expected = {
        entry["name"]
        for table in manifest["tables"].values()
        for entry in table["files"].values()
    }
    assert state["ExitCode"] == 0, state
    assert len(manifest["tables"]) >= 2, manifest["tables"].keys()
    assert expected <= set(listing), f"missing {expected - set(listing)}"
    assert {"manifest.json", "data_dictionary.md"} <= set(listing)


def test_jupyter_reports_healthy(stack: Stack) -> None:
    assert stack.container_state("jupyter")["Health"]["Status"] == "healthy"


def test_ngrok_logs_print_each_link_once_with_the_tunnel_url(
    stack: Stack, links: Links
) -> None:
    logs = stack.logs("ngrok")

    assert logs.count("CANDIDATE LINK") == 1, logs
    assert logs.count("INTERVIEWER LINK") == 1, logs
    assert links.base_url == f"http://127.0.0.1:{stack.port}"
    assert links.candidate_token != links.interviewer_token
    assert len(links.candidate_token) >= 32


def test_the_tokens_appear_in_no_log_but_the_link_lines(
    stack: Stack, links: Links
) -> None:
    for service in ("datagen", "jupyter"):
        logs = stack.logs(service)
        assert links.candidate_token not in logs, service
        assert links.interviewer_token not in logs, service


def test_candidate_link_opens_jupyterlab_through_the_tunnel(links: Links) -> None:
    response = httpx.get(links.candidate, timeout=30, follow_redirects=True)

    assert response.status_code == 200
    assert "<title>JupyterLab</title>" in response.text
    # The login cookie comes with the redirect that takes the token out of the URL.
    assert any(name.startswith("username-") for name in response.history[0].cookies)


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("", {}),
        ("?token=", {}),
        ("?token=wrong-token", {}),
        ("", {"Authorization": "token wrong-token"}),
        ("", {"Authorization": "Bearer wrong-token"}),
    ],
)
def test_api_refuses_a_missing_or_wrong_token(
    links: Links, query: str, headers: dict[str, str]
) -> None:
    url = f"{links.base_url}/api/contents{query}"

    response = httpx.get(url, headers=headers, timeout=30)

    assert response.status_code == 403
    assert "interview.ipynb" not in response.text


def test_a_wrong_token_in_the_link_leads_to_the_login_page(links: Links) -> None:
    response = httpx.get(f"{links.base_url}/lab?token=not-the-token", timeout=30)

    login_page = httpx.get(links.base_url + response.headers["location"], timeout=30)

    assert response.status_code == 302
    assert response.headers["location"].startswith("/login")
    assert "This interview link did not work" in login_page.text
    assert "ask your interviewer" in login_page.text


def test_the_link_logs_in_the_named_candidate(candidate: JupyterClient) -> None:
    identity = candidate.get("/api/me").json()["identity"]

    assert identity["username"] == "candidate"
    assert identity["display_name"] == "Candidate"


READ_EVERY_TABLE = """
import json, pathlib
import pandas as pd, polars as pl
data = pathlib.Path("data")
manifest = json.loads((data / "manifest.json").read_text())
counts = {}
for name, table in manifest["tables"].items():
    files = table["files"]
    counts[name] = {
        "manifest": table["rows"],
        "pandas_csv": len(pd.read_csv(data / files["csv"]["name"])),
        "polars_csv": pl.read_csv(data / files["csv"]["name"]).height,
        "pandas_parquet": len(pd.read_parquet(data / files["parquet"]["name"])),
        "polars_parquet": pl.read_parquet(data / files["parquet"]["name"]).height,
    }
print(json.dumps(counts))
"""


def test_kernel_reads_every_table_with_the_manifest_row_counts(kernel: Kernel) -> None:
    execution = kernel.run(READ_EVERY_TABLE)

    assert execution.error is None, execution.error
    counts = json.loads(execution.stdout)
    assert len(counts) >= 2
    for name, seen in counts.items():
        expected = seen.pop("manifest")
        assert set(seen.values()) == {expected}, f"{name}: {seen} != {expected}"


def test_kernel_runs_as_an_unprivileged_user(kernel: Kernel) -> None:
    execution = kernel.run(
        "import os\n"
        "status = dict(l.split(':\\t') for l in open('/proc/self/status').read()"
        ".splitlines() if ':\\t' in l)\n"
        "print(os.getuid(), os.getgid(), status['CapEff'], status['NoNewPrivs'])"
    )

    assert execution.stdout.split() == ["1000", "1000", "0000000000000000", "1"]


def test_kernel_cannot_write_the_dataset_or_the_root_filesystem(kernel: Kernel) -> None:
    execution = kernel.run(
        "import errno\n"
        "for path in ('data/manifest.json', 'data/new.csv', '/usr/evil', '/etc/x'):\n"
        "    try:\n"
        "        open(path, 'a').close()\n"
        "        print(path, 'WRITABLE')\n"
        "    except OSError as error:\n"
        "        print(path, errno.errorcode[error.errno])\n"
    )

    results = dict(line.split() for line in execution.stdout.splitlines())
    assert results == {
        "data/manifest.json": "EROFS",
        "data/new.csv": "EROFS",
        "/usr/evil": "EROFS",
        "/etc/x": "EROFS",
    }


def engine_major_version() -> int:
    version = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return int(version.split(".")[0])


def host_ipv4_addresses() -> set[str]:
    shown = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    return {line.split()[3].split("/")[0] for line in shown.splitlines()}


def test_kernel_has_no_route_out(kernel: Kernel) -> None:
    execution = kernel.run(
        "rows = [l.split() for l in open('/proc/net/route').read().splitlines()[1:]]\n"
        "print(' '.join(f'{row[1]}:{row[2]}' for row in rows))"
    )

    routes = dict(pair.split(":") for pair in execution.stdout.split())
    assert routes, "the container has no routes at all"
    if engine_major_version() >= 25:
        assert "00000000" not in routes, f"a default route exists: {routes}"
    elif "00000000" in routes:
        # Engines before 25 still add a default route on internal networks; pairlab
        # takes the host's address off that network, so the route leads nowhere.
        gateway = socket.inet_ntoa(int(routes["00000000"], 16).to_bytes(4, "little"))
        assert gateway not in host_ipv4_addresses(), f"the host answers at {gateway}"


def test_kernel_cannot_reach_a_sentinel_on_the_outbound_network(
    stack: Stack, kernel: Kernel
) -> None:
    network = f"{stack.project}_outbound"
    sentinel = f"{stack.project}-sentinel-{uuid.uuid4().hex[:6]}"
    image = subprocess.run(
        ["docker", "image", "inspect", "pairlab/jupyter:local", "--format", "{{.Id}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run(
        [
            "docker",
            "run",
            "--detach",
            "--rm",
            "--name",
            sentinel,
            "--network",
            network,
            "--label",
            f"com.docker.compose.project={stack.project}",
            "--entrypoint",
            "python",
            image,
            "-m",
            "http.server",
            "8000",
        ],
        capture_output=True,
        check=True,
    )
    try:
        address = subprocess.run(
            [
                "docker",
                "inspect",
                sentinel,
                "--format",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        # The sentinel answers on its own network, so a failure below means no route.
        from_ngrok = wait_until(
            lambda: (
                stack.exec(
                    "ngrok",
                    "wget",
                    "-q",
                    "-T",
                    "5",
                    "-O",
                    "-",
                    f"http://{address}:8000/",
                ).stdout
            ),
            timeout=30,
            what="the sentinel answering the ngrok container",
        )

        execution = kernel.run(
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('{address}', 8000), timeout=5)\n"
            "    print('CONNECTED')\n"
            "except OSError as error:\n"
            "    print(type(error).__name__, error.errno)\n"
        )
    finally:
        subprocess.run(["docker", "rm", "--force", sentinel], capture_output=True)

    assert "Directory listing" in from_ngrok
    assert execution.stdout.split()[0] in {"OSError", "TimeoutError"}, execution.stdout
    assert "CONNECTED" not in execution.stdout


def test_kernel_cannot_resolve_external_names(kernel: Kernel) -> None:
    execution = kernel.run(
        "import socket\n"
        "try:\n"
        "    print(socket.getaddrinfo('example.com', 443))\n"
        "except socket.gaierror as error:\n"
        "    print('gaierror', error.errno)\n"
    )

    assert execution.stdout.startswith("gaierror"), execution.stdout


def test_kernel_cannot_reach_the_ngrok_agent_api(kernel: Kernel) -> None:
    execution = kernel.run(
        "import socket\n"
        "for host in ('ngrok', '127.0.0.1'):\n"
        "    try:\n"
        "        socket.create_connection((host, 4040), timeout=5)\n"
        "        print(host, 'CONNECTED')\n"
        "    except OSError as error:\n"
        "        print(host, type(error).__name__)\n"
    )

    results = dict(line.split() for line in execution.stdout.splitlines())
    assert results == {
        "ngrok": "ConnectionRefusedError",
        "127.0.0.1": "ConnectionRefusedError",
    }


def test_thread_pools_follow_the_cpu_limit(kernel: Kernel) -> None:
    execution = kernel.run(
        "import os, polars\n"
        "print(os.environ['OMP_NUM_THREADS'], polars.thread_pool_size())"
    )

    assert execution.stdout.split() == ["2", "2"]


def test_terminals_are_off_by_default(candidate: JupyterClient) -> None:
    assert candidate.http.post("/api/terminals").status_code == 404


def test_collaboration_files_stay_out_of_the_file_browser(
    stack: Stack, candidate: JupyterClient
) -> None:
    names = {
        entry["name"] for entry in candidate.get("/api/contents").json()["content"]
    }
    state = stack.exec("jupyter", "ls", "-1", "/var/lib/pairlab/collab").stdout.split()

    assert names == {"interview.ipynb", "data"}
    assert "file_id.db" in state


def test_the_link_lines_say_until_when_the_candidate_link_works(
    stack: Stack, links: Links
) -> None:
    logs = stack.logs("ngrok")

    assert re.search(
        r"The candidate link works until \d{4}-\d\d-\d\d \d\d:\d\d UTC "
        r"\(INTERVIEW_MINUTES in \.env\)",
        logs,
    ), logs


@pytest.mark.parametrize("person", ["candidate", "interviewer"])
def test_no_link_can_shut_the_server_down(
    stack: Stack, links: Links, person: str
) -> None:
    token = getattr(links, f"{person}_token")

    response = httpx.post(
        f"{links.base_url}/api/shutdown",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )

    assert response.status_code == 403
    assert stack.container_state("jupyter")["Running"] is True
    assert httpx.get(f"{links.base_url}/api", timeout=30).status_code == 200
