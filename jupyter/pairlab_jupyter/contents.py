"""Notebook files for pairlab's Jupyter, loaded without per-cell trust marks.

The server marks each code cell `trusted` when it reads a notebook, from a signature
database; pairlab keeps that database in memory only, so every mark reads False. The
collaboration room compares the file it reads with its own update store at each
start, and the marks are in one and not the other for every cell added since the
last load, so each restart rewrote those cells' metadata into both people's copies.
Without the marks, cells carry no trust flag, which JupyterLab reads as untrusted:
the same as before, and file and store agree.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager


class UnmarkedContentsManager(AsyncLargeFileManager):
    """Jupyter's default contents manager, minus the trust marks it adds on read."""

    def mark_trusted_cells(self, nb: Any, path: str = "") -> None:
        # Nothing is ever signed here (the notary's database is in memory), so
        # there is nothing to mark.
        return None
