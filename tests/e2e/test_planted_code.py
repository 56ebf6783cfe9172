"""Code the candidate plants in the notebooks folder never runs outside their kernel.

The notebooks volume outlives restarts and is the candidate's to write, so a module
named like a standard one, a sitecustomize, or a Jupyter config file placed there
must not be picked up by the server, the health check or the root-run export.
"""

from __future__ import annotations

import json

from support.jupyter import JupyterClient
from support.stack import Stack, wait_until

# Each planted file records, in a marker file, which process imported it.
PLANT = r"""
import pathlib
work = pathlib.Path("/home/pairlab/work")
payload = '''
import os, sys
for folder in ("/home/pairlab/work", "/export"):
    try:
        with open(os.path.join(folder, ".planted-ran"), "a") as marker:
            marker.write(" ".join(sys.argv) + "\\n")
    except OSError:
        pass
'''
for name in ("shutil.py", "json.py", "sitecustomize.py", "usercustomize.py"):
    (work / name).write_text(payload)
(work / "pairlab_jupyter").mkdir(exist_ok=True)
(work / "pairlab_jupyter" / "__init__.py").write_text(payload)
(work / ".jupyter").mkdir(exist_ok=True)
(work / ".jupyter" / "jupyter_server_config.py").write_text(payload)
(work / "jupyter_server_config.py").write_text(payload)
print(sorted(p.name for p in work.iterdir()))
"""

KILL_THE_SERVER = r"""
import glob, json, os, signal
[server_file] = glob.glob("/tmp/jupyter-runtime/jpserver-*.json")
os.kill(json.load(open(server_file))["pid"], signal.SIGKILL)
"""


def test_planted_modules_and_config_never_run_in_the_server_or_the_export(
    fresh_stack: Stack,
) -> None:
    export_dir = fresh_stack.workdir / "interviews"
    fresh_stack.settings["EXPORT_DIR"] = str(export_dir)
    fresh_stack.up()
    links = fresh_stack.links()
    candidate = JupyterClient(links.base_url, links.candidate_token)
    kernel = candidate.start_kernel()
    planted = kernel.run(PLANT)
    first_start = fresh_stack.container_state("jupyter")["StartedAt"]
    kernel.submit(KILL_THE_SERVER)

    def restarted_and_healthy() -> bool:
        state = fresh_stack.container_state("jupyter")
        return (
            state["StartedAt"] != first_start
            and state.get("Health", {}).get("Status") == "healthy"
        )

    wait_until(
        restarted_and_healthy,
        timeout=120,
        what="jupyter restarted and healthy after its server was killed",
    )
    health = fresh_stack.exec("jupyter", "python", "-m", "pairlab_jupyter.healthcheck")
    exported = fresh_stack.compose("--profile", "export", "run", "--rm", "export")
    after_restart = JupyterClient(links.base_url, links.interviewer_token)
    listing = after_restart.get("/api/contents").json()
    marker_lines = fresh_stack.exec(
        "jupyter", "cat", "/home/pairlab/work/.planted-ran"
    ).stdout.splitlines()
    # The candidate's own kernels may import what the candidate wrote: that is theirs.
    outside_kernels = [line for line in marker_lines if "ipykernel" not in line]

    assert planted.error is None, planted.error
    assert "sitecustomize.py" in planted.stdout
    assert health.returncode == 0, health.stderr
    assert exported.returncode == 0, exported.stderr
    assert listing["type"] == "directory", json.dumps(listing)[:300]
    assert outside_kernels == [], f"planted code ran in: {outside_kernels}"
    assert not list(export_dir.rglob(".planted-ran"))
