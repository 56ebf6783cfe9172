"""The sandbox limits set in .env reach the container and the candidate's libraries."""

from __future__ import annotations

import json
import subprocess

from support.jupyter import JupyterClient
from support.stack import Stack


def test_one_cpu_in_env_gives_one_cpu_and_one_thread_per_pool(
    fresh_stack: Stack,
) -> None:
    fresh_stack.settings.update({"JUPYTER_CPUS": "1", "JUPYTER_PIDS": "128"})
    fresh_stack.up()
    links = fresh_stack.links()
    kernel = JupyterClient(links.base_url, links.candidate_token).start_kernel()

    seen = kernel.run(
        "import json, os, polars\n"
        "print(json.dumps({'omp': os.environ['OMP_NUM_THREADS'],"
        " 'polars': polars.thread_pool_size()}))"
    )
    container_id = fresh_stack.compose("ps", "--quiet", "jupyter").stdout.strip()
    host_config = json.loads(
        subprocess.run(
            ["docker", "inspect", container_id, "--format", "{{json .HostConfig}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )

    assert json.loads(seen.stdout) == {"omp": "1", "polars": 1}
    assert host_config["NanoCpus"] == 1_000_000_000
    assert host_config["PidsLimit"] == 128
