"""Server extension that writes every open shared document to disk when Jupyter stops.

jupyter-collaboration keeps each document twice: in the file, saved one second after
the last edit, and in an update store that writes each edit behind a queue of
commits. When the server stops it cancels both pending writes, so after a restart the
two disagree; the room then rebuilds the document from the file on top of the
store's history. An older file deletes the newest edits from every connected copy;
an older store makes reconnecting browsers duplicate them. Writing the whole state
to the store and the same content to the file on the way down keeps them equal, so
the room reloads its own history and every reconnecting copy merges cleanly.
"""

from __future__ import annotations

import time
from typing import Any

from jupyter_server.extension.application import ExtensionApp
from jupyter_server.utils import ensure_async
from jupyter_ydoc import ydocs
from pycrdt import Doc

# Rooms are named "<format>:<type>:<file id>"; other rooms (awareness) hold no file.
ROOM_ID_PARTS = 3


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "pairlab_jupyter.savestop", "app": SaveOnStop}]


def document_kind(room_id: str) -> tuple[str, str, str] | None:
    """The format, type and file id a document room is named after, else None."""
    parts = room_id.split(":", ROOM_ID_PARTS - 1)
    if len(parts) != ROOM_ID_PARTS or parts[1] not in ydocs:
        return None
    file_format, file_type, file_id = parts
    return file_format, file_type, file_id


async def store_state(ystore: Any, update: bytes) -> None:
    """Append a whole document state to the room's update store.

    It opens a connection of its own: the room's closes while the server stops.
    """
    own = type(ystore)(path=ystore.path, log=ystore.log)
    if hasattr(ystore, "db_path"):
        own.db_path = ystore.db_path
    async with own:
        await own.write(update)


class SaveOnStop(ExtensionApp):
    """At shutdown, stores every shared document whole and saves it to its file."""

    name = "pairlab_savestop"
    load_other_extensions = True

    def _collaboration_rooms(self) -> dict[str, Any]:
        for apps in self.serverapp.extension_manager.extension_apps.values():
            for app in apps:
                server = getattr(app, "ywebsocket_server", None)
                if server is not None:
                    return dict(server.rooms)
        return {}

    async def stop_extension(self) -> None:
        started = time.monotonic()
        # Take the rooms before the collaboration extension's own shutdown empties
        # them; the documents stay readable in memory after their rooms stop.
        rooms = self._collaboration_rooms()
        file_ids = self.serverapp.web_app.settings["file_id_manager"]
        contents = self.serverapp.contents_manager

        saved = unchanged = 0
        for room_id, room in rooms.items():
            kind = document_kind(room_id)
            # A room still loading holds an empty document; saving it wipes the file.
            if kind is None or not getattr(room, "ready", False):
                continue
            file_format, file_type, file_id = kind
            path = file_ids.get_path(file_id)
            if path is None:
                continue
            update = room.ydoc.get_update()
            copy = Doc()
            copy.apply_update(update)
            content = ydocs[file_type](copy).get()

            if room.ystore is not None:
                await store_state(room.ystore, update)
            on_disk = await ensure_async(
                contents.get(path, type=file_type, format=file_format, content=True)
            )
            if on_disk["content"] == content:
                unchanged += 1
                continue
            model = {"type": file_type, "format": file_format, "content": content}
            await ensure_async(contents.save(model, path))
            saved += 1

        self.log.info(
            "Saved %d shared documents at shutdown (%d already on disk) in %.2fs",
            saved,
            unchanged,
            time.monotonic() - started,
        )
