#!/usr/bin/env python3
# Benchmark for live co-editing: how long one person's keystroke takes to reach the
# other's copy, through the tunnel and directly. Run: python bench/collab_bench.py
"""Prints edit propagation latency through the tunnel fake and direct, idle and loaded.

One run brings up a throwaway stack (the fake ngrok swapped in, as in the tests),
then measures three routes side by side, each over the same number of edits:

- tunnel: both peers on the host, through the fake ngrok's port published on
  127.0.0.1 (so also through Docker's port forwarding), as the tests reach it;
- edge: both peers in a container on the outbound network, to the fake ngrok's
  forwarding port: the tunnel fake's own cost, without Docker's port forwarding;
- direct: both peers in a container on the stack's internal network, straight to
  jupyter:8888 (the same code, run from the jupyter image);
and all three again while the shared kernel runs a polars group-by on every CPU the
jupyter container may use.

An edit is one character typed into a cell by the candidate's peer; its latency is
the time until the interviewer's peer, in the same process, holds it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from support.collab import NotebookPeer, cell, until  # noqa: E402

log = logging.getLogger("collab_bench")

CANDIDATE_TOKEN_VARIABLE = "PAIRLAB_BENCH_CANDIDATE_TOKEN"
INTERVIEWER_TOKEN_VARIABLE = "PAIRLAB_BENCH_INTERVIEWER_TOKEN"
WARM_UP_EDITS = 50
# The targets.
IDLE_TUNNEL_P95_MS = 5.0
TUNNEL_OVER_DIRECT = 2.0
BUSY_TUNNEL_P95_MS = 50.0
# The load: a group-by over a few million rows, over and over, on every thread
# polars has (start.py sizes its pool to the container's CPUs). Bounded in time.
LOAD_CODE = """
import time
import numpy as np
import polars as pl
rows = 4_000_000
frame = pl.DataFrame({
    "key": np.random.default_rng(1).integers(0, 200_000, rows),
    "value": np.random.default_rng(2).random(rows),
})
deadline = time.monotonic() + {seconds}
passes = 0
while time.monotonic() < deadline:
    frame.group_by("key").agg(
        pl.col("value").sum().alias("total"), pl.col("value").std().alias("spread")
    )
    passes += 1
print(passes, pl.thread_pool_size())
"""


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max in milliseconds, by nearest rank."""
    ordered = sorted(values)

    def rank(percent: float) -> float:
        index = round(percent / 100 * len(ordered)) - 1
        return ordered[max(0, min(len(ordered) - 1, index))] * 1000

    return {
        "p50": rank(50),
        "p95": rank(95),
        "p99": rank(99),
        "max": ordered[-1] * 1000,
    }


async def measure(base_url: str, *, edits: int, path: str) -> dict[str, float]:
    """Type `edits` characters as the candidate; time each until the other has it."""
    candidate = NotebookPeer(base_url, os.environ[CANDIDATE_TOKEN_VARIABLE], path)
    interviewer = NotebookPeer(base_url, os.environ[INTERVIEWER_TOKEN_VARIABLE], path)
    await candidate.join()
    await interviewer.join()
    cell_id = f"bench-{uuid.uuid4().hex[:8]}"
    candidate.notebook.ycells.append(candidate.notebook.create_ycell(cell(cell_id, "")))
    await until(
        lambda: cell_id in interviewer.sources(), timeout=30, what="the bench cell"
    )
    typed = candidate.notebook.ycells[candidate.cell_ids().index(cell_id)]["source"]
    seen = interviewer.notebook.ycells[interviewer.cell_ids().index(cell_id)]["source"]

    arrived = asyncio.Event()
    wanted = {"length": 0}

    def on_change(_: object) -> None:
        if len(seen) >= wanted["length"]:
            arrived.set()

    subscription = seen.observe(on_change)
    latencies = []
    for number in range(WARM_UP_EDITS + edits):
        arrived.clear()
        wanted["length"] = len(typed) + 1
        started = time.perf_counter()
        typed += "x"
        await asyncio.wait_for(arrived.wait(), timeout=30)
        if number >= WARM_UP_EDITS:
            latencies.append(time.perf_counter() - started)
    seen.unobserve(subscription)
    await candidate.leave()
    await interviewer.leave()
    return {"edits": len(latencies), **percentiles(latencies)}


# Where the in-container peers connect: straight to jupyter on the internal network,
# or to the fake ngrok's forwarding port on the outbound network.
INSIDE_ROUTES = {
    "direct": ("interview", "http://jupyter:8888"),
    "edge": ("outbound", "http://ngrok:8080"),
}


