"""Command line for datagen: list, validate, generate, answer-key and prepare.

Examples:
    python -m datagen list
    python -m datagen validate my_scenario.toml
    python -m datagen generate --out ./dataset --scale 10
    python -m datagen answer-key shop --seed 7
    docker compose run --rm datagen answer-key
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from datagen.engine import build_dataset
from datagen.errors import DatagenError, SettingError
from datagen.output import FORMATS, write_dataset
from datagen.scenario import builtin_scenarios, load_scenario

log = logging.getLogger("datagen")

DEFAULT_SCENARIO = "shop"
DEFAULT_SEED = 42
DEFAULT_SCALE = 1.0
MAX_SCALE = 10_000.0
PREPARE_OUT = Path("/dataset")
PREPARE_INCLUDE = Path("/input")
# The dry run that `validate` does before anything is written; small enough to
# take a blink, big enough to exercise every expression once.
VALIDATION_ROWS = 200


@dataclass(frozen=True)
class Settings:
    """The knobs every subcommand shares, from the command line or the environment."""

    scenario: str
    seed: int
    scale: float
    formats: tuple[str, ...]


def settings_from(args: argparse.Namespace, env: dict[str, str]) -> Settings:
    """Combine options with DATASET* variables; options win, bad values fail clearly."""
    scenario = getattr(args, "scenario", None) or env.get("DATASET") or DEFAULT_SCENARIO

    raw_seed = args.seed if args.seed is not None else env.get("DATASET_SEED", "")
    seed = DEFAULT_SEED
    if str(raw_seed).strip():
        try:
            seed = int(str(raw_seed).strip())
        except ValueError:
            seed = -1
        if not 0 <= seed < 2**63:
            raise SettingError(
                f"DATASET_SEED={raw_seed!r} (in .env or --seed) is not a whole number "
                f"from 0 up; set it to an integer such as {DEFAULT_SEED}."
            )

    raw_scale = args.scale if args.scale is not None else env.get("DATASET_SCALE", "")
    scale = DEFAULT_SCALE
    if str(raw_scale).strip():
        try:
            scale = float(str(raw_scale).strip())
        except ValueError:
            scale = -1.0
        if not 0 < scale <= MAX_SCALE:
            raise SettingError(
                f"DATASET_SCALE={raw_scale!r} (in .env or --scale) is not a number "
                f"above 0 and at most {MAX_SCALE:g}; set it to e.g. 1 (interview size) "
                "or 100 (about a million orders)."
            )

    raw_formats = (
        args.formats if args.formats is not None else env.get("DATASET_FORMATS", "")
    )
    formats = FORMATS
    if str(raw_formats).strip():
        chosen = [
            part.strip().lower() for part in str(raw_formats).split(",") if part.strip()
        ]
        if not chosen or any(part not in FORMATS for part in chosen):
            raise SettingError(
                f"DATASET_FORMATS={raw_formats!r} (in .env or --formats) names an "
                "unknown format; set it to csv, parquet or csv,parquet."
            )
        formats = tuple(fmt for fmt in FORMATS if fmt in chosen)
    return Settings(scenario=scenario, seed=seed, scale=scale, formats=formats)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with help that reads like a man page."""
    scenarios = ", ".join(builtin_scenarios()) or "(none found)"
    parser = argparse.ArgumentParser(
        prog="python -m datagen",
        description=(
            "Generate realistic, reproducible, deliberately imperfect datasets for "
            f"data-science interviews. Built-in scenarios: {scenarios}."
        ),
        epilog=(
            "Environment: DATASET (scenario name or .toml path, default shop), "
            "DATASET_SEED (default 42), DATASET_SCALE (default 1.0), "
            "DATASET_FORMATS (default csv,parquet). Options override them. "
            "Example: python -m datagen generate --out ./dataset --scale 10"
        ),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser("list", help="list the built-in scenarios and their tables")
    commands.add_parser("providers", help="list the mimesis providers a column may use")

    validate = commands.add_parser(
        "validate", help="check a scenario file and dry-run it; writes nothing"
    )
    _common(validate)

    generate = commands.add_parser("generate", help="write a dataset into a folder")
    _common(generate)
    generate.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="folder to write into"
    )
    generate.add_argument(
        "--include",
        type=Path,
        metavar="DIR",
        help="folder of your own files to ship beside the generated ones",
    )

    key = commands.add_parser(
        "answer-key", help="print the planted findings and traps; writes nothing"
    )
    _common(key)

    prepare = commands.add_parser(
        "prepare",
        help=(
            f"what the compose service runs: generate into {PREPARE_OUT} with "
            f"{PREPARE_INCLUDE} included, then run datagen/access.py if present"
        ),
    )
    _common(prepare, positional=False)
    prepare.add_argument(
        "--out", type=Path, default=PREPARE_OUT, help=argparse.SUPPRESS
    )
    prepare.add_argument(
        "--include", type=Path, default=PREPARE_INCLUDE, help=argparse.SUPPRESS
    )
    return parser


