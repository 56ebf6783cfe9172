"""Determinism, output layout, atomic writes and file readability of datagen."""

from __future__ import annotations

import json
import sys
import types

import pandas as pd
import polars as pl
import pytest

from datagen import build_dataset, builtin_scenarios, load_scenario
from datagen.cli import main
from datagen.output import write_dataset

SCENARIOS = sorted(builtin_scenarios())


def test_at_least_three_builtin_scenarios_ship_including_shop():
    assert {"shop", "subscriptions", "ab_test"} <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_builtin_scenario_validates_and_generates_rows(name, capsys):
    status = main(["validate", name])

    assert status == 0
    assert "valid" in capsys.readouterr().out
    dataset = build_dataset(load_scenario(name), seed=1, scale=0.2)
    assert len(dataset.tables) >= 4
    assert all(frame.height > 0 for frame in dataset.tables.values())


def test_same_scenario_and_seed_give_byte_identical_files(tmp_path):
    scenario = load_scenario("shop")

    first = write_dataset(build_dataset(scenario, seed=7, scale=0.3), tmp_path / "a")
    second = write_dataset(build_dataset(scenario, seed=7, scale=0.3), tmp_path / "b")

    for table in first["tables"]:
        for fmt in ("csv", "parquet"):
            name = f"{table}.{fmt}"
            assert (tmp_path / "a" / name).read_bytes() == (
                tmp_path / "b" / name
            ).read_bytes()
    assert first["tables"] == second["tables"]


def test_different_seeds_give_different_data():
    scenario = load_scenario("shop")

    first = build_dataset(scenario, seed=1, scale=0.2).tables["orders"]
    second = build_dataset(scenario, seed=2, scale=0.2).tables["orders"]

    assert not first.equals(second)


def test_scale_multiplies_base_table_rows_but_not_fixed_tables():
    scenario = load_scenario("subscriptions")

    small = build_dataset(scenario, seed=3, scale=0.5)
    large = build_dataset(scenario, seed=3, scale=2.0)

    assert small.clean["accounts"].height == 2000
    assert large.clean["accounts"].height == 8000
    assert small.clean["plans"].height == large.clean["plans"].height == 4


def test_generate_writes_tables_dictionary_and_manifest_with_checksums(tmp_path):
    out = tmp_path / "dataset"

    status = main(
        ["generate", "shop", "--out", str(out), "--scale", "0.2", "--seed", "5"]
    )

    assert status == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario"] == "shop"
    assert manifest["seed"] == 5
    assert manifest["scale"] == 0.2
    assert manifest["formats"] == ["csv", "parquet"]
    assert set(manifest["tables"]) == {
        "customers",
        "products",
        "orders",
        "order_lines",
        "returns",
    }
    orders = manifest["tables"]["orders"]
    assert orders["files"]["csv"]["name"] == "orders.csv"
    assert len(orders["files"]["parquet"]["sha256"]) == 64
    assert orders["rows"] == pl.read_parquet(out / "orders.parquet").height
    assert (out / "data_dictionary.md").is_file()
    assert not [path.name for path in out.iterdir() if path.name.startswith(".staging")]


def test_data_dictionary_lists_visible_columns_and_hides_planted_helpers(tmp_path):
    out = tmp_path / "dataset"

    main(["generate", "shop", "--out", str(out), "--scale", "0.1"])

    dictionary = json.loads((out / "data_dictionary.json").read_text())
    line_columns = [c["name"] for c in dictionary["tables"]["order_lines"]["columns"]]
    assert line_columns == [
        "line_id",
        "order_id",
        "product_id",
        "quantity",
        "unit_price",
    ]
    text = (out / "data_dictionary.md").read_text().lower()
    assert "returned" not in line_columns
    assert "cents" not in text and "planted" not in text


