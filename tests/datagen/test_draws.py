"""The fast whole-column draws keep the distributions the scenarios ask for."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from datagen import build_dataset, builtin_scenarios, load_scenario
from datagen.draws import poisson, weighted_choice, zipf_ranks
from datagen.mess import iso_text, pick_rows

DRAWS = 400_000


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("outcomes", [3, 24, 731])
def test_weighted_choice_draws_each_outcome_in_proportion_to_its_weight(outcomes):
    weights = rng(1).uniform(0.5, 2.0, outcomes)
    weights[1] = 0.0

    index = weighted_choice(rng(), weights, DRAWS)

    shares = np.bincount(index, minlength=outcomes) / DRAWS
    expected = weights / weights.sum()
    assert shares[1] == 0.0, f"a zero weight was drawn {shares[1]:.4%} of the time"
    worst = np.abs(shares - expected).max()
    assert worst < 5 * np.sqrt(expected.max() / DRAWS), (
        f"expected shares {expected[:4]}..., got {shares[:4]}... (worst gap {worst})"
    )


def test_weighted_choice_uses_one_byte_indices_for_up_to_256_outcomes():
    assert weighted_choice(rng(), [1, 2, 3], 10).dtype == np.uint8
    assert weighted_choice(rng(), np.ones(731), 10).dtype == np.uint16


@pytest.mark.parametrize("skew", [0.0, 0.6, 1.0, 1.5])
def test_zipf_ranks_stay_in_range_and_fall_off_with_the_requested_skew(skew):
    count = 1_000

    ranks = zipf_ranks(rng(), count, DRAWS, skew=skew)

    assert (ranks.min(), ranks.max()) == (0, count - 1)
    counts = np.bincount(ranks, minlength=count)
    # Over a decade of ranks the share falls by about 10**skew.
    observed = np.log10(counts[10:20].mean() / counts[100:200].mean())
    assert observed == pytest.approx(skew, abs=0.1)


@pytest.mark.parametrize("mean", [0.6, 2.2, 6.0, 45.0])
def test_poisson_counts_have_the_requested_mean_and_variance(mean):
    counts = poisson(rng(), mean, DRAWS).astype(float)

    assert counts.mean() == pytest.approx(mean, rel=0.01)
    assert counts.var() == pytest.approx(mean, rel=0.03)


@pytest.mark.parametrize(("height", "rate"), [(1_000_000, 0.004), (1_000, 0.5)])
def test_pick_rows_returns_exactly_the_rate_of_distinct_sorted_rows(height, rate):
    rows = pick_rows(rng(), height, rate)

    assert rows.size == round(height * rate)
    assert np.unique(rows).size == rows.size
    assert np.all(np.diff(rows) > 0) and rows[0] >= 0 and rows[-1] < height


def test_pick_rows_favours_no_part_of_the_table():
    picks = np.concatenate([pick_rows(rng(seed), 1_000, 0.05) for seed in range(400)])

    per_tenth = np.bincount(picks // 100, minlength=10)

    assert per_tenth.min() > 0.9 * per_tenth.mean(), per_tenth


def test_iso_text_writes_dates_exactly_as_strftime_does_including_nulls():
    days = pl.Series(
        "day",
        [dt.date(2024, 1, 1) + dt.timedelta(days=i % 500) for i in range(5_000)],
    ).scatter([3, 9], [None, dt.date(2071, 2, 28)])

    text = iso_text(days)

    assert text.name == "day"
    assert text.to_list() == days.dt.strftime("%Y-%m-%d").to_list()


@pytest.mark.parametrize("name", sorted(builtin_scenarios()))
def test_a_one_table_run_ships_the_same_table_as_a_full_run(name):
    scenario = load_scenario(name)
    full = build_dataset(scenario, seed=11, scale=0.2)

    for table in scenario.tables:
        alone = build_dataset(scenario, seed=11, scale=0.2, only={table})

        assert alone.tables[table].equals(full.tables[table]), table
