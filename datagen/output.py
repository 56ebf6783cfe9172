"""Writes a dataset into a folder atomically, with its dictionary and manifest."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tomllib
from pathlib import Path
from typing import Any

import polars as pl

from datagen.engine import Dataset
from datagen.errors import OutputError

log = logging.getLogger("datagen")

FORMATS = ("csv", "parquet")
MANIFEST = "manifest.json"
DICTIONARY_FILES = ("data_dictionary.md", "data_dictionary.json")
# A hidden record of every file datagen has placed in the folder, so the next run
# can remove what it no longer ships even if a crash lost the manifest.
OWNED_LIST = ".datagen-files.json"
STAGING_PREFIX = ".staging-"
# Files the repository keeps in ./data so the folder exists; never shipped.
SKIPPED_INCLUDES = {"README.md", ".gitkeep"}

TYPE_NAMES = {
    pl.Int64: "integer",
    pl.Int32: "integer",
    pl.Float64: "decimal",
    pl.String: "text",
    pl.Boolean: "true/false",
    pl.Date: "date",
}


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_table(frame: pl.DataFrame, path: Path, *, fmt: str) -> None:
    """Write one table as CSV or Parquet, the way every dataset ships it."""
    if fmt == "csv":
        frame.write_csv(path, datetime_format="%Y-%m-%d %H:%M:%S")
        return
    # Snappy, pandas' own default: every Parquet reader a candidate may reach for
    # opens it, and it writes and reads back faster than zstd. zstd's files are
    # half the size (6.5 against 11 MiB for a million orders), which matters
    # little on a local volume. Statistics stay on so a lazy scan can skip row
    # groups of a big table.
    frame.write_parquet(path, compression="snappy", statistics=True)


def included_files(include_dir: Path | None) -> list[Path]:
    """The interviewer's own files to ship beside the generated ones, sorted."""
    if include_dir is None or not include_dir.is_dir():
        return []
    chosen = []
    for path in sorted(include_dir.iterdir()):
        if path.name in SKIPPED_INCLUDES or path.name.startswith("."):
            continue
        if not path.is_file():
            log.warning("skipped %s: only files are included, not folders", path)
            continue
        if _is_scenario(path):
            raise OutputError(
                f"{path} is a scenario file, and everything in ./data is copied to "
                "the candidate with its planted findings; move it to ./scenarios "
                "and set DATASET to its name."
            )
        chosen.append(path)
    return chosen


def _is_scenario(path: Path) -> bool:
    """Whether a file reads as a datagen scenario, whatever it is called."""
    if path.stat().st_size > 10 * 2**20:
        return False
    try:
        parsed = tomllib.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    return "tables" in parsed or "findings" in parsed


