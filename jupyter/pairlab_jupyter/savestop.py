"""Server extension that writes every open shared document to disk when Jupyter stops.

jupyter-collaboration saves a document one second after its last edit and cancels
that pending save when the server stops. On the next start the room finds the file
older than its update store, trusts the file, and deletes the newer edits from every
connected copy: `docker compose restart jupyter` within a second of a keystroke
lost it for both people. Saving on the way down keeps file and store equal, so the
room reloads its own history and reconnecting browsers merge without duplicates.
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


def snapshot(room_id: str, ydoc: Doc) -> tuple[str, str, Any] | None:
    """The format, type and content a document room holds right now."""
    parts = room_id.split(":", ROOM_ID_PARTS - 1)
    if len(parts) != ROOM_ID_PARTS or parts[1] not in ydocs:
        return None
    file_format, file_type, _ = parts
    copy = Doc()
    copy.apply_update(ydoc.get_update())
    return file_format, file_type, ydocs[file_type](copy).get()


class SaveOnStop(ExtensionApp):
    """Saves the shared documents that differ from their files, at shutdown."""

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
            # A room still loading holds an empty document; saving it wipes the file.
            if not getattr(room, "ready", False):
                continue
            held = snapshot(room_id, room.ydoc)
            path = file_ids.get_path(room_id.rsplit(":", 1)[-1]) if held else None
            if held is None or path is None:
                continue
            file_format, file_type, content = held
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
