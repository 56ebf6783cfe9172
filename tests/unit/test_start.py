"""pairlab_jupyter.start: CPU-sized thread pools and the once-only starter workspace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pairlab_jupyter.start import cpu_limit, seed_workspace, size_thread_pools


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("200000 100000\n", 2), ("150000 100000\n", 2), ("50000 100000\n", 1)],
)
def test_cpu_limit_rounds_the_cgroup_v2_quota_up(
    tmp_path: Path, cpu_max: str, expected: int
) -> None:
    (tmp_path / "cpu.max").write_text(cpu_max)

    assert cpu_limit(tmp_path) == expected


@pytest.mark.parametrize(
    ("quota", "expected"), [("200000", 2), ("150000", 2), ("50000", 1)]
)
def test_cpu_limit_reads_the_cgroup_v1_quota_too(
    tmp_path: Path, quota: str, expected: int
) -> None:
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")

    assert cpu_limit(tmp_path) == expected


def test_cpu_limit_falls_back_to_the_cores_without_a_quota(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("max 100000\n")
    (tmp_path / "v1" / "cpu").mkdir(parents=True)
    (tmp_path / "v1" / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    (tmp_path / "v1" / "cpu" / "cpu.cfs_period_us").write_text("100000\n")

    assert cpu_limit(tmp_path) == (os.cpu_count() or 1)
    assert cpu_limit(tmp_path / "v1") == (os.cpu_count() or 1)
    assert cpu_limit(tmp_path / "absent") == (os.cpu_count() or 1)


def test_thread_pools_get_the_cpu_count_unless_already_set() -> None:
    environ = {"POLARS_MAX_THREADS": "1"}

    changed = size_thread_pools(environ, cpus=3)

    assert environ["POLARS_MAX_THREADS"] == "1"
    assert environ["OMP_NUM_THREADS"] == "3"
    assert "POLARS_MAX_THREADS" not in changed
    assert "OPENBLAS_NUM_THREADS" in changed


def test_the_starter_workspace_is_copied_once_and_never_over_edits(
    tmp_path: Path,
) -> None:
    template = tmp_path / "template"
    (template / "notes").mkdir(parents=True)
    (template / "task.ipynb").write_text("template")
    (template / "notes" / "hint.md").write_text("hint")
    notebooks = tmp_path / "work"
    notebooks.mkdir()
    marker = tmp_path / "seeded"

    first = seed_workspace(template_dir=template, notebook_dir=notebooks, marker=marker)
    (notebooks / "task.ipynb").write_text("the candidate's edits")
    (notebooks / "notes" / "hint.md").unlink()
    second = seed_workspace(
        template_dir=template, notebook_dir=notebooks, marker=marker
    )

    assert (first, second) == (2, 0)
    assert (notebooks / "task.ipynb").read_text() == "the candidate's edits"
    assert not (notebooks / "notes" / "hint.md").exists()