def write_dataset(
    dataset: Dataset,
    out_dir: Path,
    *,
    formats: tuple[str, ...] = FORMATS,
    include_dir: Path | None = None,
) -> dict[str, Any]:
    """Write the dataset into out_dir so that only a whole, finished dataset appears.

    Files are written to a dot-named staging folder inside out_dir (out_dir may be
    a volume mountpoint, which cannot be renamed), moved in, and manifest.json is
    moved in last. Files from the previous dataset that are not shipped again are
    removed. Returns the manifest.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    for stale in out_dir.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = out_dir / f"{STAGING_PREFIX}{os.getpid()}"
    staging.mkdir()
    try:
        manifest = _write_staging(dataset, staging, formats, include_dir)
        _swap_in(staging, out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def _write_staging(
    dataset: Dataset,
    staging: Path,
    formats: tuple[str, ...],
    include_dir: Path | None,
) -> dict[str, Any]:
    tables: dict[str, Any] = {}
    generated: set[str] = {MANIFEST, *DICTIONARY_FILES}
    for name, frame in dataset.tables.items():
        files = {}
        for fmt in formats:
            path = staging / f"{name}.{fmt}"
            write_table(frame, path, fmt=fmt)
            files[fmt] = {"name": path.name, "sha256": sha256_of(path)}
            generated.add(path.name)
        tables[name] = {"rows": frame.height, "columns": frame.columns, "files": files}

    included = []
    for source in included_files(include_dir):
        if source.name in generated:
            raise OutputError(
                f"The included file {source} has the same name as the generated file "
                f"{source.name}; rename it in ./data so both can ship."
            )
        target = staging / source.name
        shutil.copyfile(source, target)
        included.append({"name": source.name, "sha256": sha256_of(target)})

    dictionary = data_dictionary(dataset)
    (staging / "data_dictionary.json").write_text(
        json.dumps(dictionary, indent=2) + "\n", encoding="utf-8"
    )
    (staging / "data_dictionary.md").write_text(
        dictionary_markdown(dictionary), encoding="utf-8"
    )
    manifest = {
        "scenario": dataset.scenario.name,
        "title": dataset.scenario.title,
        "seed": dataset.seed,
        "scale": dataset.scale,
        "formats": list(formats),
        "tables": tables,
        "included_files": included,
        "dictionary_files": list(DICTIONARY_FILES),
    }
    (staging / MANIFEST).write_text(
        json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
    )
    return manifest


def _swap_in(staging: Path, out_dir: Path) -> None:
    new_names = sorted(path.name for path in staging.iterdir())
    old_names = _owned_names(out_dir)
    _write_owned(out_dir, old_names | set(new_names))

    # Without a manifest the folder holds no dataset, which readers treat as
    # "not ready"; that is the only in-between state a crash can leave.
    with contextlib.suppress(FileNotFoundError):
        (out_dir / MANIFEST).unlink()
    for name in new_names:
        if name != MANIFEST:
            os.replace(staging / name, out_dir / name)
    for name in sorted(old_names - set(new_names)):
        with contextlib.suppress(FileNotFoundError):
            (out_dir / name).unlink()
    os.replace(staging / MANIFEST, out_dir / MANIFEST)
    _write_owned(out_dir, set(new_names))


def _owned_names(out_dir: Path) -> set[str]:
    names: set[str] = set()
    owned = out_dir / OWNED_LIST
    if owned.is_file():
        with contextlib.suppress(ValueError):
            names.update(json.loads(owned.read_text(encoding="utf-8")))
    manifest = out_dir / MANIFEST
    if manifest.is_file():
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            old = json.loads(manifest.read_text(encoding="utf-8"))
            for table in old["tables"].values():
                names.update(entry["name"] for entry in table["files"].values())
            names.update(entry["name"] for entry in old.get("included_files", []))
            names.update(DICTIONARY_FILES)
    # Only plain names directly in the folder; never anything that walks out of it.
    return {
        name for name in names if name and "/" not in name and name not in ("..", ".")
    }


def _write_owned(out_dir: Path, names: set[str]) -> None:
    temporary = out_dir / f"{OWNED_LIST}.tmp"
    temporary.write_text(json.dumps(sorted(names)) + "\n", encoding="utf-8")
    os.replace(temporary, out_dir / OWNED_LIST)


def data_dictionary(dataset: Dataset) -> dict[str, Any]:
    """Tables and columns with types and descriptions, and nothing about the traps."""
    scenario = dataset.scenario
    tables = {}
    for name, table in scenario.tables.items():
        if name not in dataset.tables:
            continue
        clean = dataset.clean[name]
        columns = [
            {
                "name": column.name,
                "type": type_name(clean[column.name].dtype),
                "description": column.description,
            }
            for column in table.columns.values()
            if not column.hidden
        ]
        tables[name] = {
            "description": table.description,
            "rows": dataset.tables[name].height,
            "columns": columns,
        }
    return {
        "title": scenario.title,
        "description": scenario.description,
        "tables": tables,
    }


def type_name(dtype: pl.DataType) -> str:
    """A plain-language name for a column's intended type."""
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    return TYPE_NAMES.get(dtype, str(dtype).lower())


def dictionary_markdown(dictionary: dict[str, Any]) -> str:
    """Render the data dictionary as Markdown for people to read."""
    lines = [f"# Data dictionary: {dictionary['title']}", ""]
    if dictionary["description"]:
        lines += [dictionary["description"].strip(), ""]
    for name, table in dictionary["tables"].items():
        lines += [f"## {name}", ""]
        if table["description"]:
            lines += [table["description"].strip(), ""]
        lines += [f"Rows: {table['rows']:,}", "", "| column | type | description |"]
        lines.append("| --- | --- | --- |")
        lines += [
            f"| {column['name']} | {column['type']} | {column['description']} |"
            for column in table["columns"]
        ]
        lines.append("")
    return "\n".join(lines)
