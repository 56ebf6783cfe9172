"""Notebook files for pairlab's Jupyter: no per-cell trust marks, and a disk floor.

The server marks each code cell `trusted` when it reads a notebook, from a signature
database; pairlab keeps that database in memory only, so every mark reads False. The
collaboration room compares the file it reads with its own update store at each
start, and the marks are in one and not the other for every cell added since the
last load, so each restart rewrote those cells' metadata into both people's copies.
Without the marks, cells carry no trust flag, which JupyterLab reads as untrusted:
the same as before, and file and store agree.

The server also writes files for the candidate: saves, uploads (in chunks, for
large files), copies and checkpoints. The disk guard only stops processes, so those
writes check JUPYTER_DISK_FLOOR here and are refused before they would take Docker's
disk below it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado import web

from pairlab_jupyter.diskguard import (
    DEFAULT_FLOOR,
    FLOOR_VARIABLE,
    FloorError,
    configured_floor,
    parse_floor,
)

# WebDAV's "Insufficient Storage": the request was fine, the disk has no room.
NO_ROOM_STATUS = 507
MIB = 1 << 20


def refusal(*, free_bytes: int, floor_bytes: int, incoming_bytes: int) -> str | None:
    """Why a write of incoming_bytes must be refused, or None when it fits.

    A floor of 0 turns the check off. Otherwise the write must leave at least the
    floor free; a disk already below the floor takes nothing, not even a byte.
    """
    if floor_bytes == 0 or free_bytes - incoming_bytes >= floor_bytes:
        return None
    # Rounded up, so half a MiB of upload does not read as "needs 0 MiB".
    incoming_mib = -(-incoming_bytes // MIB)
    return (
        f"Not written: Docker's disk has {free_bytes >> 20} MiB free and this needs "
        f"{incoming_mib} MiB more, but {FLOOR_VARIABLE} keeps "
        f"{floor_bytes >> 20} MiB free, so delete large files from the notebooks "
        f"folder or free space on this machine (or lower {FLOOR_VARIABLE} in .env "
        f"and restart), then try again."
    )


def model_bytes(model: dict[str, Any]) -> int:
    """About how many bytes saving this contents model writes."""
    content = model.get("content")
    if content is None:
        return 0
    if isinstance(content, str):
        if model.get("format") == "base64":
            return len(content) * 3 // 4
        return len(content.encode("utf-8"))
    return len(json.dumps(content))


def tree_bytes(os_path: Path) -> int:
    """Bytes of a file, or of every file under a folder."""
    if not os_path.is_dir():
        # A missing source is the server's 404 to give, not this check's.
        return os_path.stat().st_size if os_path.exists() else 0
    total = 0
    for folder, _, names in os.walk(os_path):
        for name in names:
            try:
                total += (Path(folder) / name).lstat().st_size
            except OSError:
                continue  # gone meanwhile
    return total


class UnmarkedContentsManager(AsyncLargeFileManager):
    """Jupyter's default contents manager, minus trust marks, plus the disk floor."""

    def mark_trusted_cells(self, nb: Any, path: str = "") -> None:
        # Nothing is ever signed here (the notary's database is in memory), so
        # there is nothing to mark.
        return None

    def _check_room(self, incoming_bytes: int) -> None:
        try:
            floor_bytes = configured_floor()
        except FloorError:
            # The disk guard already logged the bad value; it uses the default too.
            floor_bytes = parse_floor(DEFAULT_FLOOR)
        free_bytes = shutil.disk_usage(self.root_dir).free
        reason = refusal(
            free_bytes=free_bytes,
            floor_bytes=floor_bytes,
            incoming_bytes=incoming_bytes,
        )
        if reason is not None:
            self.log.warning("%s", reason)
            raise web.HTTPError(NO_ROOM_STATUS, reason)

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        # Every chunk of an upload comes through here, so each one is checked.
        self._check_room(model_bytes(model))
        return await super().save(model, path)

    async def copy(self, from_path: str, to_path: str | None = None) -> dict[str, Any]:
        # A request of a few bytes can copy a large file or folder: count the copy.
        self._check_room(tree_bytes(Path(self._get_os_path(from_path.strip("/")))))
        return await super().copy(from_path, to_path)

    async def create_checkpoint(self, path: str) -> dict[str, Any]:
        # A checkpoint is a full copy of the file.
        self._check_room(tree_bytes(Path(self._get_os_path(path.strip("/")))))
        return await super().create_checkpoint(path)