def test_csv_and_parquet_read_with_default_options_in_pandas_and_polars(tmp_path):
    out = tmp_path / "dataset"
    main(["generate", "ab_test", "--out", str(out), "--scale", "0.1"])

    for table, info in json.loads((out / "manifest.json").read_text())[
        "tables"
    ].items():
        rows = info["rows"]
        assert len(pd.read_csv(out / f"{table}.csv")) == rows
        assert pl.read_csv(out / f"{table}.csv").height == rows
        assert len(pd.read_parquet(out / f"{table}.parquet")) == rows
        assert pl.read_parquet(out / f"{table}.parquet").height == rows


def test_rerun_removes_files_the_new_dataset_no_longer_ships(tmp_path):
    out = tmp_path / "dataset"
    main(["generate", "shop", "--out", str(out), "--scale", "0.1"])

    status = main(["generate", "subscriptions", "--out", str(out), "--scale", "0.1"])

    assert status == 0
    assert not (out / "orders.csv").exists()
    assert (out / "accounts.csv").exists()
    assert (
        json.loads((out / "manifest.json").read_text())["scenario"] == "subscriptions"
    )


def test_failed_generation_leaves_the_previous_dataset_untouched(
    tmp_path, write_scenario
):
    out = tmp_path / "dataset"
    main(["generate", "shop", "--out", str(out), "--scale", "0.1"])
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    broken = write_scenario(
        '[tables.t]\nrows = 10\n[tables.t.columns.x]\nkind = "derived"\n'
        'expr = "no_such_column + 1"\n'
    )

    status = main(["generate", str(broken), "--out", str(out)])

    assert status == 2
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_included_files_ship_beside_generated_ones_and_repo_placeholders_do_not(
    generate_including,
):
    files = {
        "README.md": "placeholder",
        ".gitkeep": "",
        "targets.csv": "region,target\nnorth,10\n",
    }

    status, out = generate_including(files)

    assert status == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [entry["name"] for entry in manifest["included_files"]] == ["targets.csv"]
    assert (out / "targets.csv").read_text() == "region,target\nnorth,10\n"
    assert not (out / "README.md").exists()


def test_included_file_clashing_with_a_generated_file_is_a_one_line_error(
    tmp_path, caplog
):
    include = tmp_path / "input"
    include.mkdir()
    (include / "orders.csv").write_text("mine\n")

    status = main(
        ["generate", "shop", "--out", str(tmp_path / "o"), "--include", str(include)]
    )

    assert status == 1
    message = caplog.records[-1].getMessage()
    assert "orders.csv" in message and "rename it" in message
    assert "\n" not in message


def test_answer_key_prints_findings_and_traps_and_writes_nothing(tmp_path, capsys):
    before = set(tmp_path.iterdir())

    status = main(["answer-key", "shop", "--scale", "0.5"])

    out = capsys.readouterr().out
    assert status == 0
    assert "Orders peak in November and December" in out
    assert "order_lines.unit_price: 1.0% unit mix-ups" in out
    assert set(tmp_path.iterdir()) == before


def fake_access(monkeypatch, *, settings_status: int, main_status: int) -> None:
    """Stand in for datagen/access.py, whose own tests live in tests/unit."""
    module = types.ModuleType("datagen.access")
    module.check_settings = lambda: settings_status
    module.main = lambda: main_status
    monkeypatch.setitem(sys.modules, "datagen.access", module)


def test_prepare_stops_on_a_bad_setting_before_touching_the_dataset(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("DATASET_SCALE", "0.1")
    fake_access(monkeypatch, settings_status=2, main_status=0)
    out = tmp_path / "dataset"

    status = main(["prepare", "--out", str(out), "--include", str(tmp_path / "none")])

    assert status == 2
    assert not out.exists()


def test_prepare_generates_then_exits_with_the_return_code_of_access_main(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("DATASET_SCALE", "0.1")
    fake_access(monkeypatch, settings_status=0, main_status=3)
    out = tmp_path / "dataset"

    status = main(["prepare", "--out", str(out), "--include", str(tmp_path / "none")])

    assert status == 3
    assert json.loads((out / "manifest.json").read_text())["scenario"] == "shop"
