"""Each imperfection knob spoils the share of rows it asks for; 0 turns it off."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from datagen import build_dataset, load_scenario
from datagen.mess import Duplicates, spoil_column

# Knobs pick an exact count of rows, so the only slack is rounding and the rare
# row where a spoiled value happens to equal the clean one.
TOLERANCE = 0.002
ROWS = 20_000
FAR_FUTURE = dt.date(2024, 12, 31)


def numbers() -> pl.Series:
    return pl.Series("x", np.random.default_rng(0).lognormal(3, 0.5, ROWS).round(2))


def spoiled(series: pl.Series, **mess: float) -> pl.Series:
    return spoil_column(series, mess, np.random.default_rng(1), far_future=FAR_FUTURE)


@pytest.mark.parametrize("rate", [0.0, 0.02, 0.1])
def test_missing_knob_blanks_the_requested_share_of_values(rate):
    result = spoiled(numbers(), missing=rate)

    assert result.null_count() / ROWS == pytest.approx(rate, abs=TOLERANCE)


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05])
def test_outliers_knob_inflates_the_requested_share_at_least_eightfold(rate):
    clean = numbers()

    result = spoiled(clean, outliers=rate)

    inflated = ((result / clean) >= 7.9).sum() / ROWS
    assert inflated == pytest.approx(rate, abs=TOLERANCE)


@pytest.mark.parametrize("rate", [0.0, 0.005, 0.03])
def test_impossible_knob_makes_the_requested_share_negative(rate):
    result = spoiled(numbers(), impossible=rate)

    assert (result < 0).sum() / ROWS == pytest.approx(rate, abs=TOLERANCE)


def test_impossible_knob_on_dates_puts_them_decades_in_the_future():
    days = pl.Series(
        "d", [dt.date(2024, 1, 1) + dt.timedelta(days=i % 300) for i in range(ROWS)]
    )

    result = spoiled(days, impossible=0.01)

    future = (result.dt.year() >= 2054).sum()
    assert future / ROWS == pytest.approx(0.01, abs=TOLERANCE)


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.04])
def test_unit_mixup_knob_multiplies_the_requested_share_by_the_factor(rate):
    clean = numbers()

    result = spoiled(clean, unit_mixup=rate, unit_factor=1000)

    mixed = ((result / clean).round(0) == 1000).sum() / ROWS
    assert mixed == pytest.approx(rate, abs=TOLERANCE)


@pytest.mark.parametrize("rate", [0.0, 0.03, 0.1])
def test_case_noise_knob_respells_the_requested_share_of_categories(rate):
    clean = pl.Series("c", ["small business", "consumer", "wholesale"] * (ROWS // 3))

    result = spoiled(clean, case_noise=rate)

    changed = (result != clean).sum() / clean.len()
    assert changed == pytest.approx(rate, abs=TOLERANCE)
    stripped = result.str.strip_chars().str.len_chars().cast(pl.Int64)
    lengths = (stripped - clean.str.len_chars().cast(pl.Int64)).abs()
    assert lengths.max() <= 1


@pytest.mark.parametrize("rate", [0.0, 0.05, 0.2])
def test_date_formats_knob_writes_the_requested_share_in_non_iso_formats(rate):
    days = pl.Series(
        "d", [dt.date(2024, 1, 1) + dt.timedelta(days=i % 300) for i in range(ROWS)]
    )

    result = spoiled(days, date_formats=rate)

    if rate == 0:
        assert result.dtype == pl.Date
        return
    assert result.dtype == pl.String
    iso = result.str.contains(r"^\d{4}-\d{2}-\d{2}$").sum()
    assert 1 - iso / ROWS == pytest.approx(rate, abs=TOLERANCE)


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.05])
def test_duplicates_knob_adds_the_requested_share_of_exact_copies(rate, write_scenario):
    path = write_scenario(
        f"[tables.t]\nrows = {ROWS}\nduplicates = {rate}\n"
        '[tables.t.columns.id]\nkind = "id"\n'
        '[tables.t.columns.v]\nkind = "uniform"\nlow = 0\nhigh = 1\n'
    )

    table = build_dataset(load_scenario(path), seed=4).tables["t"]

    assert (table.height - table.unique().height) / ROWS == pytest.approx(
        rate, abs=TOLERANCE
    )


def test_true_knob_uses_the_documented_default_rate(write_scenario):
    path = write_scenario(
        f"[tables.t]\nrows = {ROWS}\n"
        '[tables.t.columns.v]\nkind = "normal"\nmean = 10\nsd = 1\nmissing = true\n'
    )

    table = build_dataset(load_scenario(path), seed=4).tables["t"]

    assert table["v"].null_count() / ROWS == pytest.approx(0.02, abs=TOLERANCE)


def test_shop_orders_carry_the_rates_the_scenario_asks_for():
    dataset = build_dataset(load_scenario("shop"), seed=9, scale=1.0)
    clean, shipped = dataset.clean["orders"], dataset.tables["orders"]

    assert (shipped.height - clean.height) / clean.height == pytest.approx(
        0.01, abs=0.001
    )
    assert shipped["delivery_days"].null_count() / shipped.height == pytest.approx(
        0.03, abs=0.003
    )


def test_duplicate_rows_stay_exact_copies_in_spoiled_columns():
    dataset = build_dataset(load_scenario("shop"), seed=3, scale=2.0)
    clean, shipped = dataset.clean["orders"], dataset.tables["orders"]

    copies = shipped.height - clean.height
    exact = shipped.height - shipped.unique().height
    missing = shipped.unique()["delivery_days"].null_count()

    assert (copies, exact) == (240, 240)
    assert missing == round(0.03 * clean.height)


@pytest.mark.parametrize("seed", range(5))
def test_duplicates_find_every_place_a_picked_row_ships_at(seed):
    rng = np.random.default_rng(seed)
    copies = np.sort(rng.choice(300, size=40, replace=False))
    duplicates = Duplicates(
        copies=copies, before=np.sort(rng.integers(0, 301, size=40))
    )
    shipped_rows = duplicates.rows(300)
    picked = np.sort(rng.choice(300, size=60, replace=False))

    places, which = duplicates.places(picked)

    assert sorted(places) == list(np.flatnonzero(np.isin(shipped_rows, picked)))
    assert (shipped_rows[places] == picked[which]).all()
