"""The export command: an interview's notebooks, execution log and playback, on disk.

Run by the `export` service of compose.yaml (`docker compose run --rm export`). It
reads the notebooks and jupyter-state volumes read-only and writes one folder,
<date>-<candidate>, into the host's ./interviews:

  notebooks/*.ipynb and *.html   the final notebooks, as files and as static pages
  execution-log.json and .csv    every cell run: source, start, end, who, outcome
  playback.html                  a slider over how each notebook grew, offline
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import sqlite3
import stat
import sys
import time
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pycrdt import Array, Doc, Map

from pairlab_jupyter.execlog import read_entries
from pairlab_jupyter.identity import (
    DEFAULT_ACCESS_FILE,
    Access,
    AccessFileError,
    load_access,
)

log = logging.getLogger("pairlab.export")

NOTEBOOK_DIR = Path("/home/pairlab/work")
STATE_DIR = Path("/var/lib/pairlab")
EXPORT_DIR = Path("/export")
# compose.yaml mounts a file of the project here: whoever owns it gets the export.
OWNER_REFERENCE = Path("/etc/pairlab/owner-reference")
TEMPLATE = Path(__file__).with_name("playback.html")
TEMPLATES = Path(__file__).with_name("templates")
# States closer together than this are merged into one: typing makes an update per
# key, and a slider over a two-hour session needs seconds, not keystrokes.
STATE_SECONDS = 1.0
SKIPPED_PARTS = {"data", ".ipynb_checkpoints"}


class ExportError(Exception):
    """Something the interviewer can fix; the message says what."""


@dataclass(frozen=True)
class State:
    """The notebook at one moment: its cells as (id, type, source), in order."""

    time: float
    cells: tuple[tuple[str, str, str], ...]


# --- Reading the collaboration history -------------------------------------------


def _read_only(path: Path) -> sqlite3.Connection:
    # mode=ro: the volume is mounted read-only, and Jupyter may still be writing.
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)


def read_history(
    *, ystore: Path, file_ids: Path
) -> dict[str, list[tuple[float, bytes]]]:
    """Each notebook's stored updates, oldest first, keyed by its path."""
    if not ystore.exists():
        return {}
    paths: dict[str, str] = {}
    if file_ids.exists():
        with contextlib.closing(_read_only(file_ids)) as db:
            paths = dict(db.execute("SELECT id, path FROM Files"))
    history: dict[str, list[tuple[float, bytes]]] = {}
    with contextlib.closing(_read_only(ystore)) as db:
        rows = db.execute(
            "SELECT path, timestamp, yupdate FROM yupdates ORDER BY timestamp, rowid"
        )
        for room, timestamp, update in rows:
            match = re.fullmatch(r"\.notebook:(.+)\.y", room)
            if match is None:
                continue
            path = paths.get(match[1], f"unknown-{match[1]}.ipynb")
            # The file id manager keeps paths with the server's root_dir in front.
            path = path.removeprefix(f"{NOTEBOOK_DIR}/").lstrip("/")
            history.setdefault(path, []).append((timestamp, update))
    return history


def read_cells(doc: Doc) -> tuple[tuple[str, str, str], ...]:
    """The cells of a jupyter-ydoc notebook document, as (id, type, source)."""
    cells: Array = doc.get("cells", type=Array)
    snapshot = []
    for cell in cells:
        if not isinstance(cell, Map):
            continue
        source = cell.get("source")
        snapshot.append(
            (
                str(cell.get("id", "")),
                str(cell.get("cell_type", "code")),
                "" if source is None else str(source),
            )
        )
    return tuple(snapshot)


def replay(
    updates: list[tuple[float, bytes]], *, bucket_seconds: float = STATE_SECONDS
) -> list[State]:
    """The distinct states the notebook went through, at most one per bucket."""
    doc = Doc()
    states: list[State] = []
    bucket_start: float | None = None
    for index, (timestamp, update) in enumerate(updates):
        doc.apply_update(update)
        following = updates[index + 1][0] if index + 1 < len(updates) else None
        if bucket_start is None:
            bucket_start = timestamp
        # Read the document only when this bucket ends: reading is the costly part.
        if following is not None and following - bucket_start < bucket_seconds:
            continue
        bucket_start = None
        cells = read_cells(doc)
        if not cells or (states and states[-1].cells == cells):
            continue
        states.append(State(time=timestamp, cells=cells))
    return states