def measure_inside(
    project: str, tokens: dict[str, str], *, route: str, edits: int
) -> dict:
    """Run `measure` in a container of the jupyter image on one of the networks."""
    network, url = INSIDE_ROUTES[route]
    environment = {**os.environ, **tokens}
    command = [
        "docker",
        "run",
        "--rm",
        "--network",
        f"{project}_{network}",
        "--label",
        f"com.docker.compose.project={project}",
        "--env",
        CANDIDATE_TOKEN_VARIABLE,
        "--env",
        INTERVIEWER_TOKEN_VARIABLE,
        "--env",
        "PYTHONPATH=/opt/bench/tests",
        "--volume",
        f"{REPO / 'tests' / 'support'}:/opt/bench/tests/support:ro",
        "--volume",
        f"{REPO / 'bench'}:/opt/bench/bench:ro",
        "--entrypoint",
        "python",
        "pairlab/jupyter:local",
        "/opt/bench/bench/collab_bench.py",
        "measure",
        "--url",
        url,
        "--edits",
        str(edits),
    ]
    result = subprocess.run(
        command, env=environment, capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        raise RuntimeError(f"the {route} client failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def jupyter_container(project: str, *docker_args: str) -> str:
    """What a docker command prints about the stack's jupyter container."""
    return subprocess.run(
        ["docker", *docker_args, f"{project}-jupyter-1"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def container_cpu_percent(project: str) -> float:
    """The jupyter container's CPU use as `docker stats` sees it, in % of one CPU."""
    shown = jupyter_container(
        project, "stats", "--no-stream", "--format", "{{.CPUPerc}}"
    )
    return float(shown.rstrip("%") or 0)


class KernelLoad:
    """A polars group-by loop in the shared kernel, for a bounded time."""

    def __init__(self, base_url: str, token: str, *, seconds: int) -> None:
        from support.jupyter import JupyterClient

        self.client = JupyterClient(base_url, token)
        self.kernel = self.client.start_kernel()
        self.seconds = seconds
        self.result: str = ""
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        execution = self.kernel.run(
            LOAD_CODE.replace("{seconds}", str(self.seconds)),
            timeout=self.seconds + 120,
        )
        # Interrupted once the measurements are done, it prints nothing.
        self.result = execution.stdout.strip() or "interrupted when done"
        if execution.error and "KeyboardInterrupt" not in execution.error:
            log.error("the kernel load failed: %s", execution.error)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> str:
        self.client.http.post(f"/api/kernels/{self.kernel.kernel_id}/interrupt")
        self.thread.join(timeout=60)
        self.kernel.shutdown()
        self.client.close()
        return self.result


def scratch_notebook(base_url: str, token: str) -> str:
    """An empty notebook of the benchmark's own (httpx only: it runs in the image)."""
    path = f"bench-{uuid.uuid4().hex[:8]}.ipynb"
    empty = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    httpx.put(
        f"{base_url}/api/contents/{path}",
        headers={"Authorization": f"token {token}"},
        json={"type": "notebook", "format": "json", "content": empty},
        timeout=30,
    ).raise_for_status()
    return path


def row(scenario: str, route: str, figures: dict[str, float]) -> str:
    return (
        f"{scenario:<12} {route:<7} {int(figures['edits']):>6} "
        f"{figures['p50']:>8.2f} {figures['p95']:>8.2f} {figures['p99']:>8.2f} "
        f"{figures['max']:>8.2f}"
    )


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def measure_all(
    figures: dict[str, dict[str, float]],
    scenario: str,
    project: str,
    tokens: dict[str, str],
    base_url: str,
    path: str,
    edits: int,
) -> None:
    """The same edits through the tunnel from the host, and from inside Docker."""
    figures[f"{scenario} tunnel"] = asyncio.run(
        measure(base_url, edits=edits, path=path)
    )
    for route in INSIDE_ROUTES:
        figures[f"{scenario} {route}"] = measure_inside(
            project, tokens, route=route, edits=edits
        )
    log.info("measured %d edits on each of 3 routes (%s)", edits, scenario)


def run(*, edits: int, load_seconds: int, jupyter_cpus: str | None) -> int:
    from support.stack import Stack

    settings = {"JUPYTER_CPUS": jupyter_cpus} if jupyter_cpus else {}
    workdir = Path(tempfile.mkdtemp(prefix="collab-bench-"))
    stack = Stack(workdir, settings=settings)
    started = time.monotonic()
    figures: dict[str, dict[str, float]] = {}
    # Other work on the machine shows in the tails: say how busy it was.
    load_before = os.getloadavg()[0]
    try:
        stack.up()
        links = stack.links()
        log.info("started stack %s in %.0fs", stack.project, time.monotonic() - started)
        tokens = {
            CANDIDATE_TOKEN_VARIABLE: links.candidate_token,
            INTERVIEWER_TOKEN_VARIABLE: links.interviewer_token,
        }
        os.environ.update(tokens)
        path = scratch_notebook(links.base_url, links.interviewer_token)

        measure_all(figures, "idle", stack.project, tokens, links.base_url, path, edits)

        load = KernelLoad(links.base_url, links.candidate_token, seconds=load_seconds)
        load.start()
        try:
            cpu = wait_for_load(stack.project)
            measure_all(
                figures, "busy", stack.project, tokens, links.base_url, path, edits
            )
            cpu = max(cpu, container_cpu_percent(stack.project))
        finally:
            passes = load.stop()
        log.info(
            "measured %d edits each way with the kernel busy (its group-by loop: "
            "%s; jupyter container at up to %.0f%% CPU)",
            edits,
            passes,
            cpu,
        )
    finally:
        stack.down()
        log.info("removed stack %s", stack.project)

    report(figures, jupyter_cpus=jupyter_cpus or "default", busy_cpu=cpu)
    print(
        "host load average (1 min) at start and end: "
        f"{load_before:.1f} and {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    return 0


def container_cpus(project: str) -> float:
    """How many CPUs the jupyter container may use, from its Docker quota."""
    nano = jupyter_container(project, "inspect", "--format", "{{.HostConfig.NanoCpus}}")
    return int(nano or 0) / 1e9 or float(os.cpu_count() or 1)


def wait_for_load(project: str, *, timeout: float = 60) -> float:
    """Wait until the kernel keeps the container's CPUs busy; return the CPU %."""
    # docker stats samples for about two seconds, so this loop paces itself.
    busy = 75 * container_cpus(project)
    deadline = time.monotonic() + timeout
    seen = 0.0
    while time.monotonic() < deadline:
        seen = container_cpu_percent(project)
        if seen >= busy:
            return seen
    log.warning("the kernel load reached only %.0f%% CPU", seen)
    return seen


def report(
    figures: dict[str, dict[str, float]], *, jupyter_cpus: str, busy_cpu: float
) -> None:
    print(f"JUPYTER_CPUS={jupyter_cpus}; latency in ms from one peer to the other")
    print(
        f"{'scenario':<12} {'route':<7} {'edits':>6} {'p50':>8} {'p95':>8} "
        f"{'p99':>8} {'max':>8}"
    )
    for name, values in figures.items():
        scenario, route = name.split()
        print(row(scenario, route, values))
    for scenario in ("idle", "busy"):
        direct = figures[f"{scenario} direct"]
        for route in ("tunnel", "edge"):
            over = figures[f"{scenario} {route}"]
            print(
                f"{scenario} {route}/direct: p50 x{over['p50'] / direct['p50']:.2f}, "
                f"p95 x{over['p95'] / direct['p95']:.2f}, "
                f"p99 x{over['p99'] / direct['p99']:.2f}"
            )
    direct = figures["idle direct"]
    for route in ("tunnel", "edge"):
        idle, busy = figures[f"idle {route}"], figures[f"busy {route}"]
        ratio = idle["p95"] / direct["p95"]
        print(
            f"target idle {route} p95 < {IDLE_TUNNEL_P95_MS} ms: "
            f"{verdict(idle['p95'] < IDLE_TUNNEL_P95_MS)} ({idle['p95']:.2f} ms)"
        )
        print(
            f"target idle {route} p95 <= {TUNNEL_OVER_DIRECT}x direct: "
            f"{verdict(ratio <= TUNNEL_OVER_DIRECT)} (x{ratio:.2f})"
        )
        print(
            f"target busy {route} p95 < {BUSY_TUNNEL_P95_MS} ms: "
            f"{verdict(busy['p95'] < BUSY_TUNNEL_P95_MS)} ({busy['p95']:.2f} ms, "
            f"jupyter container at up to {busy_cpu:.0f}% CPU)"
        )


def main(argv: list[str]) -> int:
    logging.basicConfig(
        level=logging.INFO,
        format="%(levelname)s[%(asctime)s] %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    # One line per HTTP request would bury the figures.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--edits", type=int, default=1000, help="edits per figure")
    parser.add_argument(
        "--load-seconds",
        type=int,
        default=240,
        help="longest the kernel load may run; it is interrupted when done",
    )
    parser.add_argument(
        "--jupyter-cpus", help="JUPYTER_CPUS for the stack (default: .env.example's)"
    )
    inner = sub.add_parser("measure", help="one measurement against --url (internal)")
    inner.add_argument("--url", required=True)
    inner.add_argument("--edits", type=int, default=1000)
    args = parser.parse_args(argv)

    if args.command == "measure":
        path = scratch_notebook(args.url, os.environ[INTERVIEWER_TOKEN_VARIABLE])
        figures = asyncio.run(measure(args.url, edits=args.edits, path=path))
        print(json.dumps(figures))
        return 0
    if args.edits < 1:
        parser.error("--edits must be at least 1")
    return run(
        edits=args.edits,
        load_seconds=args.load_seconds,
        jupyter_cpus=args.jupyter_cpus,
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
