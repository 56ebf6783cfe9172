"""Checks planted findings against generated data and renders the interviewer's key."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from datagen.engine import Dataset
from datagen.errors import ScenarioError
from datagen.mess import ALTERNATIVE_DATE_FORMATS, ALTERNATIVE_TIME_FORMATS
from datagen.scenario import DEFAULT_RATES, Finding

# What a candidate would try, in order, on a column with mixed date formats;
# day-first wins over month-first, as in most of the world.
PARSE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
    *ALTERNATIVE_TIME_FORMATS,
    *ALTERNATIVE_DATE_FORMATS,
)

KNOB_WORDS = {
    "missing": "missing values",
    "outliers": "outliers (8-25x the true value)",
    "impossible": "impossible values (negative numbers or dates decades ahead)",
    "unit_mixup": "unit mix-ups",
    "case_noise": "inconsistent case, stray spaces or misspellings",
    "date_formats": "non-ISO date formats",
    "orphans": "orphan keys with no parent row",
}


@dataclass(frozen=True)
class Observation:
    """A finding's stated size next to what the generated data shows."""

    finding: Finding
    observed: float

    @property
    def holds(self) -> bool:
        """Whether the data shows the finding within its stated tolerance."""
        return abs(self.observed - self.finding.expected) <= self.finding.tolerance


def parse_mixed_dates(series: pl.Series) -> pl.Series:
    """Parse a text column of dates written in several formats into datetimes."""
    if series.dtype != pl.String:
        return series.cast(pl.Datetime("us"))
    attempts = [
        series.str.strptime(pl.Datetime("us"), fmt, strict=False)
        for fmt in PARSE_FORMATS
    ]
    return pl.select(pl.coalesce(attempts)).to_series().alias(series.name)


def observe(dataset: Dataset, finding: Finding) -> Observation:
    """Run a finding's check query on the shipped tables and return its value."""
    frames = dict(dataset.tables)
    for target in finding.parse_dates:
        table, column = target.split(".")
        frames[table] = frames[table].with_columns(
            parse_mixed_dates(frames[table][column])
        )
    context = pl.SQLContext(frames=frames, eager=True)
    try:
        result = context.execute(finding.sql)
    except pl.exceptions.PolarsError as error:
        first_line = str(error).strip().splitlines()[0]
        raise ScenarioError(
            f"{dataset.scenario.path}: finding '{finding.title}', key 'check.sql': the "
            f"query failed ({first_line}); fix the SQL so it returns one number."
        ) from None
    if result.height < 1 or result.width < 1 or result[0, 0] is None:
        raise ScenarioError(
            f"{dataset.scenario.path}: finding '{finding.title}', key 'check.sql': the "
            "query returned no value; make it return one row with one number."
        )
    return Observation(finding=finding, observed=float(result[0, 0]))


def answer_key(dataset: Dataset) -> str:
    """The interviewer's answer key as plain text: findings first, then traps."""
    scenario = dataset.scenario
    lines = [
        f"# Answer key: {scenario.title}",
        "",
        f"Scenario {scenario.name}, seed {dataset.seed}, scale {dataset.scale:g}.",
        "For the interviewer only: datagen never writes this into the dataset.",
        "",
        "## Planted findings",
        "",
    ]
    for number, finding in enumerate(scenario.findings, start=1):
        observation = observe(dataset, finding)
        verdict = (
            "holds" if observation.holds else "OUTSIDE TOLERANCE at this seed/scale"
        )
        lines += [f"{number}. {finding.title}", ""]
        if finding.description:
            lines += [_indent(finding.description), ""]
        lines += [_indent(f"How to find it: {finding.analysis}"), ""]
        parsed = ", ".join(finding.parse_dates)
        where = (
            f"with {parsed} parsed to dates first" if parsed else "as they are shipped"
        )
        lines += [
            _indent(f"Check, as polars SQL (pl.SQLContext) over the tables, {where}:"),
            "",
        ]
        lines += ["      " + line.rstrip() for line in finding.sql.strip().splitlines()]
        lines += [
            "",
            _indent(
                f"Expected {finding.expected:g} +/- {finding.tolerance:g}; "
                f"this dataset shows {observation.observed:.3f} ({verdict})."
            ),
            "",
        ]
    lines += ["## Data-quality traps", ""]
    lines += traps(dataset) or ["- none: every imperfection knob is off"]
    return "\n".join(lines) + "\n"


def traps(dataset: Dataset) -> list[str]:
    """One line per planted imperfection, with its rate and the rows it touched."""
    lines = []
    for table in dataset.scenario.tables.values():
        height = dataset.clean[table.name].height
        if table.duplicates > 0:
            lines.append(
                f"- {table.name}: {table.duplicates:.1%} exact duplicate rows "
                f"({round(table.duplicates * height):,} rows)"
            )
        for column in table.columns.values():
            if column.hidden:
                continue
            for knob, rate in column.mess.items():
                if knob in KNOB_WORDS and rate > 0:
                    extra = ""
                    if knob == "unit_mixup":
                        factor = column.mess.get("unit_factor", 100)
                        extra = f", values {factor:g}x too large"
                    lines.append(
                        f"- {table.name}.{column.name}: {rate:.1%} {KNOB_WORDS[knob]}"
                        f"{extra} ({round(rate * height):,} rows)"
                    )
    return lines


def _indent(text: str, width: int = 3) -> str:
    return " " * width + text.strip()


__all__ = ["DEFAULT_RATES", "Observation", "answer_key", "observe", "parse_mixed_dates"]
