"""Your own scenario runs from ./scenarios and never reaches the candidate."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.stack import WITH_FAKE_NGROK, Stack, wait_until

SECRET = "Premium buyers churn twice as often"
SCENARIO = f"""
[scenario]
title = "Custom case"

[tables.buyers]
rows = 300

[tables.buyers.columns.buyer_id]
kind = "id"

[tables.buyers.columns.premium]
kind = "bernoulli"
p = 0.3

[tables.buyers.columns.churned]
kind = "bernoulli"
p = 0.1
effects = [{{ when = "premium", p = 0.2 }}]

[[findings]]
title = "{SECRET}"
analysis = "Compare churn rates of premium and other buyers."

[findings.check]
sql = "SELECT AVG(CAST(churned AS DOUBLE)) FROM buyers"
expected = 0.13
tolerance = 0.1
"""


@pytest.fixture
def own_folders() -> Iterator[Path]:
    """A scenarios and a data folder that the container's uid 1000 can read."""
    root = Path(tempfile.mkdtemp(prefix="pairlab-custom-"))
    try:
        for name in ("scenarios", "data"):
            (root / name).mkdir()
        root.chmod(0o755)
        for folder in root.iterdir():
            folder.chmod(0o755)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_scenario_in_scenarios_is_generated_and_only_the_interviewer_sees_it(
    fresh_stack: Stack, own_folders: Path
) -> None:
    (own_folders / "scenarios" / "my_case.toml").write_text(SCENARIO)
    (own_folders / "data" / "targets.csv").write_text("segment,target\nall,0.1\n")
    override = fresh_stack.workdir / "folders.yaml"
    override.write_text(
        "services:\n  datagen:\n    volumes:\n"
        f"      - {own_folders / 'scenarios'}:/scenarios:ro\n"
        f"      - {own_folders / 'data'}:/input:ro\n"
    )
    fresh_stack.compose_files = (*WITH_FAKE_NGROK, override)
    fresh_stack.settings["DATASET"] = "my_case"

    fresh_stack.up("datagen")
    state = wait_until(
        lambda: _exited(fresh_stack, "datagen"),
        timeout=120,
        what="the datagen service to finish",
    )
    # What the candidate's notebook server sees: the dataset, and whether
    # /scenarios exists at all; grep names any file that holds the secret.
    seen = fresh_stack.compose(
        "run",
        "--rm",
        "--no-deps",
        "--entrypoint",
        "sh",
        "jupyter",
        "-c",
        "cd /home/pairlab/work/data && ls -1A && grep -rlF "
        f"'{SECRET}' . ; test -e /scenarios && echo SCENARIOS-VISIBLE; true",
    ).stdout.split()
    key = fresh_stack.compose("run", "--rm", "datagen", "answer-key").stdout

    assert state["ExitCode"] == 0, fresh_stack.logs("datagen")
    expected = {"buyers.csv", "buyers.parquet", "targets.csv", "manifest.json"}
    assert expected <= set(seen), seen
    assert [name for name in seen if name.endswith(".toml")] == []
    assert "SCENARIOS-VISIBLE" not in seen
    assert [name for name in seen if name.startswith("./")] == [], "secret in data"
    assert SECRET in key and "Custom case" in key


def _exited(stack: Stack, service: str) -> dict[str, object] | None:
    state = dict(stack.container_state(service))
    return state if state["Status"] == "exited" else None
