"""The scenario reference's example is a working scenario whose finding holds."""

from __future__ import annotations

import re
from pathlib import Path

from datagen import build_dataset, load_scenario
from datagen.cli import main
from datagen.findings import observe
from datagen.scenario import DEFAULT_RATES, KINDS

README = Path(__file__).resolve().parents[2] / "datagen" / "README.md"


def example_scenario() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(), re.DOTALL)
    assert len(blocks) == 1, f"expected one toml example, found {len(blocks)}"
    return blocks[0]


def test_the_readme_example_validates_and_its_finding_holds(write_scenario):
    path = write_scenario(example_scenario(), name="my_case.toml")

    status = main(["validate", str(path)])
    dataset = build_dataset(load_scenario(path), seed=42)

    assert status == 0
    for finding in dataset.scenario.findings:
        observed = observe(dataset, finding).observed
        assert abs(observed - finding.expected) <= finding.tolerance, (
            f"{finding.title}: expected {finding.expected} +/- {finding.tolerance}, "
            f"observed {observed:.3f}"
        )


def test_the_readme_documents_every_column_kind_and_imperfection_knob():
    text = README.read_text()

    names = [*KINDS, *DEFAULT_RATES, "unit_factor"]
    undocumented = [name for name in names if f"| `{name}` |" not in text]

    assert undocumented == []
