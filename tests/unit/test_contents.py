"""pairlab_jupyter.contents: the disk floor that the server's own writes respect."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from pairlab_jupyter.contents import model_bytes, refusal, tree_bytes

MIB = 1 << 20
FLOOR = 512 * MIB


@pytest.mark.parametrize(
    ("free_mib", "incoming_mib"), [(600, 0), (600, 88), (512, 0), (9000, 4000)]
)
def test_a_write_that_leaves_the_floor_free_is_allowed(
    free_mib: int, incoming_mib: int
) -> None:
    reason = refusal(
        free_bytes=free_mib * MIB, floor_bytes=FLOOR, incoming_bytes=incoming_mib * MIB
    )

    assert reason is None, reason


@pytest.mark.parametrize(
    ("free_mib", "incoming_mib"), [(600, 89), (511, 0), (100, 1), (600, 600)]
)
def test_a_write_that_would_go_below_the_floor_is_one_sentence_naming_it(
    free_mib: int, incoming_mib: int
) -> None:
    reason = refusal(
        free_bytes=free_mib * MIB, floor_bytes=FLOOR, incoming_bytes=incoming_mib * MIB
    )

    assert reason is not None
    assert "JUPYTER_DISK_FLOOR keeps 512 MiB free" in reason, reason
    assert f"has {free_mib} MiB free and this needs {incoming_mib} MiB" in reason
    assert reason.count(". ") == 0 and reason.endswith("then try again."), reason


def test_a_part_of_a_mib_to_write_counts_as_a_whole_one() -> None:
    reason = refusal(free_bytes=FLOOR, floor_bytes=FLOOR, incoming_bytes=MIB // 2)

    assert reason is not None and "this needs 1 MiB more" in reason, reason


def test_a_floor_of_zero_allows_any_write() -> None:
    reason = refusal(free_bytes=0, floor_bytes=0, incoming_bytes=10 * MIB)

    assert reason is None


def test_a_model_counts_its_decoded_upload_its_text_and_its_notebook() -> None:
    chunk = base64.b64encode(b"x" * 3000).decode()
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}

    sizes = [
        model_bytes({"type": "file", "format": "base64", "content": chunk}),
        model_bytes({"type": "file", "format": "text", "content": "é\n"}),
        model_bytes({"type": "notebook", "content": notebook}),
        model_bytes({"type": "directory"}),
    ]

    assert sizes == [3000, 3, 65, 0]


def test_a_copy_counts_every_file_under_a_folder_and_nothing_for_a_missing_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "folder" / "inner").mkdir(parents=True)
    (tmp_path / "folder" / "a.bin").write_bytes(b"a" * 1000)
    (tmp_path / "folder" / "inner" / "b.bin").write_bytes(b"b" * 24)

    sizes = [
        tree_bytes(tmp_path / "folder"),
        tree_bytes(tmp_path / "folder" / "a.bin"),
        tree_bytes(tmp_path / "missing.bin"),
    ]

    assert sizes == [1024, 1000, 0]
