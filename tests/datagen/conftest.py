"""Shared fixtures for the datagen tests: small, cached builds of each scenario."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import pytest

# The package lives at the repository root as datagen/; make it importable however
# pytest is started.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from datagen import Dataset, build_dataset, load_scenario


@functools.cache
def built(name: str, seed: int = 42, scale: float = 1.0) -> Dataset:
    """Build a scenario once per test session; tests must not mutate the result."""
    return build_dataset(load_scenario(name), seed=seed, scale=scale)


@pytest.fixture(name="built")
def built_fixture():
    """The cached builder, as a fixture."""
    return built


@pytest.fixture
def write_scenario(tmp_path):
    """Write a scenario file from TOML text and return its path."""

    def write(text: str, name: str = "custom.toml"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def generate_including(tmp_path):
    """Run `generate shop` at a tenth of its size with an include folder of files.

    Returns the exit status and the output folder.
    """
    from datagen.cli import main

    def generate(files: dict[str, str]) -> tuple[int, Path]:
        include = tmp_path / "input"
        include.mkdir()
        for name, text in files.items():
            (include / name).write_text(text)
        out = tmp_path / "dataset"
        options = ["--out", str(out), "--include", str(include), "--scale", "0.1"]
        status = main(["generate", "shop", *options])
        return status, out

    return generate