# --- Packing states compactly for the page ----------------------------------------


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _diff(old: str, new: str) -> tuple[int, int, str]:
    """(offset, removed length, inserted text) turning old into new.

    Offsets and lengths count UTF-16 code units, as JavaScript strings do, so the
    page can splice sources that hold emoji or other astral characters.
    """
    limit = min(len(old), len(new))
    start = 0
    while start < limit and old[start] == new[start]:
        start += 1
    end = 0
    while end < limit - start and old[-1 - end] == new[-1 - end]:
        end += 1
    removed = old[start : len(old) - end]
    inserted = new[start : len(new) - end]
    return _utf16_length(old[:start]), _utf16_length(removed), inserted


def _splice(old: str, at: int, removed: int, inserted: str) -> str:
    units = old.encode("utf-16-le")
    head, tail = units[: at * 2], units[(at + removed) * 2 :]
    return head.decode("utf-16-le") + inserted + tail.decode("utf-16-le")


def pack(states: list[State]) -> dict[str, Any]:
    """States as a cell table plus per-state edits: small, and cheap to unpack.

    Each state is [milliseconds since the first, new cell order or 0, edits], an
    edit being [cell, offset, removed length, inserted text] on that cell's source.
    """
    table: dict[tuple[str, str], int] = {}
    sources: dict[int, str] = {}
    packed_states = []
    order: list[int] = []
    start = states[0].time if states else 0.0
    for state in states:
        new_order = []
        edits = []
        for cell_id, cell_type, source in state.cells:
            key = table.setdefault((cell_id, cell_type), len(table))
            new_order.append(key)
            if sources.get(key, "") != source:
                edits.append([key, *_diff(sources.get(key, ""), source)])
                sources[key] = source
        offset = round((state.time - start) * 1000)
        packed_states.append([offset, new_order if new_order != order else 0, edits])
        order = new_order
    return {
        "start": start,
        "cells": [[cell_id, cell_type] for cell_id, cell_type in table],
        "states": packed_states,
    }


def unpack(packed: dict[str, Any]) -> list[State]:
    """The inverse of pack; the page's script does the same in the browser."""
    sources: dict[int, str] = {}
    order: list[int] = []
    states = []
    for offset, new_order, edits in packed["states"]:
        if new_order:
            order = new_order
        for key, at, removed, inserted in edits:
            sources[key] = _splice(sources.get(key, ""), at, removed, inserted)
        cells = tuple((*packed["cells"][key], sources.get(key, "")) for key in order)
        states.append(State(time=packed["start"] + offset / 1000, cells=cells))
    return states


def render_playback(
    *, title: str, notebooks: dict[str, dict[str, Any]], runs: list[dict[str, Any]]
) -> str:
    """The self-contained playback page: template, with the packed data inlined."""
    data = {"title": title, "notebooks": notebooks, "runs": runs}
    # "<" never appears raw, so no cell source can close the script element early.
    inline = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    inline = inline.replace("<", "\\u003c")
    page = TEMPLATE.read_text(encoding="utf-8")
    return page.replace("__PAIRLAB_TITLE__", _escape(title)).replace(
        "__PAIRLAB_DATA__", inline
    )


def _inline(page: str, opening: str) -> str:
    start = page.index(opening) + len(opening)
    return page[start : page.index("</script>", start)]


def playback_data(page: str) -> dict[str, Any]:
    """The data a rendered playback page holds, as render_playback got it."""
    return json.loads(
        _inline(page, '<script type="application/json" id="pairlab-data">')
    )


def playback_script(page: str) -> str:
    """The page's script, which node can also load as a module."""
    return _inline(page, '<script id="pairlab-playback">')


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


# --- The export folder ---------------------------------------------------------------


