"""The time box's lockout: nothing the candidate started keeps running past the end.

One stack with a one-minute time box and terminals on (module fixture): before the
deadline the candidate opens a terminal, starts a detached process from the kernel
and the interviewer leaves a variable in the shared kernel; each test then checks
what the deadline did to one of them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from support.jupyter import JupyterClient, Kernel
from support.stack import Stack, wait_until

INTERVIEW_MINUTES = 1
# Started as the red team did: its own session, so a kernel restart alone would not
# stop it. It stamps the time into the notebooks folder twice a second, for at most
# 150 seconds, so a failing test leaves nothing behind for long.
DETACHED = """
import subprocess, sys
loop = '''
import os, time
end = time.monotonic() + 150
while time.monotonic() < end:
    with open('/home/pairlab/work/heartbeat.txt', 'w') as stamp:
        stamp.write(repr(time.time()))
    time.sleep(0.5)
'''
child = subprocess.Popen([sys.executable, '-c', loop], start_new_session=True)
print(child.pid)
"""
STOPPED_LINE = re.compile(
    r"Stopped the candidate's code at the time limit: closed (\d+) terminal "
    r"connections, ended (\d+) terminals, stopped (\d+) processes outside the "
    r"kernels and restarted (\d+) kernels"
)


@dataclass(kw_only=True)
class Lockout:
    """What the candidate had running before the deadline and what was left after."""

    deadline: datetime
    terminal_answer: str
    terminal_close_code: int | None
    terminals_after: list[object]
    detached_pid: int
    detached_alive_after: bool
    last_heartbeat: datetime
    marker_before: str
    marker_after: str
    stopped_line: str


def open_terminal(client: JupyterClient) -> ClientConnection:
    created = client.http.post("/api/terminals")
    created.raise_for_status()
    url = client.base_url.replace("http", "ws", 1)
    return connect(
        f"{url}/terminals/websocket/{created.json()['name']}",
        additional_headers={"Authorization": f"token {client.token}"},
        open_timeout=30,
    )


def terminal_output_until(terminal: ClientConnection, text: str) -> str:
    """What the terminal printed, read until text shows up in it."""
    printed = ""
    deadline = time.monotonic() + 30
    while text not in printed:
        kind, *data = json.loads(terminal.recv(timeout=deadline - time.monotonic()))
        if kind == "stdout":
            printed += data[0]
    return printed


def close_code(terminal: ClientConnection, *, timeout: float) -> int | None:
    """The close code the server ends this terminal socket with, read to the end."""
    deadline = time.monotonic() + timeout
    try:
        while True:
            terminal.recv(timeout=max(0.1, deadline - time.monotonic()))
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006
    except TimeoutError:
        return None


def process_alive(stack: Stack, pid: int) -> bool:
    # A zombie is listed until it is reaped, but runs nothing.
    status = stack.exec("jupyter", "cat", f"/proc/{pid}/status")
    return status.returncode == 0 and "State:\tZ" not in status.stdout


@pytest.fixture(scope="module")
def lockout(
    built_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lockout]:
    stack = Stack(
        tmp_path_factory.mktemp("lockout"),
        settings={
            "INTERVIEW_MINUTES": str(INTERVIEW_MINUTES),
            "JUPYTER_TERMINALS": "true",
        },
    )
    with stack.running():
        links = stack.links()
        deadline = stack.deadline()
        candidate = JupyterClient(links.base_url, links.candidate_token)
        interviewer = JupyterClient(links.base_url, links.interviewer_token)
        kernel = candidate.start_kernel()
        shared = Kernel(interviewer, kernel.kernel_id)

        terminal = open_terminal(candidate)
        terminal.send(json.dumps(["stdin", "echo answer-$((6 * 7))\r"]))
        terminal_answer = terminal_output_until(terminal, "answer-42")
        detached_pid = int(kernel.run(DETACHED).stdout)
        marker_before = shared.run("marker = 42\nprint(marker)").stdout.strip()
        shared.close()
        before_deadline = (deadline - datetime.now(UTC)).total_seconds()
        assert before_deadline > 5, f"the stack took too long to start: {deadline}"

        terminal_close_code = close_code(terminal, timeout=before_deadline + 30)
        stopped_line = wait_until(
            lambda: STOPPED_LINE.search(stack.logs("jupyter")),
            timeout=60,
            what="the time box's line about stopping the candidate's code",
        ).group(0)
        wait_until(
            lambda: not process_alive(stack, detached_pid),
            timeout=30,
            what="the detached process to be gone",
        )
        heartbeat = interviewer.get("/api/contents/heartbeat.txt").json()["content"]
        after = Kernel(interviewer, kernel.kernel_id)
        marker_after = after.run("print('marker' in globals())").stdout.strip()
        after.close()
        played = Lockout(
            deadline=deadline,
            terminal_answer=terminal_answer,
            terminal_close_code=terminal_close_code,
            terminals_after=interviewer.get("/api/terminals").json(),
            detached_pid=detached_pid,
            detached_alive_after=process_alive(stack, detached_pid),
            last_heartbeat=datetime.fromtimestamp(float(heartbeat), UTC),
            marker_before=marker_before,
            marker_after=marker_after,
            stopped_line=stopped_line,
        )
        candidate.close()
        interviewer.close()
        yield played


def test_before_the_deadline_the_candidates_terminal_and_code_ran(
    lockout: Lockout,
) -> None:
    assert "answer-42" in lockout.terminal_answer, lockout.terminal_answer
    assert lockout.detached_pid > 1
    assert lockout.marker_before == "42"


def test_at_the_deadline_the_candidates_terminal_socket_is_closed_with_the_reason(
    lockout: Lockout,
) -> None:
    assert lockout.terminal_close_code == 4403


def test_at_the_deadline_every_terminal_is_ended(lockout: Lockout) -> None:
    assert lockout.terminals_after == []


def test_a_detached_process_the_candidate_started_stops_at_the_deadline(
    lockout: Lockout,
) -> None:
    # The time box checks once a second; ending terminals and sockets comes first.
    latest = lockout.deadline + timedelta(seconds=15)

    assert not lockout.detached_alive_after
    assert lockout.last_heartbeat <= latest, (
        f"expected no heartbeat after {latest:%H:%M:%S}, "
        f"got one at {lockout.last_heartbeat:%H:%M:%S}"
    )


def test_the_kernels_restart_at_the_deadline_so_no_state_from_before_survives(
    lockout: Lockout,
) -> None:
    assert lockout.marker_after == "False"


def test_the_log_says_what_the_time_box_stopped(lockout: Lockout) -> None:
    closed, ended, stopped, restarted = map(
        int, STOPPED_LINE.search(lockout.stopped_line).groups()
    )

    assert (closed, ended, restarted) == (1, 1, 1), lockout.stopped_line
    assert stopped >= 1, lockout.stopped_line
