"""Loads scenario TOML files and checks them before anything is generated."""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datagen.errors import ScenarioError

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
# Where your own scenario files are found by name. The datagen image sets it to
# /scenarios, where compose mounts ./scenarios read-only; run from a checkout,
# it is the scenarios folder of the current directory.
CUSTOM_DIR_VARIABLE = "PAIRLAB_SCENARIO_DIR"
CUSTOM_DIR_DEFAULT = "scenarios"

# The rate each imperfection knob takes when a scenario just says `true`; a few
# percent is what a working analyst meets in an ordinary export.
DEFAULT_RATES: dict[str, float] = {
    "missing": 0.02,
    "duplicates": 0.01,
    "outliers": 0.01,
    "case_noise": 0.03,
    "date_formats": 0.05,
    "impossible": 0.005,
    "unit_mixup": 0.01,
    "orphans": 0.01,
}

NUMERIC_MESS = {"outliers", "impossible", "unit_mixup", "unit_factor"}
TEXT_MESS = {"case_noise"}
DATE_MESS = {"date_formats", "impossible"}
ANY_MESS = NUMERIC_MESS | TEXT_MESS | DATE_MESS
COMMON_KEYS = {"kind", "description", "hidden", "effects", "missing"}
DATE_KEYS = {
    "start",
    "end",
    "weekday_weights",
    "month_weights",
    "trend",
    "after",
    "min_days",
    "max_days",
}

# kind -> (required keys, optional keys)
KINDS: dict[str, tuple[set[str], set[str]]] = {
    "id": (set(), {"start", "prefix", "width"}),
    "provider": ({"provider"}, {"locale", "pool", "args"} | TEXT_MESS),
    "normal": ({"mean", "sd"}, {"min", "max", "decimals"} | NUMERIC_MESS),
    "lognormal": ({"median", "sigma"}, {"min", "max", "decimals"} | NUMERIC_MESS),
    "poisson": ({"lam"}, {"offset", "max"} | NUMERIC_MESS),
    "uniform": ({"low", "high"}, {"integer", "decimals"} | NUMERIC_MESS),
    "category": ({"values"}, {"weights", "cycle"} | TEXT_MESS),
    "bernoulli": ({"p"}, set()),
    "date": (set(), DATE_KEYS | DATE_MESS),
    "timestamp": (set(), DATE_KEYS | {"hour_weights"} | DATE_MESS),
    "foreign_key": ({"references"}, {"skew", "orphans"}),
    "lookup": ({"key", "column"}, ANY_MESS),
    "parent": ({"column"}, ANY_MESS),
    "derived": ({"expr"}, {"decimals"} | ANY_MESS),
}

TABLE_KEYS = {"description", "rows", "scaled", "parent", "per_parent", "where"}
TABLE_KEYS |= {"duplicates"}
TABLE_KEYS |= {"columns"}
SCENARIO_KEYS = {"title", "description", "locale", "start", "end"}
FINDING_KEYS = {"title", "description", "analysis", "check"}
CHECK_KEYS = {"sql", "expected", "tolerance", "parse_dates"}
EFFECT_KEYS = {"when", "multiply", "add", "weights", "p"}
RATE_KEYS = set(DEFAULT_RATES)
NUMBER_KEYS = {
    "start",
    "width",
    "pool",
    "mean",
    "sd",
    "min",
    "max",
    "decimals",
    "median",
    "sigma",
    "lam",
    "offset",
    "low",
    "high",
    "p",
    "skew",
    "trend",
    "min_days",
    "max_days",
    "unit_factor",
}
DATE_VALUE_KEYS = {"start", "end"}
WEIGHT_LENGTHS = {"weekday_weights": 7, "month_weights": 12, "hour_weights": 24}


