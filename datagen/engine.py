"""Draws every table of a scenario as whole columns at once, then spoils them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import polars as pl

from datagen.draws import poisson, weighted_choice, zipf_ranks
from datagen.errors import ScenarioError
from datagen.mess import pick_rows, spoil_table
from datagen.scenario import ColumnSpec, Scenario, TableSpec

# Mimesis is slow per call, so a column draws a pool of values once and then
# samples the pool; a pool this size keeps names varied without costing time.
DEFAULT_POOL = 2000


@dataclass
class Dataset:
    """Generated tables: `clean` before imperfections and `tables` as shipped."""

    scenario: Scenario
    seed: int
    scale: float
    clean: dict[str, pl.DataFrame]
    tables: dict[str, pl.DataFrame]

    @property
    def total_rows(self) -> int:
        """Rows across all shipped tables."""
        return sum(frame.height for frame in self.tables.values())


def rng_for(seed: int, *names: str) -> np.random.Generator:
    """Return a random stream that depends only on the seed and the given names.

    Each column gets its own stream, so adding a column to a scenario leaves the
    values of every other column unchanged.
    """
    digest = hashlib.sha256("/".join(names).encode()).digest()
    words = np.frombuffer(digest[:16], dtype=np.uint32).tolist()
    return np.random.default_rng(np.random.SeedSequence([seed, *words]))


def build_dataset(
    scenario: Scenario,
    *,
    seed: int,
    scale: float = 1.0,
    only: set[str] | None = None,
    row_cap: int | None = None,
    given: dict[str, pl.DataFrame] | None = None,
) -> Dataset:
    """Generate the scenario's tables, clean and spoiled.

    `only` limits the spoiled output to some tables (their parents are still drawn);
    `row_cap` bounds every base table, which validation uses for a quick dry run;
    `given` supplies clean tables already drawn with the same settings; a table
    drawn by a run for other tables may lack hidden columns this run reads.
    """
    needed = set(scenario.tables) if only is None else scenario.needed_for(only)
    # A run for some tables skips the hidden columns only other tables read (the
    # shop's orders.segment steers order_lines); a full run draws every column, so
    # that validation checks each one.
    hidden = None if only is None else scenario.hidden_columns_needed(needed)
    clean: dict[str, pl.DataFrame] = dict(given or {})
    for name in scenario.table_order():
        if name not in needed or name in clean:
            continue
        table = scenario.tables[name]
        skipped = set() if hidden is None else _unread(table, hidden[name])
        clean[name] = _with_context(
            scenario,
            table,
            None,
            lambda t=table, s=skipped: _draw_table(
                scenario, t, clean, seed=seed, scale=scale, row_cap=row_cap, skip=s
            ),
        )

    tables: dict[str, pl.DataFrame] = {}
    for name, table in scenario.tables.items():
        if only is not None and name not in only:
            continue
        tables[name] = _with_context(
            scenario,
            table,
            None,
            lambda t=table: spoil_table(t, clean[t.name], seed=seed, scenario=scenario),
        )
    return Dataset(
        scenario=scenario, seed=seed, scale=scale, clean=clean, tables=tables
    )


def _unread(table: TableSpec, hidden_needed: set[str]) -> set[str]:
    return {
        column.name
        for column in table.columns.values()
        if column.hidden and column.name not in hidden_needed
    }


def _with_context(scenario: Scenario, table: TableSpec, column: str | None, action):
    """Run a drawing step, turning a polars error into a one-sentence scenario error."""
    try:
        return action()
    except ScenarioError:
        raise
    except (pl.exceptions.PolarsError, ValueError, TypeError) as error:
        detail = (
            str(error).strip().splitlines()[0]
            if str(error).strip()
            else type(error).__name__
        )
        where = f"table '{table.name}'" + (f", column '{column}'" if column else "")
        raise ScenarioError(
            f"{scenario.path}: {where}: could not be generated ({detail}); check its "
            "expressions and the columns they name, which must be defined above it."
        ) from None


def _draw_table(
    scenario: Scenario,
    table: TableSpec,
    clean: dict[str, pl.DataFrame],
    *,
    seed: int,
    scale: float,
    row_cap: int | None,
    skip: set[str],
) -> pl.DataFrame:
    parent_index: np.ndarray | None = None
    if table.parent is None:
        assert table.rows is not None
        # Lookup tables such as a price list keep their size at any scale.
        height = max(1, round(table.rows * (scale if table.scaled else 1.0)))
        if row_cap is not None:
            height = min(height, row_cap)
    else:
        parent = clean[table.parent]
        rows = np.arange(parent.height)
        if table.where:
            mask = parent.select(pl.sql_expr(table.where)).to_series().fill_null(False)
            rows = rows[mask.to_numpy().astype(bool)]
        counts = np.ones(rows.size, dtype=np.int64)
        if table.per_parent > 1:
            rng = rng_for(seed, table.name, "__per_parent__")
            counts += rng.poisson(table.per_parent - 1, size=rows.size)
        parent_index = np.repeat(rows, counts)
        height = int(parent_index.size)

    # A placeholder that gives the frame its height; a null column takes no memory.
    frame = pl.select(pl.repeat(None, height).alias("__row__"))
    # The parent row numbers of each foreign key a lookup reads, so lookups gather
    # instead of joining; the others' are let go at once.
    positions: dict[str, pl.Series | None] = {
        str(column.params["key"]): None
        for column in table.columns.values()
        if column.kind == "lookup" and column.name not in skip
    }
    for column in table.columns.values():
        if column.name in skip:
            continue
        series = _with_context(
            scenario,
            table,
            column.name,
            lambda c=column, f=frame: _draw_column(
                scenario, table, c, f, clean, parent_index, positions, seed=seed
            ),
        )
        frame = frame.with_columns(series.alias(column.name))
    return frame.drop("__row__")


def _draw_column(
    scenario: Scenario,
    table: TableSpec,
    column: ColumnSpec,
    frame: pl.DataFrame,
    clean: dict[str, pl.DataFrame],
    parent_index: np.ndarray | None,
    positions: dict[str, pl.Series | None],
    *,
    seed: int,
) -> pl.Series:
    rng = rng_for(seed, table.name, column.name)
    n = frame.height
    p = column.params
    kind = column.kind

    if kind == "id":
        start = int(p.get("start", 1))
        return format_ids(pl.int_range(start, start + n, eager=True), column)

    if kind == "provider":
        return _provider_column(column, rng, n, seed=seed, table=table.name)

    if kind == "category":
        values = pl.Series(p["values"])
        weights = p.get("weights", [1] * len(p["values"]))
        if p.get("cycle"):
            index = np.arange(n) % len(weights)
        else:
            index = weighted_choice(rng, weights, n)
        for effect in column.effects:
            mask = _condition(frame, effect["when"])
            chosen = weighted_choice(rng, effect["weights"], n)
            index = np.where(mask, chosen, index)
        # A polars index: gathering with a numpy one converts it at a cost first.
        return values.gather(pl.Series(index))

    if kind == "bernoulli":
        prob = np.full(n, float(p["p"]))
        prob = _apply_effects(frame, column, prob)
        return pl.Series(rng.random(n) < np.clip(prob, 0, 1))

    if kind in ("normal", "lognormal", "poisson", "uniform"):
        values = _numeric(kind, p, rng, n)
        values = _apply_effects(frame, column, values)
        return _finish_numeric(kind, p, values)

    if kind in ("date", "timestamp"):
        return _date_column(kind, p, rng, n, frame)

    if kind == "foreign_key":
        wanted = column.name in positions
        keys, rows = _foreign_key(scenario, column, rng, n, clean, want_rows=wanted)
        if wanted:
            positions[column.name] = rows
        return keys

    if kind == "lookup":
        rows = positions.get(p["key"])
        if rows is None:
            raise ValueError(f"its key {p['key']!r} is not defined above it")
        ref_table = str(table.columns[p["key"]].params["references"]).split(".")[0]
        # The key's parent rows are known from drawing it, so this is a gather;
        # an orphan key has no parent row and looks up nothing, as a left join would.
        return clean[ref_table][p["column"]].gather(rows)

    if kind == "parent":
        assert table.parent is not None and parent_index is not None
        return clean[table.parent][p["column"]].gather(pl.Series(parent_index))

    if kind == "derived":
        series = frame.select(pl.sql_expr(p["expr"])).to_series()
        # SQL arithmetic with a literal such as 0.028 gives exact decimals, which
        # numpy, the imperfections and most readers handle poorly; floats do.
        if isinstance(series.dtype, pl.Decimal):
            series = series.cast(pl.Float64)
        if column.effects:
            values = _apply_effects(frame, column, series.to_numpy().astype(float))
            series = pl.Series(values)
        if "decimals" in p:
            series = series.round(int(p["decimals"]))
        return series

    raise AssertionError(f"unhandled kind {kind}")


def format_ids(numbers: np.ndarray | pl.Series, column: ColumnSpec) -> pl.Series:
    """Render id numbers as the column writes them: plain integers or prefixed text."""
    series = pl.Series(numbers).cast(pl.Int64)
    prefix = column.params.get("prefix")
    if not prefix:
        return series
    width = int(column.params.get("width", 6))
    return pl.select(
        pl.lit(str(prefix)) + series.cast(pl.String).str.zfill(width)
    ).to_series()


def _condition(frame: pl.DataFrame, expr: str) -> np.ndarray:
    mask = frame.select(pl.sql_expr(expr)).to_series().fill_null(False)
    return mask.cast(pl.Boolean).to_numpy()


def _apply_effects(frame: pl.DataFrame, column: ColumnSpec, values: np.ndarray):
    for effect in column.effects:
        mask = _condition(frame, effect["when"])
        if "p" in effect:
            values = np.where(mask, float(effect["p"]), values)
        if "multiply" in effect:
            values = np.where(mask, values * float(effect["multiply"]), values)
        if "add" in effect:
            values = np.where(mask, values + float(effect["add"]), values)
    return values


def _numeric(kind: str, p: dict, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "normal":
        return rng.normal(float(p["mean"]), float(p["sd"]), size=n)
    if kind == "lognormal":
        return float(p["median"]) * np.exp(rng.normal(0, float(p["sigma"]), size=n))
    if kind == "poisson":
        counts = poisson(rng, float(p["lam"]), n).astype(np.int64)
        counts += int(p.get("offset", 0))
        return counts
    return rng.uniform(float(p["low"]), float(p["high"]), size=n)


def _finish_numeric(kind: str, p: dict, values: np.ndarray) -> pl.Series:
    if "min" in p or "max" in p:
        values = np.clip(values, p.get("min", -np.inf), p.get("max", np.inf))
    whole = kind == "poisson" or p.get("integer") or p.get("decimals") == 0
    if whole and values.dtype.kind == "f":
        return pl.Series(np.rint(values).astype(np.int64))
    if whole:
        return pl.Series(values.astype(np.int64, copy=False))
    if "decimals" in p:
        values = np.round(values, int(p["decimals"]))
    return pl.Series(values)


def _provider_column(
    column: ColumnSpec, rng: np.random.Generator, n: int, *, seed: int, table: str
) -> pl.Series:
    from mimesis import Generic
    from mimesis.locales import Locale

    p = column.params
    pool_size = max(1, min(int(p.get("pool", DEFAULT_POOL)), n))
    provider_seed = int(rng_for(seed, table, column.name, "pool").integers(2**62))
    generic = Generic(locale=Locale(p["locale"]), seed=provider_seed)
    provider_name, method_name = str(p["provider"]).split(".")
    method = getattr(getattr(generic, provider_name), method_name)
    args = dict(p.get("args", {}))
    pool = pl.Series([str(method(**args)) for _ in range(pool_size)])
    return pool.gather(pl.Series(rng.integers(pool_size, size=n)))


def _date_column(
    kind: str, p: dict, rng: np.random.Generator, n: int, frame: pl.DataFrame
) -> pl.Series:
    if "after" in p:
        base = frame[p["after"]]
        low, high = int(p.get("min_days", 0)), int(p.get("max_days", 365))
        offsets = rng.integers(low, high + 1, size=n)
        shifted = (
            base.cast(pl.Date) + pl.Series(offsets).cast(pl.Duration("ms")) * 86_400_000
        )
        return _add_time(kind, p, rng, n, shifted)

    start, end = p["start"], p["end"]
    days = np.arange(np.datetime64(start), np.datetime64(end) + 1)
    weights = np.ones(days.size)
    weekday = (
        days.astype("datetime64[D]").view("int64") - 4
    ) % 7  # 1970-01-05 was Monday
    if "weekday_weights" in p:
        weights *= np.asarray(p["weekday_weights"], dtype=float)[weekday]
    months = days.astype("datetime64[M]").astype(int) % 12
    if "month_weights" in p:
        weights *= np.asarray(p["month_weights"], dtype=float)[months]
    if "trend" in p:
        # A yearly growth rate: weight grows smoothly across the range.
        years = (days - days[0]).astype(int) / 365.25
        weights *= (1 + float(p["trend"])) ** years
    # Day numbers since 1970 are what a polars Date holds, so no conversion is due.
    chosen = weighted_choice(rng, weights, n).astype(np.int32)
    chosen += np.int32(days[0].astype("datetime64[D]").astype(np.int64))
    return _add_time(kind, p, rng, n, pl.Series(chosen).cast(pl.Date))


def _add_time(
    kind: str, p: dict, rng: np.random.Generator, n: int, dates: pl.Series
) -> pl.Series:
    if kind == "date":
        return dates
    hours = weighted_choice(rng, p.get("hour_weights", [1] * 24), n)
    seconds = hours.astype(np.int64) * 3600 + rng.integers(0, 3600, size=n)
    return (
        dates.cast(pl.Datetime("us"))
        + pl.Series(seconds * 1_000_000).cast(pl.Duration("us"))
    ).alias(dates.name)


def _foreign_key(
    scenario: Scenario,
    column: ColumnSpec,
    rng: np.random.Generator,
    n: int,
    clean: dict[str, pl.DataFrame],
    *,
    want_rows: bool,
) -> tuple[pl.Series, pl.Series | None]:
    """Return the keys drawn and, if wanted, each one's parent row (null: orphan)."""
    ref_table, ref_column = str(column.params["references"]).split(".")
    keys = clean[ref_table][ref_column]
    skew = float(column.params.get("skew", 1.0))
    # Zipf-like popularity over a shuffled ranking: a few parents get most rows,
    # and they are not simply the ones with the lowest ids.
    ranking = pl.Series(rng.permutation(keys.len()))
    ranks = pl.Series(zipf_ranks(rng, keys.len(), n, skew=skew))
    chosen = keys.gather(ranking).gather(ranks)
    rows = ranking.gather(ranks) if want_rows else None

    orphan_rate = column.mess.get("orphans", 0.0)
    if orphan_rate <= 0:
        return chosen, rows
    orphans = pick_rows(rng, n, orphan_rate)
    ref_spec = scenario.tables[ref_table].columns[ref_column]
    start = int(ref_spec.params.get("start", 1)) + keys.len()
    # Keys just past the parent's last id, as if the parent rows had been deleted.
    orphan_keys = format_ids(
        start + rng.integers(0, max(10, keys.len() // 10), orphans.size), ref_spec
    )
    chosen = chosen.scatter(orphans, orphan_keys.cast(chosen.dtype))
    if rows is not None:
        rows = rows.scatter(orphans, pl.Series([None] * orphans.size, dtype=rows.dtype))
    return chosen, rows
