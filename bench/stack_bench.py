"""Benchmark: seconds from `docker compose up -d` to the link line, beside a bare
JupyterLab container's start-up, and the size of each image.

Run with a Docker engine, from the repository root:

    .venv/bin/python bench/stack_bench.py

Set PYTHON_IMAGE first if this machine cannot pull python:3.13-slim.
Images are built first and not timed. The stack runs with the test suite's fake
ngrok agent, since the tunnel to ngrok's cloud is outside this machine's control.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.stack import Stack, free_port, wait_until  # noqa: E402

IMAGES = ("pairlab/datagen:local", "pairlab/jupyter:local", "pairlab/fake-ngrok:test")


def time_stack_to_link(workdir: Path) -> float:
    stack = Stack(workdir)
    stack.write_env_file()
    try:
        started = time.perf_counter()
        stack.up()
        stack.links(timeout=180)
        return time.perf_counter() - started
    finally:
        stack.down()


def time_bare_jupyterlab() -> float:
    """Start the same image as plain `jupyter lab`, no pairlab start-up, until /api."""
    port = free_port()
    started = time.perf_counter()
    container = subprocess.run(
        [
            "docker",
            "run",
            "--detach",
            "--rm",
            "--publish",
            f"127.0.0.1:{port}:8888",
            "--entrypoint",
            "jupyter",
            "--env",
            "JUPYTER_CONFIG_DIR=/tmp/no-config",
            "pairlab/jupyter:local",
            "lab",
            "--ip=0.0.0.0",
            "--port=8888",
            "--no-browser",
            "--ServerApp.token=bench",
            "--ServerApp.root_dir=/tmp",
            "--JupyterApp.config_file_name=none",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:

        def answers() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2):
                return True

        wait_until(answers, timeout=120, interval=0.1, what="bare JupyterLab")
        return time.perf_counter() - started
    finally:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True)


def image_size_mb(image: str) -> float:
    size = subprocess.run(
        ["docker", "image", "inspect", image, "--format", "{{.Size}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return int(size) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each (default 3)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        builder = Stack(Path(scratch))
        builder.write_env_file()
        builder.compose("build", timeout=1800)
        stack_times = [time_stack_to_link(Path(scratch)) for _ in range(args.runs)]
    bare_times = [time_bare_jupyterlab() for _ in range(args.runs)]

    stack_median = statistics.median(stack_times)
    bare_median = statistics.median(bare_times)
    print(f"runs: {args.runs} of each, images already built")
    print(
        f"up -d to link line : median {stack_median:5.1f} s "
        f"(runs: {', '.join(f'{t:.1f}' for t in stack_times)})"
    )
    print(
        f"bare JupyterLab    : median {bare_median:5.1f} s "
        f"(runs: {', '.join(f'{t:.1f}' for t in bare_times)})"
    )
    print(f"ratio              : {stack_median / bare_median:.1f}x the bare start-up")
    for image in IMAGES:
        print(f"image {image:26}: {image_size_mb(image):7.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