def _common(parser: argparse.ArgumentParser, *, positional: bool = True) -> None:
    if positional:
        parser.add_argument(
            "scenario",
            nargs="?",
            metavar="SCENARIO",
            help="built-in name or path to a .toml file (default: $DATASET or shop)",
        )
    parser.add_argument("--seed", help="random seed (default: $DATASET_SEED or 42)")
    parser.add_argument(
        "--scale",
        help="size multiplier, 1 is interview size (default: $DATASET_SCALE or 1)",
    )
    parser.add_argument(
        "--formats",
        help="csv, parquet or csv,parquet (default: $DATASET_FORMATS or both)",
    )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    logging.basicConfig(
        level=logging.INFO,
        format="%(levelname)s[%(asctime)s] %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except DatagenError as error:
        log.error("%s", error)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


def cmd_list(args: argparse.Namespace) -> int:
    for name, path in builtin_scenarios().items():
        scenario = load_scenario(path)
        print(f"{name:<16}{scenario.title}: {', '.join(scenario.tables)}")
    return 0


def cmd_providers(args: argparse.Namespace) -> int:
    from datagen.scenario import provider_names

    print("\n".join(provider_names()))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    settings = settings_from(args, dict(os.environ))
    scenario = load_scenario(settings.scenario)
    dataset = build_dataset(scenario, seed=settings.seed, row_cap=VALIDATION_ROWS)
    from datagen.findings import observe

    for finding in scenario.findings:
        observe(dataset, finding)
    columns = sum(len(table.columns) for table in scenario.tables.values())
    print(
        f"{scenario.path}: valid ({len(scenario.tables)} tables, {columns} columns, "
        f"{len(scenario.findings)} planted findings)"
    )
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    settings = settings_from(args, dict(os.environ))
    started = time.perf_counter()
    scenario = load_scenario(settings.scenario)
    log.info(
        "datagen generating scenario %s with DATASET_SEED=%d DATASET_SCALE=%g "
        "DATASET_FORMATS=%s",
        scenario.name,
        settings.seed,
        settings.scale,
        ",".join(settings.formats),
    )
    dataset = build_dataset(scenario, seed=settings.seed, scale=settings.scale)
    generated = time.perf_counter()
    manifest = write_dataset(
        dataset, args.out, formats=settings.formats, include_dir=args.include
    )
    finished = time.perf_counter()
    log.info(
        "datagen generated %d tables, %s rows, in %.1f s",
        len(dataset.tables),
        f"{dataset.total_rows:,}",
        generated - started,
    )
    log.info(
        "datagen wrote %d tables, %s rows, %d included files, to %s in %.1f s",
        len(dataset.tables),
        f"{dataset.total_rows:,}",
        len(manifest["included_files"]),
        args.out,
        finished - started,
    )
    return 0


def cmd_answer_key(args: argparse.Namespace) -> int:
    from datagen.findings import answer_key

    settings = settings_from(args, dict(os.environ))
    scenario = load_scenario(settings.scenario)
    dataset = build_dataset(scenario, seed=settings.seed, scale=settings.scale)
    sys.stdout.write(answer_key(dataset))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    status = cmd_generate(args)
    if status != 0:
        return status
    try:
        access = importlib.import_module("datagen.access")
    except ModuleNotFoundError as error:
        if error.name != "datagen.access":
            raise
        return 0
    return int(access.main() or 0)


COMMANDS = {
    "list": cmd_list,
    "providers": cmd_providers,
    "validate": cmd_validate,
    "generate": cmd_generate,
    "answer-key": cmd_answer_key,
    "prepare": cmd_prepare,
}
