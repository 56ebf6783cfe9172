"""Server extension that ends the candidate's access on time, saving their work first.

From the deadline on, the identity provider refuses the candidate's token and
cookie; this extension also ends the websockets they already hold open, which no
later login check would ever see: first the collaboration rooms (so no edit
arrives after the save), then a save of every open document, then the kernels.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tornado.ioloop import PeriodicCallback

from pairlab_jupyter.execlog import ExecutionLoggingConnection
from pairlab_jupyter.identity import AccessFileError, load_access

# 4000-4999 are application close codes; JupyterLab shows the reason and reconnects,
# and that reconnect is then refused by the login check.
TIME_UP_CLOSE_CODE = 4403
TIME_UP_REASON = "The interview time is over."
CHECK_EVERY_MS = 1000
# How long queued edits from a closed socket may take to reach the document.
DRAIN_SECONDS = 2.0


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
