"""Imperfections: the missing values, duplicates and typos a working analyst meets."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from datagen.scenario import Scenario, TableSpec

# Non-ISO formats seen in real exports; day-first and month-first side by side
# is the classic trap, since 03/04/2024 parses either way.
ALTERNATIVE_DATE_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%b %d %Y", "%Y%m%d")
ALTERNATIVE_TIME_FORMATS = ("%d/%m/%Y %H:%M", "%m/%d/%Y %I:%M %p", "%Y-%m-%dT%H:%M:%SZ")
ISO_DATE = "%Y-%m-%d"
ISO_TIMESTAMP = "%Y-%m-%d %H:%M:%S"
CASE_VARIANTS = 6
# pick_rows shuffles all row numbers only when it keeps more than 1 in this many.
SPARSE_PICK = 4
DEFAULT_UNIT_FACTOR = 100.0


def pick_rows(rng: np.random.Generator, height: int, rate: float) -> np.ndarray:
    """Choose exactly round(rate * height) distinct rows, so a rate is met exactly."""
    count = min(height, round(rate * height))
    if count == 0:
        return np.empty(0, dtype=np.int64)
    if count * SPARSE_PICK > height:
        return np.sort(rng.permutation(height)[:count])

    # A few percent of a big table: shuffling every row number to keep a few is
    # the slow part, so draw row numbers with repeats, keep the distinct ones and
    # top up. Whichever distinct rows a round of draws gives, every set of that
    # size was equally likely, and so is the random subset kept at the end.
    taken = np.zeros(height, dtype=bool)
    found = 0
    while found < count:
        taken[rng.integers(0, height, size=count - found + count // 8 + 16)] = True
        found = int(np.count_nonzero(taken))
    chosen = np.flatnonzero(taken)
    return np.sort(rng.choice(chosen, size=count, replace=False))


def spoil_table(
    table: TableSpec, frame: pl.DataFrame, *, seed: int, scenario: Scenario
) -> pl.DataFrame:
    """Apply every imperfection knob to a clean frame and return its visible columns."""
    from datagen.engine import rng_for

    duplicates = index = None
    if table.duplicates > 0:
        rng = rng_for(seed, table.name, "__duplicates__")
        copies = pick_rows(rng, frame.height, table.duplicates)
        # Copies land at random places, as when an export is re-run and appended.
        places = np.sort(rng.integers(0, frame.height + 1, size=copies.size))
        duplicates = Duplicates(copies=copies, before=places)
        index = pl.Series(duplicates.rows(frame.height))

    columns = []
    for column in table.columns.values():
        # Hidden columns only steer the drawing and are never shipped.
        if column.hidden or column.name not in frame.columns:
            continue
        series = frame[column.name]
        if column.mess:
            series = spoil_column(
                series,
                column.mess,
                rng_for(seed, table.name, column.name, "mess"),
                far_future=scenario.end,
                duplicates=duplicates,
            )
        elif index is not None:
            series = series.gather(index)
        columns.append(series)
    return pl.DataFrame(columns)


@dataclass(frozen=True)
class Duplicates:
    """Clean rows shipped twice: `copies[i]` goes in before clean row `before[i]`.

    `before` is sorted, and may hold the table's height, meaning at the end.
    """

    copies: np.ndarray
    before: np.ndarray

    def rows(self, height: int) -> np.ndarray:
        """The clean row at each place of the shipped table."""
        return np.insert(np.arange(height), self.before, self.copies)

    def places(self, picked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where sorted clean rows ship, and which of them each place holds."""
        # A clean row moves down by the copies put in before it; copy i lands at
        # before[i] + i, as the copies ahead of it in the list come first.
        own = picked + np.searchsorted(self.before, picked, side="right")
        copied = np.isin(self.copies, picked)
        at = (self.before + np.arange(self.before.size))[copied]
        of = np.searchsorted(picked, self.copies[copied])
        return np.concatenate([own, at]), np.concatenate([np.arange(picked.size), of])


