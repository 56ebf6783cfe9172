"""pairlab_jupyter.diskguard: the free-space floor that bounds what kernels write."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from pairlab_jupyter.diskguard import (
    DiskGuard,
    FloorError,
    candidate_processes,
    parse_floor,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2g", 2 << 30),
        ("512m", 512 << 20),
        ("1.5G", 3 << 29),
        ("64kb", 64 << 10),
        ("0", 0),
        (" 3 ", 3),
    ],
)
def test_a_floor_is_read_as_docker_writes_sizes(text: str, expected: int) -> None:
    assert parse_floor(text) == expected


@pytest.mark.parametrize("text", ["", "two gigs", "-1g", "2x", "g"])
def test_a_floor_that_is_no_size_is_one_sentence_naming_the_setting(
    text: str,
) -> None:
    with pytest.raises(FloorError) as raised:
        parse_floor(text)

    assert str(raised.value).startswith("JUPYTER_DISK_FLOOR=")
    assert str(raised.value).endswith("in .env.")


def fake_proc(
    root: Path, parents: dict[int, int], *, zombies: frozenset[int] = frozenset()
) -> Path:
    for pid, parent in parents.items():
        state = "Z (zombie)" if pid in zombies else "S (sleeping)"
        (root / str(pid)).mkdir()
        (root / str(pid) / "status").write_text(
            f"Name:\tx\nState:\t{state}\nPid:\t{pid}\nPPid:\t{parent}\n"
        )
    (root / "self").mkdir()
    (root / "meminfo").write_text("MemTotal: 1 kB\n")
    return root


def test_the_candidates_processes_are_all_but_init_server_and_docker_exec(
    tmp_path: Path,
) -> None:
    # 1 init, 7 server, 20 kernel, 21 its child, 30 an escapee now under init,
    # 40 a health check and 41 an interviewer's `docker exec` (parent 0).
    proc = fake_proc(tmp_path, {1: 0, 7: 1, 20: 7, 21: 20, 30: 1, 40: 0, 41: 0})

    found = candidate_processes(server_pid=7, proc=proc)

    assert found == [20, 21, 30]


def test_a_killed_process_the_server_has_not_reaped_yet_is_not_listed(
    tmp_path: Path,
) -> None:
    # 22 was a terminal's shell, killed; it stays a zombie until the server reaps it.
    proc = fake_proc(tmp_path, {1: 0, 7: 1, 20: 7, 22: 7}, zombies=frozenset({22}))

    found = candidate_processes(server_pid=7, proc=proc)

    assert found == [20]


class Recorder:
    def __init__(self, free: int, pids: list[int]) -> None:
        self.free = free
        self.pids = pids
        self.killed: list[int] = []
        self.now = 0.0

    def guard(self, *, floor_bytes: int) -> DiskGuard:
        return DiskGuard(
            floor_bytes=floor_bytes,
            log=logging.getLogger("test.diskguard"),
            free_bytes=lambda: self.free,
            processes=lambda: list(self.pids),
            kill=self.killed.append,
            clock=lambda: self.now,
        )


def test_above_the_floor_the_guard_kills_nothing() -> None:
    recorder = Recorder(free=3 << 30, pids=[20, 21])

    killed = recorder.guard(floor_bytes=2 << 30).check()

    assert (killed, recorder.killed) == (0, [])


def test_below_the_floor_the_guard_kills_every_candidate_process_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = Recorder(free=1 << 30, pids=[20, 21, 30])
    guard = recorder.guard(floor_bytes=2 << 30)

    with caplog.at_level(logging.WARNING, logger="test.diskguard"):
        first = guard.check()
        recorder.now += 1
        second = guard.check()

    assert (first, second) == (3, 3)
    assert recorder.killed == [20, 21, 30, 20, 21, 30]
    [warning] = caplog.messages
    assert "1024 MiB free" in warning
    assert "JUPYTER_DISK_FLOOR=2048 MiB" in warning
    assert warning.endswith("then restart the kernel.")


def test_a_process_that_is_already_gone_is_not_counted() -> None:
    recorder = Recorder(free=0, pids=[20, 21])

    def kill(pid: int) -> None:
        if pid == 21:
            raise ProcessLookupError(pid)
        recorder.killed.append(pid)

    guard = recorder.guard(floor_bytes=1)
    guard.kill = kill

    assert guard.check() == 1
    assert recorder.killed == [20]