@dataclass(frozen=True)
class ColumnSpec:
    """One column: how it is drawn, what it means, and how it is spoiled."""

    name: str
    kind: str
    params: dict[str, Any]
    description: str = ""
    hidden: bool = False
    effects: tuple[dict[str, Any], ...] = ()
    mess: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TableSpec:
    """One table: its size or parent, its columns and its table-level mess."""

    name: str
    columns: dict[str, ColumnSpec]
    description: str = ""
    rows: int | None = None
    parent: str | None = None
    per_parent: float = 1.0
    where: str | None = None
    duplicates: float = 0.0
    scaled: bool = True


@dataclass(frozen=True)
class Finding:
    """Something planted for a good candidate to find, with the check that finds it."""

    title: str
    description: str
    analysis: str
    sql: str
    expected: float
    tolerance: float
    parse_dates: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scenario:
    """A whole scenario file, checked and ready to generate."""

    name: str
    path: Path
    title: str
    description: str
    locale: str
    start: dt.date
    end: dt.date
    tables: dict[str, TableSpec]
    findings: tuple[Finding, ...]

    def needed_for(self, names: set[str]) -> set[str]:
        """The given tables plus every table they read from, directly or not."""
        order: list[str] = []
        for name in sorted(names):
            _visit(self, name, order, ())
        return set(order)

    def hidden_columns_needed(self, names: set[str]) -> dict[str, set[str]]:
        """Hidden columns that the visible columns of these tables read, per table.

        Expressions are searched for column names as words, so a name that only
        appears inside a string literal counts too: better drawn for nothing than
        missing.
        """
        pending = [
            (table, column.name)
            for table in names
            for column in self.tables[table].columns.values()
            if not column.hidden
        ]
        for table in names:
            spec = self.tables[table]
            if spec.parent is not None and spec.where:
                pending += _named(self.tables[spec.parent], [spec.where])
        seen: set[tuple[str, str]] = set()
        while pending:
            step = pending.pop()
            if step not in seen and step[0] in names:
                seen.add(step)
                pending += _reads(self, *step)
        hidden: dict[str, set[str]] = {table: set() for table in names}
        for table, column in seen:
            if self.tables[table].columns[column].hidden:
                hidden[table].add(column)
        return hidden

    def table_order(self) -> list[str]:
        """Return table names so that every table comes after those it reads from."""
        order: list[str] = []
        for name in self.tables:
            _visit(self, name, order, ())
        return order


def builtin_scenarios() -> dict[str, Path]:
    """Map each built-in scenario name to its file."""
    return {path.stem: path for path in sorted(SCENARIO_DIR.glob("*.toml"))}


def custom_scenarios() -> dict[str, Path]:
    """Map each scenario file in your own scenarios folder to its name."""
    folder = Path(os.environ.get(CUSTOM_DIR_VARIABLE) or CUSTOM_DIR_DEFAULT)
    if not folder.is_dir():
        return {}
    return {path.stem: path for path in sorted(folder.glob("*.toml"))}