class _Shipped:
    """Finds the places picked clean rows ship at, and their current values."""

    def __init__(self, duplicates: Duplicates | None) -> None:
        self.duplicates = duplicates

    def lookup(
        self, series: pl.Series, picked: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, pl.Series]:
        """Places, which pick each place holds, and each pick's current value."""
        if self.duplicates is None:
            places, which = picked, np.arange(picked.size)
        else:
            places, which = self.duplicates.places(picked)
        # The first picked.size places are the picked rows' own, in pick order.
        return places, which, series.gather(pl.Series(places[: picked.size]))


def spoil_column(
    series: pl.Series,
    mess: dict[str, float],
    rng: np.random.Generator,
    *,
    far_future: dt.date,
    duplicates: Duplicates | None = None,
) -> pl.Series:
    """Apply a column's knobs in a fixed order, each on its own exact share of rows.

    With `duplicates`, the column is copied into shipping order first and spoiled
    in place there, each knob picking clean rows and changing every place a row
    ships at, so a row and its copy stay alike; copying the spoiled column
    afterwards cost a million fresh values more.
    """
    height = series.len()
    shipped = _Shipped(duplicates)
    # scatter() writes in place; the caller's clean column must stay clean.
    if duplicates is None:
        series = series.clone()
    else:
        series = series.gather(pl.Series(duplicates.rows(height)))
    numeric = series.dtype.is_numeric()
    temporal = series.dtype == pl.Date or isinstance(series.dtype, pl.Datetime)

    if numeric and mess.get("unit_mixup", 0) > 0:
        picked = pick_rows(rng, height, mess["unit_mixup"])
        places, which, current = shipped.lookup(series, picked)
        factor = mess.get("unit_factor", DEFAULT_UNIT_FACTOR)
        series = _scatter_numeric(series, places, (current.to_numpy() * factor)[which])
    if numeric and mess.get("outliers", 0) > 0:
        picked = pick_rows(rng, height, mess["outliers"])
        places, which, current = shipped.lookup(series, picked)
        factors = rng.uniform(8, 25, size=picked.size)
        series = _scatter_numeric(series, places, (current.to_numpy() * factors)[which])
    if numeric and mess.get("impossible", 0) > 0:
        picked = pick_rows(rng, height, mess["impossible"])
        places, which, current = shipped.lookup(series, picked)
        negative = -np.maximum(np.abs(current.to_numpy().astype(float)), 1)
        series = _scatter_numeric(series, places, negative[which])
    if temporal and mess.get("impossible", 0) > 0:
        picked = pick_rows(rng, height, mess["impossible"])
        places, which, current = shipped.lookup(series, picked)
        # Typo years decades past the data's end: plainly in the future.
        years = rng.integers(30, 80, size=picked.size)
        shift = pl.Series(years * 365 * 86_400_000).cast(pl.Duration("ms"))
        shifted = (current + shift).cast(series.dtype)
        series = series.scatter(places, shifted.gather(pl.Series(which)))
    if series.dtype == pl.String and mess.get("case_noise", 0) > 0:
        picked = pick_rows(rng, height, mess["case_noise"])
        places, which, current = shipped.lookup(series, picked)
        noisy = _case_noise(current, rng)
        series = series.scatter(places, noisy.gather(pl.Series(which)))
    if temporal and mess.get("date_formats", 0) > 0:
        picked = pick_rows(rng, height, mess["date_formats"])
        series = _mixed_formats(series, *shipped.lookup(series, picked), rng)
    if mess.get("missing", 0) > 0:
        picked = pick_rows(rng, height, mess["missing"])
        places, _, _ = shipped.lookup(series, picked)
        series = series.scatter(
            places, pl.Series([None] * places.size, dtype=series.dtype)
        )
    return series


def _scatter_numeric(
    series: pl.Series, rows: np.ndarray, values: np.ndarray
) -> pl.Series:
    if rows.size == 0:
        return series
    if series.dtype.is_integer():
        return series.scatter(
            rows, pl.Series(np.rint(values).astype(np.int64)).cast(series.dtype)
        )
    decimals = 2 if series.dtype.is_float() else None
    return series.scatter(
        rows, pl.Series(np.round(values, decimals)).cast(series.dtype)
    )


