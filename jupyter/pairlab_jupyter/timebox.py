"""Server extension that ends the candidate's access on time, saving their work first.

From the deadline on, the identity provider refuses the candidate's token and
cookie; this extension also ends the websockets they already hold open, which no
later login check would ever see: first the collaboration rooms (so no edit
arrives after the save), then a save of every open document, then the kernels.
Closing sockets is not enough: code the candidate ran may have started processes
that outlive them (even detached ones, which can still write files or reach a
kernel directly over its ZMQ ports). So before the save every terminal is ended,
every process the server did not start itself is stopped, and every kernel is
restarted: nothing the candidate started keeps running or writes the notebook
after the deadline, and the interviewer gets fresh kernels (the notebooks keep
their outputs).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tornado.ioloop import PeriodicCallback

from pairlab_jupyter.diskguard import candidate_processes
from pairlab_jupyter.execlog import ExecutionLoggingConnection
from pairlab_jupyter.identity import AccessFileError, load_access

# 4000-4999 are application close codes; JupyterLab shows the reason and reconnects,
# and that reconnect is then refused by the login check.
TIME_UP_CLOSE_CODE = 4403
TIME_UP_REASON = "The interview time is over."
CHECK_EVERY_MS = 1000
# How long queued edits from a closed socket may take to reach the document.
DRAIN_SECONDS = 2.0
# Rounds of killing what is left: a process may fork between a listing and its kill.
STOP_ROUNDS = 20


def stop_processes(
    *,
    list_processes: Callable[[], list[int]],
    kill: Callable[[int], None],
    keep: set[int],
    rounds: int = STOP_ROUNDS,
) -> tuple[int, list[int]]:
    """Kill listed processes, but those kept, until none is left or the rounds run out.

    Returns how many were killed and which were still listed at the end.
    """
    killed: set[int] = set()
    for _ in range(rounds):
        left = [pid for pid in list_processes() if pid not in keep]
        if not left:
            return len(killed), []
        for pid in left:
            try:
                kill(pid)
            except ProcessLookupError:
                continue  # ended by itself meanwhile
            killed.add(pid)
    return len(killed), [pid for pid in list_processes() if pid not in keep]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "pairlab_jupyter.timebox"}]


class TimeKeeper:
    """Watches the clock and ends the candidates' access once, at the deadline."""

    def __init__(
        self, *, serverapp: Any, deadline: datetime, usernames: set[str]
    ) -> None:
        self.serverapp = serverapp
        self.deadline = deadline
        self.usernames = usernames
        self.ended = False
        self.log: logging.Logger = serverapp.log

    def check(self) -> None:
        if self.ended or datetime.now(UTC) < self.deadline:
            return
        self.ended = True
        task = asyncio.ensure_future(self.end_access())
        # Keep a reference, or the task may be garbage-collected mid-way.
        self._task = task

    def _collaboration_server(self) -> Any | None:
        manager = self.serverapp.extension_manager
        for apps in manager.extension_apps.values():
            for app in apps:
                server = getattr(app, "ywebsocket_server", None)
                if server is not None:
                    return server
        return None

    async def end_access(self) -> None:
        started = time.monotonic()
        collaboration = self._collaboration_server()
        rooms = list(collaboration.rooms.values()) if collaboration else []

        closed_rooms = []
        for room in rooms:
            for client in list(room.clients):
                user = getattr(client, "current_user", None)
                if getattr(user, "username", None) in self.usernames:
                    client.close(TIME_UP_CLOSE_CODE, TIME_UP_REASON)
                    closed_rooms.append(client)
        # Before the save: code left running could still write the notebook.
        stopping_started = time.monotonic()
        closed_terminals, ended_terminals = await self._end_terminals()
        killed, _ = self._sweep()
        # Kernel state (and code sent to a kernel over ZMQ) goes with a restart.
        restarted = await self._restart_kernels()
        # Anything that slipped in while the kernels restarted goes as well.
        killed_after, left = self._sweep()
        stopping_seconds = time.monotonic() - stopping_started
        await self._drain(closed_rooms)

        saved = 0
        for room in rooms:
            save = getattr(room, "_maybe_save_document", None)
            if save is None or not getattr(room, "ready", False):
                continue
            # Fix: jupyter-collaboration has no public "save now"; its own manual
            # save (the RAW "save" message) goes through this same method.
            try:
                await save(room._saving_document, save_now=True)
            except Exception:
                # Cutting the candidate off on time matters more than this save.
                self.log.exception("Could not save room %s at the deadline", room)
                continue
            saved += 1

        kernel_connections = ExecutionLoggingConnection.open_for(self.usernames)
        for connection in kernel_connections:
            connection.websocket_handler.close(TIME_UP_CLOSE_CODE, TIME_UP_REASON)

        self.log.info(
            "Ended %s's access at the time limit: saved %d documents, closed %d "
            "collaboration and %d kernel connections in %.1fs",
            " and ".join(sorted(self.usernames)),
            saved,
            len(closed_rooms),
            len(kernel_connections),
            time.monotonic() - started,
        )
        self.log.info(
            "Stopped the candidate's code at the time limit: closed %d terminal "
            "connections, ended %d terminals, stopped %d processes outside the "
            "kernels and restarted %d kernels, so the interviewer's kernels start "
            "empty, in %.1fs",
            closed_terminals,
            ended_terminals,
            killed + killed_after,
            restarted,
            stopping_seconds,
        )
        if left:
            self.log.warning(
                "Could not stop processes %s at the time limit; restart the stack "
                "with `docker compose restart jupyter` to be sure they are gone.",
                ", ".join(map(str, left)),
            )

    async def _end_terminals(self) -> tuple[int, int]:
        manager = self.serverapp.web_app.settings.get("terminal_manager")
        if manager is None:
            return 0, 0  # JUPYTER_TERMINALS is off

        closed = 0
        for terminal in list(manager.terminals.values()):
            for client in list(terminal.clients):
                user = getattr(client, "current_user", None)
                if getattr(user, "username", None) in self.usernames:
                    client.close(TIME_UP_CLOSE_CODE, TIME_UP_REASON)
                    closed += 1

        # Every terminal ends, the interviewer's too: all run as the same user, so
        # any of them may hold a command the candidate typed or left running.
        names = list(manager.terminals)
        for name in names:
            try:
                await manager.terminate(name, force=True)
            except Exception:
                self.log.exception("Could not end terminal %s at the deadline", name)
        return closed, len(names)

    def _sweep(self) -> tuple[int, list[int]]:
        # The kernels themselves stay: killing one would race the server's own
        # restarter; they are restarted through the kernel manager instead.
        server_pid = os.getpid()
        return stop_processes(
            list_processes=lambda: candidate_processes(server_pid=server_pid),
            kill=lambda pid: os.kill(pid, signal.SIGKILL),
            keep=self._kernel_pids(),
        )

    def _kernel_pids(self) -> set[int]:
        manager = self.serverapp.kernel_manager
        pids = set()
        for kernel_id in manager.list_kernel_ids():
            pid = getattr(manager.get_kernel(kernel_id).provisioner, "pid", None)
            if pid is not None:
                pids.add(pid)
        return pids

    async def _restart_kernels(self) -> int:
        manager = self.serverapp.kernel_manager
        restarted = 0
        for kernel_id in list(manager.list_kernel_ids()):
            try:
                await manager.restart_kernel(kernel_id, now=True)
            except Exception:
                self.log.exception(
                    "Could not restart kernel %s at the deadline", kernel_id
                )
                continue
            restarted += 1
        return restarted

    async def _drain(self, clients: list[Any]) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline and any(
            not client._message_queue.empty() for client in clients
        ):
            await asyncio.sleep(0.05)
        # One more turn of the loop lets the room apply the last message it took.
        await asyncio.sleep(0.1)


def _load_jupyter_server_extension(serverapp: Any) -> None:
    # Nothing to set up before the event loop runs; see the start hook below.
    return None


async def _start_jupyter_server_extension(serverapp: Any) -> None:
    access_file = Path(serverapp.identity_provider.access_file)
    try:
        access = load_access(access_file)
    except AccessFileError as error:
        serverapp.log.error("%s", error)
        return
    deadline = access.candidate_deadline
    if deadline is None:
        serverapp.log.info("The interview has no time limit (INTERVIEW_MINUTES=0)")
        return
    candidates = {p.username for p in access.people.values() if p.role == "candidate"}
    keeper = TimeKeeper(serverapp=serverapp, deadline=deadline, usernames=candidates)
    PeriodicCallback(keeper.check, CHECK_EVERY_MS).start()
    serverapp.log.info(
        "The candidate's access ends at %s UTC", deadline.strftime("%H:%M:%S")
    )
