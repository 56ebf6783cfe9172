"""Server extension that stops the candidate's processes before Docker's disk fills.

The notebooks folder and /var/lib/pairlab are Docker volumes with no size limit of
their own (Docker's local driver bounds only tmpfs volumes, which a restart
empties), so the candidate's code could fill the disk Docker keeps them on. Once a
second, this extension checks that disk's free space; below JUPYTER_DISK_FLOOR it
kills every process the candidate's kernels started, escaped ones included, and
says why in the log. The server restarts the kernels, which die again while the
disk stays that full: the user sees the kernel die, and the notebooks are kept. The
server's own writes (saves, uploads, copies) check the same floor in contents.py
and are refused below it, so deleting files is the way back.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tornado.ioloop import PeriodicCallback

FLOOR_VARIABLE = "JUPYTER_DISK_FLOOR"
DEFAULT_FLOOR = "2g"
WATCHED_FOLDER = Path("/home/pairlab/work")
CHECK_EVERY_MS = 1000
# One warning per this many seconds while the disk stays below the floor.
WARN_EVERY_SECONDS = 30.0
SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", re.IGNORECASE)
UNIT_BYTES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class FloorError(ValueError):
    """JUPYTER_DISK_FLOOR is not a size; the message says how to write one."""


def parse_floor(text: str) -> int:
    """Bytes for a Docker-style size such as 2g, 512m or 0 (0 turns the guard off)."""
    match = SIZE_PATTERN.match(text)
    if match is None:
        raise FloorError(
            f"{FLOOR_VARIABLE}={text!r} is not a size: write it as Docker does, "
            f"such as 2g or 512m (0 turns the disk guard off), in .env."
        )
    number, unit = match.groups()
    return int(float(number) * UNIT_BYTES[unit.lower()])


def configured_floor(environ: Mapping[str, str] = os.environ) -> int:
    """The floor in bytes that .env sets; a value that is no size raises FloorError."""
    return parse_floor(environ.get(FLOOR_VARIABLE) or DEFAULT_FLOOR)


def candidate_processes(*, server_pid: int, proc: Path = Path("/proc")) -> list[int]:
    """Every process in the container that the candidate's code may have started.

    That is all but the init (pid 1), the server, and processes with parent 0:
    those entered the container from outside (`docker exec`, the health check), so
    they are the operator's; the kernels' children, even those that left their
    process group, keep a parent inside the container. Zombies are left out.
    """
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in (1, server_pid):
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue  # gone meanwhile
        # A killed child of the server stays listed as a zombie until reaped; it
        # runs nothing, and signalling it again would only inflate the counts.
        if re.search(r"^State:\s*[ZX]", status, re.MULTILINE):
            continue
        parent = re.search(r"^PPid:\s*(\d+)", status, re.MULTILINE)
        if parent is not None and parent.group(1) != "0":
            found.append(int(entry.name))
    return sorted(found)


class DiskGuard:
    """Kills the candidate's processes whenever free space falls below the floor."""

    def __init__(
        self,
        *,
        floor_bytes: int,
        log: logging.Logger,
        free_bytes: Callable[[], int],
        processes: Callable[[], list[int]],
        kill: Callable[[int], None],
        clock: Callable[[], float],
    ) -> None:
        self.floor_bytes = floor_bytes
        self.log = log
        self.free_bytes = free_bytes
        self.processes = processes
        self.kill = kill
        self.clock = clock
        self.last_warning = float("-inf")

    def check(self) -> int:
        """Kill the candidate's processes if the disk is too full; return how many."""
        free = self.free_bytes()
        if free >= self.floor_bytes:
            return 0
        killed = 0
        for pid in self.processes():
            try:
                self.kill(pid)
                killed += 1
            except ProcessLookupError:
                pass
        if killed and self.clock() - self.last_warning >= WARN_EVERY_SECONDS:
            self.last_warning = self.clock()
            self.log.warning(
                "Stopped %d of the candidate's processes: Docker's disk has %d MiB "
                "free, less than %s; free disk space on this machine or lower "
                "%s in .env, then restart the kernel.",
                killed,
                free >> 20,
                f"{FLOOR_VARIABLE}={self.floor_bytes >> 20} MiB",
                FLOOR_VARIABLE,
            )
        return killed


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "pairlab_jupyter.diskguard"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    log = serverapp.log
    try:
        floor_bytes = configured_floor()
    except FloorError as error:
        log.error("%s Using %s=%s meanwhile.", error, FLOOR_VARIABLE, DEFAULT_FLOOR)
        floor_bytes = parse_floor(DEFAULT_FLOOR)
    if floor_bytes == 0:
        log.warning("The disk guard is off (%s=0).", FLOOR_VARIABLE)
        return
    server_pid = os.getpid()
    guard = DiskGuard(
        floor_bytes=floor_bytes,
        log=log,
        free_bytes=lambda: shutil.disk_usage(WATCHED_FOLDER).free,
        processes=lambda: candidate_processes(server_pid=server_pid),
        kill=lambda pid: os.kill(pid, signal.SIGKILL),
        clock=time.monotonic,
    )
    PeriodicCallback(guard.check, CHECK_EVERY_MS).start()
    log.info(
        "The disk guard stops the candidate's processes below %d MiB free on "
        "Docker's disk (%s).",
        floor_bytes >> 20,
        FLOOR_VARIABLE,
    )