def _variants(value: str) -> list[str]:
    """Spellings a category drifts into when typed by hand in several systems.

    Every variant differs from the value itself, so a knob's rate is the share of
    rows that really changed.
    """
    candidates = [value.upper(), value.title(), value.lower(), f" {value}", f"{value} "]
    if len(value) > 3:
        middle = len(value) // 2
        candidates.append(value[:middle] + value[middle + 1 :])
        candidates.append(value[:1] + value[2] + value[1] + value[3:])
    distinct = [c for c in dict.fromkeys(candidates) if c != value]
    return [distinct[i % len(distinct)] for i in range(CASE_VARIANTS)]


def _case_noise(picked: pl.Series, rng: np.random.Generator) -> pl.Series:
    """Each picked value respelt in one of its variants, at random."""
    variant = rng.integers(0, CASE_VARIANTS, size=picked.len())
    # Spell out the variants of each distinct value once, then pick by position:
    # variant k of the i-th distinct value sits at i * CASE_VARIANTS + k.
    distinct = picked.unique(maintain_order=True).drop_nulls()
    spellings = pl.Series(
        [spelling for value in distinct for spelling in _variants(value)],
        dtype=pl.String,
    )
    number = picked.replace_strict(
        distinct, np.arange(distinct.len()), return_dtype=pl.Int64
    )
    return spellings.gather(number * CASE_VARIANTS + variant)


def iso_text(series: pl.Series) -> pl.Series:
    """Write dates as 2024-01-31 and timestamps as 2024-01-31 08:05:00."""
    calendar = _calendar(series)
    if calendar is None:
        fmt = ISO_DATE if series.dtype == pl.Date else ISO_TIMESTAMP
        return series.dt.strftime(fmt)
    text, codes = calendar
    return text.gather(pl.Series(codes)).alias(series.name)


def _calendar(series: pl.Series) -> tuple[pl.Series, np.ndarray] | None:
    """ISO text for each day a date column spans, and each row's place in it.

    A date column holds far fewer distinct days than rows, so each day is
    formatted once and gathered: formatting every row took ten times as long.
    None for timestamps, and for dates spread too thinly for this to pay.
    """
    if series.dtype != pl.Date:
        return None
    days = series.to_physical()
    first, last = days.min(), days.max()
    if first is None or last - first >= series.len():
        return None
    span = pl.int_range(first, last + 1, eager=True).cast(pl.Date)
    text = pl.concat([span.dt.strftime(ISO_DATE), pl.Series([None], dtype=pl.String)])
    # A missing day points one past the span, at the null appended there.
    codes = (days - first).fill_null(last - first + 1).to_numpy()
    return text, codes.astype(np.uint32)


def _mixed_formats(
    series: pl.Series,
    places: np.ndarray,
    which: np.ndarray,
    picked: pl.Series,
    rng: np.random.Generator,
) -> pl.Series:
    """Write the column as ISO text, except picked rows in other formats at random.

    `places` are where the picked rows sit in `series`, `which` says which of the
    `picked` values each place holds.
    """
    is_date = series.dtype == pl.Date
    formats = ALTERNATIVE_DATE_FORMATS if is_date else ALTERNATIVE_TIME_FORMATS
    choice = rng.integers(0, len(formats), size=picked.len())
    # Each picked value is formatted once, in its own format.
    groups = [np.flatnonzero(choice == index) for index in range(len(formats))]
    rendered = pl.concat(
        [
            picked.gather(pl.Series(group)).dt.strftime(fmt)
            for group, fmt in zip(groups, formats, strict=True)
        ]
    )
    slot = np.empty(picked.len(), dtype=np.uint32)
    slot[np.concatenate(groups)] = np.arange(picked.len(), dtype=np.uint32)

    calendar = _calendar(series)
    if calendar is None:
        return iso_text(series).scatter(places, rendered.gather(pl.Series(slot[which])))
    # Point the picked rows past the calendar at their own text, so the column's
    # million strings are written once rather than written and then patched.
    text, codes = calendar
    codes[places] = text.len() + slot[which]
    return pl.concat([text, rendered]).gather(pl.Series(codes)).alias(series.name)