def slug(text: str) -> str:
    """A folder-name-safe version of a person's name: "José Núñez" -> "jose-nunez"."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-") or "candidate"


def new_folder(export_dir: Path, name: str) -> Path:
    """export_dir/name, or name-2, name-3 ... when an earlier export is there."""
    candidate = export_dir / name
    number = 2
    while candidate.exists():
        candidate = export_dir / f"{name}-{number}"
        number += 1
    candidate.mkdir(parents=True)
    return candidate


def find_notebooks(notebook_dir: Path) -> list[Path]:
    """Regular *.ipynb files under notebook_dir, relative to it, skipping data."""
    found = []
    for path in notebook_dir.rglob("*.ipynb"):
        relative = path.relative_to(notebook_dir)
        if SKIPPED_PARTS & set(relative.parts):
            continue
        # The export reads as root: a link the candidate planted could point at
        # anything the export container can read, so links are never followed; and
        # a FIFO or a folder named like a notebook would hang or break the copy.
        with contextlib.suppress(OSError):
            if stat.S_ISREG(path.lstat().st_mode):
                found.append(relative)
    return sorted(found)


def export_notebooks(*, notebook_dir: Path, target: Path) -> dict[str, list[str]]:
    """Copy each notebook and render it as static HTML; return cell ids per path."""
    import nbformat
    from nbconvert import HTMLExporter

    # JupyterLab's look without the CDN scripts (require.js, MathJax, Mermaid):
    # formulas show as TeX, and opening the file never calls out. The candidate
    # wrote these notebooks and the interviewer opens the pages from disk, so any
    # script or event handler in markdown or outputs is stripped.
    exporter = HTMLExporter(
        extra_template_basedirs=[str(TEMPLATES)],
        template_name="pairlab_offline",
        embed_images=True,
        sanitize_html=True,
    )
    cell_ids: dict[str, list[str]] = {}
    for relative in find_notebooks(notebook_dir):
        copy = target / relative
        try:
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(notebook_dir / relative, copy)
        except OSError as error:
            log.warning(
                "Skipped %s: it could not be copied (%s); the other notebooks "
                "were exported.",
                relative,
                error.strerror or error,
            )
            continue
        try:
            notebook = nbformat.read(copy, as_version=4)
            body, _ = exporter.from_notebook_node(notebook)
        except Exception as error:
            log.warning("%s could not be rendered as HTML (%s)", relative, error)
            continue
        copy.with_suffix(".html").write_text(body, encoding="utf-8")
        cell_ids[str(relative)] = [str(cell.get("id", "")) for cell in notebook.cells]
    return cell_ids


def execution_rows(
    entries: list[dict[str, Any]], *, access: Access, cell_ids: dict[str, list[str]]
) -> list[dict[str, Any]]:
    """Log entries with the person's name and the notebook that holds the cell."""
    notebook_of = {cell_id: path for path, ids in cell_ids.items() for cell_id in ids}
    rows = []
    for entry in entries:
        person = access.people.get(entry.get("username", ""))
        rows.append(
            {
                "started_at": entry.get("started_at"),
                "finished_at": entry.get("finished_at"),
                "ran_by": person.name if person else entry.get("username"),
                "role": person.role if person else "unknown",
                "notebook": notebook_of.get(entry.get("cell_id") or ""),
                "cell_id": entry.get("cell_id"),
                "execution_count": entry.get("execution_count"),
                "status": entry.get("status"),
                "error": entry.get("error"),
                "source": entry.get("code", ""),
            }
        )
    return rows