def resolve_scenario_path(name_or_path: str) -> Path:
    """Turn a scenario name or a path to a .toml file into an existing path.

    A path to an existing .toml file wins, then a file of that name in your own
    scenarios folder (so a copy of a built-in you edited is the one used), then a
    built-in scenario.
    """
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" and candidate.is_file():
        return candidate
    custom = custom_scenarios()
    name = candidate.stem if candidate.suffix == ".toml" else name_or_path
    if name in custom and candidate.name in (name, f"{name}.toml"):
        return custom[name]
    builtins = builtin_scenarios()
    if name_or_path in builtins:
        return builtins[name_or_path]
    known = [*custom, *builtins]
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ScenarioError(
        f"Scenario '{name_or_path}' (DATASET in .env) is neither a built-in "
        f"scenario, nor a file in your scenarios folder, nor an existing .toml "
        f"file; {hint}set DATASET to one of {', '.join(dict.fromkeys(known))}, or "
        f"put {name}.toml in ./scenarios and set DATASET={name}."
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Read and check a scenario, raising ScenarioError with a one-sentence fix."""
    path = resolve_scenario_path(str(name_or_path))
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(
            f"{path}: is not valid TOML ({error}); fix the syntax at that line."
        ) from None
    return _parse(raw, path)


# -- parsing ---------------------------------------------------------------


class _Where:
    """Builds the 'file: table, column, key' prefix every scenario error starts with."""

    def __init__(self, path: Path, table: str = "", column: str = "") -> None:
        self.path, self.table, self.column = path, table, column

    def fail(self, key: str, problem: str, fix: str) -> ScenarioError:
        parts = [str(self.path)]
        if self.table:
            parts.append(f"table '{self.table}'")
        if self.column:
            parts.append(f"column '{self.column}'")
        if key:
            parts.append(f"key '{key}'")
        return ScenarioError(f"{', '.join(parts)}: {problem}; {fix}.")

    def unknown_keys(self, given: dict[str, Any], allowed: set[str], what: str) -> None:
        for key in given:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=3)
                hint = (
                    f"did you mean {' or '.join(repr(c) for c in close)}"
                    if close
                    else (f"allowed keys are {', '.join(sorted(allowed))}")
                )
                raise self.fail(key, f"is not a known key for {what}", hint)


def _parse(raw: dict[str, Any], path: Path) -> Scenario:
    where = _Where(path)
    where.unknown_keys(raw, {"scenario", "tables", "findings"}, "a scenario file")
    head = raw.get("scenario", {})
    where.unknown_keys(head, SCENARIO_KEYS, "the [scenario] table")
    locale = str(head.get("locale", "en"))
    _check_locale(where, "locale", locale)
    start = _as_date(where, "start", head.get("start", "2024-01-01"))
    end = _as_date(where, "end", head.get("end", "2024-12-31"))
    if end < start:
        raise where.fail("end", f"{end} is before start {start}", "swap them")

    raw_tables = raw.get("tables")
    if not isinstance(raw_tables, dict) or not raw_tables:
        raise where.fail(
            "tables", "the file defines no tables", "add at least one [tables.NAME]"
        )
    tables = {
        name: _parse_table(path, name, spec, locale, start, end)
        for name, spec in raw_tables.items()
    }
    findings = tuple(
        _parse_finding(path, index, spec)
        for index, spec in enumerate(raw.get("findings", []))
    )
    scenario = Scenario(
        name=path.stem,
        path=path,
        title=str(head.get("title", path.stem)),
        description=str(head.get("description", "")),
        locale=locale,
        start=start,
        end=end,
        tables=tables,
        findings=findings,
    )
    _check_references(scenario)
    scenario.table_order()
    return scenario


def _parse_table(
    path: Path,
    name: str,
    spec: Any,
    locale: str,
    start: dt.date,
    end: dt.date,
) -> TableSpec:
    where = _Where(path, name)
    if not isinstance(spec, dict):
        raise where.fail("", "is not a table", f"write it as [tables.{name}]")
    where.unknown_keys(spec, TABLE_KEYS, "a table")
    if ("rows" in spec) == ("parent" in spec):
        raise where.fail(
            "rows",
            "a table needs exactly one of 'rows' or 'parent'",
            "give a row count, or name the parent table whose rows it follows",
        )
    if "rows" in spec and (not isinstance(spec["rows"], int) or spec["rows"] < 1):
        raise where.fail(
            "rows", f"{spec['rows']!r} is not a positive integer", "use e.g. 5000"
        )
    per_parent = spec.get("per_parent", 1.0)
    if not isinstance(per_parent, int | float) or per_parent < 1:
        raise where.fail(
            "per_parent", f"{per_parent!r} is below 1", "use a mean of 1 or more"
        )
    raw_columns = spec.get("columns")
    if not isinstance(raw_columns, dict) or not raw_columns:
        raise where.fail(
            "columns", "the table has no columns", f"add [tables.{name}.columns.NAME]"
        )
    columns = {
        column: _parse_column(path, name, column, cspec, locale, start, end)
        for column, cspec in raw_columns.items()
    }
    return TableSpec(
        name=name,
        columns=columns,
        description=str(spec.get("description", "")),
        rows=spec.get("rows"),
        parent=spec.get("parent"),
        per_parent=float(per_parent),
        where=spec.get("where"),
        duplicates=_rate(where, "duplicates", spec.get("duplicates", 0)),
        scaled=bool(spec.get("scaled", True)),
    )


def _parse_column(
    path: Path,
    table: str,
    name: str,
    spec: Any,
    locale: str,
    start: dt.date,
    end: dt.date,
) -> ColumnSpec:
    where = _Where(path, table, name)
    if not isinstance(spec, dict):
        raise where.fail("", "is not a table of settings", "give it at least a 'kind'")
    kind = spec.get("kind")
    if kind not in KINDS:
        close = difflib.get_close_matches(str(kind), list(KINDS), n=3)
        hint = (
            f"did you mean {' or '.join(close)}"
            if close
            else (f"use one of {', '.join(KINDS)}")
        )
        raise where.fail("kind", f"{kind!r} is not a column kind", hint)
    required, optional = KINDS[kind]
    where.unknown_keys(spec, required | optional | COMMON_KEYS, f"a {kind} column")
    for key in sorted(required - set(spec)):
        raise where.fail(key, f"a {kind} column needs it", f"add {key} = ...")

    params: dict[str, Any] = {}
    mess: dict[str, float] = {}
    for key, value in spec.items():
        if key in COMMON_KEYS - {"missing"}:
            continue
        if key in RATE_KEYS or key == "missing":
            mess[key] = _rate(where, key, value)
        elif key in NUMBER_KEYS and not (key in DATE_VALUE_KEYS and kind != "id"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise where.fail(key, f"{value!r} is not a number", "write a number")
            params[key] = value
        else:
            params[key] = value
    if "unit_factor" in params:
        mess["unit_factor"] = float(params.pop("unit_factor"))

    _check_kind_params(where, kind, params, locale, start, end)
    effects = spec.get("effects", [])
    if not isinstance(effects, list):
        raise where.fail("effects", "is not a list", "write effects = [{ when = ... }]")
    for effect in effects:
        _check_effect(where, kind, effect, params)
    return ColumnSpec(
        name=name,
        kind=kind,
        params=params,
        description=str(spec.get("description", "")),
        hidden=bool(spec.get("hidden", False)),
        effects=tuple(effects),
        mess=mess,
    )


def _check_kind_params(
    where: _Where,
    kind: str,
    params: dict[str, Any],
    locale: str,
    start: dt.date,
    end: dt.date,
) -> None:
    if kind == "provider":
        _check_provider(where, str(params["provider"]))
        if "locale" in params:
            _check_locale(where, "locale", str(params["locale"]))
        params.setdefault("locale", locale)
        if not isinstance(params.get("args", {}), dict):
            raise where.fail("args", "is not a table", "write args = { key = value }")
    elif kind == "category":
        values = params["values"]
        if not isinstance(values, list) or not values:
            raise where.fail("values", "is not a non-empty list", 'write ["a", "b"]')
        if "weights" in params:
            _check_weights(where, "weights", params["weights"], len(values))
    elif kind in ("date", "timestamp"):
        params["start"] = _as_date(where, "start", params.get("start", start))
        params["end"] = _as_date(where, "end", params.get("end", end))
        if params["end"] < params["start"]:
            raise where.fail("end", "is before start", "swap start and end")
        for key, length in WEIGHT_LENGTHS.items():
            if key in params:
                _check_weights(where, key, params[key], length)
    elif kind == "foreign_key":
        ref = str(params["references"])
        if ref.count(".") != 1:
            raise where.fail(
                "references",
                f"{ref!r} is not TABLE.COLUMN",
                'write "customers.customer_id"',
            )
    elif kind == "bernoulli" and not 0 <= params["p"] <= 1:
        raise where.fail("p", f"{params['p']} is not a probability", "use 0 to 1")
    for key in ("sd", "sigma", "lam"):
        if key in params and params[key] < 0:
            raise where.fail(key, f"{params[key]} is negative", "use 0 or more")


def _check_effect(
    where: _Where, kind: str, effect: Any, params: dict[str, Any]
) -> None:
    if not isinstance(effect, dict) or "when" not in effect:
        raise where.fail(
            "effects", "each effect needs a 'when' condition", 'write { when = "..." }'
        )
    where.unknown_keys(effect, EFFECT_KEYS, "an effect")
    if kind == "category":
        if set(effect) - {"when", "weights"}:
            raise where.fail(
                "effects", "category effects only take weights", "drop the rest"
            )
        _check_weights(
            where, "effects.weights", effect.get("weights"), len(params["values"])
        )
    elif kind in ("normal", "lognormal", "poisson", "uniform", "bernoulli", "derived"):
        if "weights" in effect:
            raise where.fail(
                "effects", "weights only apply to categories", "use multiply or add"
            )
    else:
        raise where.fail("effects", f"a {kind} column takes no effects", "remove them")


def _parse_finding(path: Path, index: int, spec: Any) -> Finding:
    where = _Where(path, f"findings[{index}]")
    if not isinstance(spec, dict):
        raise where.fail("", "is not a table", "write it as [[findings]]")
    where.unknown_keys(spec, FINDING_KEYS, "a finding")
    check = spec.get("check")
    if not isinstance(check, dict):
        raise where.fail(
            "check", "is missing", "add [findings.check] with sql and expected"
        )
    where.unknown_keys(check, CHECK_KEYS, "a finding's check")
    for key in ("title", "analysis"):
        if not spec.get(key):
            raise where.fail(key, "is missing", f"add {key} = ...")
    for key in ("sql", "expected", "tolerance"):
        if key not in check:
            raise where.fail(f"check.{key}", "is missing", f"add {key} = ...")
    return Finding(
        title=str(spec["title"]),
        description=str(spec.get("description", "")),
        analysis=str(spec["analysis"]),
        sql=str(check["sql"]),
        expected=float(check["expected"]),
        tolerance=float(check["tolerance"]),
        parse_dates=tuple(check.get("parse_dates", [])),
    )


def _check_references(scenario: Scenario) -> None:
    for table in scenario.tables.values():
        where = _Where(scenario.path, table.name)
        if table.parent is not None and table.parent not in scenario.tables:
            raise where.fail(
                "parent",
                f"no table is called {table.parent!r}",
                _suggest(table.parent, scenario.tables),
            )
        for column in table.columns.values():
            cwhere = _Where(scenario.path, table.name, column.name)
            if column.kind == "foreign_key":
                ref_table, ref_column = str(column.params["references"]).split(".")
                if ref_table not in scenario.tables:
                    raise cwhere.fail(
                        "references",
                        f"no table is called {ref_table!r}",
                        _suggest(ref_table, scenario.tables),
                    )
                if ref_column not in scenario.tables[ref_table].columns:
                    raise cwhere.fail(
                        "references",
                        f"table {ref_table!r} has no column {ref_column!r}",
                        _suggest(ref_column, scenario.tables[ref_table].columns),
                    )
            elif column.kind == "lookup":
                key = table.columns.get(str(column.params["key"]))
                if key is None or key.kind != "foreign_key":
                    raise cwhere.fail(
                        "key",
                        f"{column.params['key']!r} is not a foreign_key column here",
                        "name a foreign_key column defined above it",
                    )
                ref_table = str(key.params["references"]).split(".")[0]
                wanted = column.params["column"]
                if wanted not in scenario.tables[ref_table].columns:
                    raise cwhere.fail(
                        "column",
                        f"table {ref_table!r} has no column {wanted!r}",
                        _suggest(
                            str(column.params["column"]),
                            scenario.tables[ref_table].columns,
                        ),
                    )
            elif column.kind == "parent":
                if table.parent is None:
                    raise cwhere.fail(
                        "kind",
                        "parent columns need a table with 'parent'",
                        "set parent = ...",
                    )
                parent_columns = scenario.tables[table.parent].columns
                wanted = column.params["column"]
                if wanted not in parent_columns:
                    raise cwhere.fail(
                        "column",
                        f"table {table.parent!r} has no column {wanted!r}",
                        _suggest(str(column.params["column"]), parent_columns),
                    )


def _visit(
    scenario: Scenario, name: str, order: list[str], path: tuple[str, ...]
) -> None:
    if name in order:
        return
    if name in path:
        cycle = " -> ".join((*path, name))
        raise ScenarioError(
            f"{scenario.path}: table '{name}': tables depend on each other in a "
            f"cycle ({cycle}); break it by removing one foreign key or parent."
        )
    table = scenario.tables[name]
    needs = [table.parent] if table.parent else []
    needs += [
        str(column.params["references"]).split(".")[0]
        for column in table.columns.values()
        if column.kind == "foreign_key"
    ]
    for need in needs:
        if need != name:
            _visit(scenario, need, order, (*path, name))
    order.append(name)


def _named(table: TableSpec, texts: list[str]) -> list[tuple[str, str]]:
    words = {word for text in texts for word in re.findall(r"[A-Za-z_]\w*", text)}
    return [(table.name, name) for name in table.columns if name in words]


def _reads(scenario: Scenario, table_name: str, name: str) -> list[tuple[str, str]]:
    """The (table, column) pairs one column's values are drawn from."""
    table = scenario.tables[table_name]
    column = table.columns[name]
    params = column.params
    texts = [str(effect["when"]) for effect in column.effects]
    texts += [str(params[key]) for key in ("expr", "after", "key") if key in params]
    reads = _named(table, texts)
    if column.kind == "foreign_key":
        reads.append(tuple(str(params["references"]).split(".")))
    elif column.kind == "lookup":
        key = table.columns[str(params["key"])]
        reads.append((str(key.params["references"]).split(".")[0], params["column"]))
    elif column.kind == "parent" and table.parent is not None:
        reads.append((table.parent, params["column"]))
    return reads


def _suggest(name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=3)
    if close:
        return f"did you mean {' or '.join(repr(c) for c in close)}"
    return f"use one of {', '.join(known)}"


def _rate(where: _Where, key: str, value: Any) -> float:
    if value is True:
        return DEFAULT_RATES.get(key, 0.02)
    if value is False:
        return 0.0
    if isinstance(value, int | float) and 0 <= value < 1:
        return float(value)
    raise where.fail(
        key,
        f"{value!r} is not a rate",
        "use a fraction from 0 (off) to below 1, or true",
    )


def _as_date(where: _Where, key: str, value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise where.fail(
            key, f"{value!r} is not a date", "write it as 2024-01-31"
        ) from None


def _check_weights(where: _Where, key: str, weights: Any, length: int) -> None:
    if (
        not isinstance(weights, list)
        or len(weights) != length
        or not all(isinstance(w, int | float) and w >= 0 for w in weights)
        or sum(weights) <= 0
    ):
        raise where.fail(
            key,
            f"needs {length} non-negative numbers that are not all zero",
            f"give exactly {length} weights",
        )


def _check_locale(where: _Where, key: str, locale: str) -> None:
    from mimesis.locales import Locale

    known = [item.value for item in Locale]
    if locale not in known:
        close = difflib.get_close_matches(locale, known, n=3)
        hint = f"did you mean {' or '.join(close)}" if close else "use e.g. en or de"
        raise where.fail(key, f"{locale!r} is not a mimesis locale", hint)


def provider_names() -> list[str]:
    """List every 'provider.method' name a provider column may use."""
    from mimesis import Generic

    generic = Generic()
    names = []
    for provider in dir(generic):
        if provider.startswith("_"):
            continue
        obj = getattr(generic, provider)
        if callable(obj) and not hasattr(obj, "Meta"):
            continue
        for method in dir(obj):
            if not method.startswith("_") and callable(getattr(obj, method, None)):
                names.append(f"{provider}.{method}")
    return sorted(set(names))


def _check_provider(where: _Where, name: str) -> None:
    known = provider_names()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = (
            f"did you mean {' or '.join(close)}"
            if close
            else ("see `python -m datagen providers` for the full list")
        )
        raise where.fail("provider", f"{name!r} is not a mimesis provider", hint)
