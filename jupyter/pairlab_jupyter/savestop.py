"""Server extension that writes every open shared document down before Jupyter stops.

jupyter-collaboration keeps each document twice: in the file, saved one second after
the last edit, and in an update store that commits edits one by one behind a queue.
When the server stops it cancels both pending writes, so after a restart the two
disagree and the room rebuilds the document from the file on top of the store's
history: an older file deletes the newest edits from every connected copy, an older
store makes reconnecting browsers show them twice. Here, before any extension shuts
down, each open document's sockets are closed, then the document is saved to its
file and appended whole to its store, after the store's queue, so the next start
finds both equal and reloads its own history.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from jupyter_server.utils import ensure_async
from jupyter_ydoc import ydocs
from pycrdt import Doc

# Rooms are named "<format>:<type>:<file id>"; other rooms (awareness) hold no file.
ROOM_ID_PARTS = 3
# Docker kills the server 10 s after SIGTERM; the store's queue must drain before.
STORE_TIMEOUT_SECONDS = 7.0
POLL_SECONDS = 0.02
# The websocket close code for "going away": JupyterLab reconnects after it.
GOING_AWAY = 1001


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "pairlab_jupyter.savestop"}]


def document_kind(room_id: str) -> tuple[str, str, str] | None:
    """The format, type and file id a document room is named after, else None."""
    parts = room_id.split(":", ROOM_ID_PARTS - 1)
    if len(parts) != ROOM_ID_PARTS or parts[1] not in ydocs:
        return None
    file_format, file_type, file_id = parts
    return file_format, file_type, file_id


def collaboration_rooms(serverapp: Any) -> dict[str, Any]:
    for apps in serverapp.extension_manager.extension_apps.values():
        for app in apps:
            server = getattr(app, "ywebsocket_server", None)
            if server is not None:
                return dict(server.rooms)
    return {}


async def write_down(serverapp: Any, *, deadline: float) -> tuple[int, int, int]:
    """Save and store every ready document room; return (saved, unchanged, failed)."""
    file_ids = serverapp.web_app.settings["file_id_manager"]
    contents = serverapp.contents_manager
    saved = unchanged = failed = 0
    for room_id, room in collaboration_rooms(serverapp).items():
        kind = document_kind(room_id)
        # A room still loading holds an empty document; saving it wipes the file.
        if kind is None or not getattr(room, "ready", False):
            continue
        file_format, file_type, file_id = kind
        path = file_ids.get_path(file_id)
        if path is None:
            continue
        # Nobody may type into the document while it is written down: close the
        # sockets (browsers keep their edits and resend them after the restart) and
        # wait until the room has applied what each sent before it left.
        for client in list(room.clients):
            client.close(GOING_AWAY, "The server is restarting.")
        while room.clients and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS)
        update = room.ydoc.get_update()
        copy = Doc()
        copy.apply_update(update)
        content = ydocs[file_type](copy).get()

        # The file first: if the store then fails, a restart shows the newest edits
        # twice rather than losing them.
        on_disk = await ensure_async(
            contents.get(path, type=file_type, format=file_format, content=True)
        )
        if on_disk["content"] == content:
            unchanged += 1
        else:
            model = {"type": file_type, "format": file_format, "content": content}
            await ensure_async(contents.save(model, path))
            saved += 1
        if room.ystore is None:
            continue
        # The store's own connection, still open: this write waits in its queue
        # behind the edits not yet committed, so once it returns all of them are in.
        try:
            await asyncio.wait_for(
                room.ystore.write(update), max(0.1, deadline - time.monotonic())
            )
        except (TimeoutError, RuntimeError) as error:
            serverapp.log.error(
                "Could not store %s whole before stopping (%r): after the restart "
                "its newest edits may show twice; reloading the page clears them",
                path,
                error,
            )
            failed += 1
    return saved, unchanged, failed


def _load_jupyter_server_extension(serverapp: Any) -> None:
    cleanup: Callable[[], Awaitable[None]] = serverapp._cleanup

    async def write_down_then_clean_up() -> None:
        started = time.monotonic()
        try:
            saved, unchanged, failed = await write_down(
                serverapp, deadline=started + STORE_TIMEOUT_SECONDS
            )
            serverapp.log.info(
                "Wrote down shared documents before stopping: saved %d, %d already "
                "on disk, %d not stored, in %.2fs",
                saved,
                unchanged,
                failed,
                time.monotonic() - started,
            )
        finally:
            await cleanup()

    # Fix: jupyter_server has no hook that runs before extensions stop, and the
    # collaboration extension stops its rooms and stores concurrently with every
    # other extension's stop hook; wrapping the server's cleanup runs this first.
    serverapp._cleanup = write_down_then_clean_up