def write_execution_log(rows: list[dict[str, Any]], *, folder: Path) -> None:
    import polars as pl

    (folder / "execution-log.json").write_text(
        json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    schema = dict.fromkeys(rows[0] if rows else ["source"], pl.String)
    schema["execution_count"] = pl.Int64
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame()
    frame.write_csv(folder / "execution-log.csv")


def _epoch(text: str | None) -> float | None:
    try:
        return datetime.fromisoformat(text or "").timestamp()
    except ValueError:
        return None


def hand_over(folder: Path, *, reference: Path) -> str:
    """Give the folder to the owner of the reference file; say who got it."""
    try:
        owner = reference.stat()
    except OSError:
        return "left as written (no owner reference mounted)"
    if os.geteuid() != 0 or owner.st_uid == 0:
        return f"left owned by uid {os.geteuid()}"
    targets = [folder, *folder.rglob("*")]
    if folder.parent.stat().st_uid == 0:
        # Docker created ./interviews for the mount, as root: hand that over too.
        targets.append(folder.parent)
    try:
        for path in targets:
            os.chown(path, owner.st_uid, owner.st_gid)
    except PermissionError:
        return "left owned by root (this Docker does not allow chown on the mount)"
    return f"owned by uid {owner.st_uid}, the owner of the pairlab folder"


def export(
    *,
    notebook_dir: Path,
    state_dir: Path,
    access_file: Path,
    export_dir: Path,
    owner_reference: Path = OWNER_REFERENCE,
) -> Path:
    """Write one interview's export folder; return its path."""
    started = time.monotonic()
    if not access_file.exists():
        # `docker compose run` makes empty volumes when the stack's are gone.
        raise ExportError(
            "there is no interview to export (its volumes are empty or gone): run "
            "the export before `docker compose down -v`, and run `docker compose "
            "down -v` again to remove the empty volumes this run made."
        )
    try:
        access = load_access(access_file)
    except AccessFileError as error:
        raise ExportError(str(error)) from None
    if not find_notebooks(notebook_dir):
        raise ExportError(
            f"no notebooks in {notebook_dir}: run the export before "
            "`docker compose down -v`, which deletes them."
        )
    candidate = next((p for p in access.people.values() if p.role == "candidate"), None)
    candidate_name = candidate.name if candidate else "candidate"
    day = access.started_at.astimezone(UTC).strftime("%Y-%m-%d")
    try:
        folder = new_folder(export_dir, f"{day}-{slug(candidate_name)}")
    except OSError as error:
        raise ExportError(
            f"cannot write into the export folder ({error.strerror}): check that "
            "EXPORT_DIR in .env names a folder you may write to."
        ) from None

    cell_ids = export_notebooks(notebook_dir=notebook_dir, target=folder / "notebooks")
    rows = execution_rows(
        read_entries(state_dir / "executions.jsonl"), access=access, cell_ids=cell_ids
    )
    write_execution_log(rows, folder=folder)

    history = read_history(
        ystore=state_dir / "collab" / "ystore.db",
        file_ids=state_dir / "collab" / "file_id.db",
    )
    packed = {path: pack(replay(updates)) for path, updates in sorted(history.items())}
    runs = [
        [_epoch(row["started_at"]), row["ran_by"], row["cell_id"], row["status"]]
        for row in rows
    ]
    title = f"{candidate_name}, interview of {day}"
    (folder / "playback.html").write_text(
        render_playback(title=title, notebooks=packed, runs=runs), encoding="utf-8"
    )
    ownership = hand_over(folder, reference=owner_reference)

    log.info(
        "Exported %d notebooks, %d cell runs and %d playback states to %s in %.1fs; %s",
        len(cell_ids),
        len(rows),
        sum(len(p["states"]) for p in packed.values()),
        folder.name,
        time.monotonic() - started,
        ownership,
    )
    return folder


def main(argv: list[str] | None = None) -> int:
    """Run the export from the command line; return a process exit code."""
    parser = argparse.ArgumentParser(
        prog="docker compose run --rm export",
        description=(
            "Write the interview's notebooks, execution log and playback page to "
            "./interviews/<date>-<candidate>/ on the host. Run it before "
            "`docker compose down -v`; running it again writes a new folder."
        ),
    )
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOK_DIR)
    parser.add_argument("--state", type=Path, default=STATE_DIR)
    parser.add_argument("--access-file", type=Path, default=Path(DEFAULT_ACCESS_FILE))
    parser.add_argument("--out", type=Path, default=EXPORT_DIR)
    options = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        format="%(levelname)s[%(asctime)s] %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    try:
        folder = export(
            notebook_dir=options.notebooks,
            state_dir=options.state,
            access_file=options.access_file,
            export_dir=options.out,
        )
    except ExportError as error:
        log.error("%s", error)
        return 2
    print(f"interviews/{folder.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
