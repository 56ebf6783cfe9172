"""Command line for datagen: list, validate, generate, answer-key and more."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from datagen.engine import build_dataset
from datagen.errors import DatagenError, SettingError
from datagen.output import FORMATS, included_files, write_dataset
from datagen.scenario import builtin_scenarios, custom_scenarios, load_scenario

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


class _Parser(argparse.ArgumentParser):
    """An argument parser whose mistakes read like every other datagen error."""

    def error(self, message: str) -> NoReturn:
        log.error(
            "%s: %s; run `%s --help` for the options and examples.",
            self.prog,
            message,
            self.prog,
        )
        raise SystemExit(2)


def _command(
    commands: argparse._SubParsersAction, name: str, summary: str, text: str
) -> argparse.ArgumentParser:
    return commands.add_parser(
        name,
        help=summary,
        description=textwrap.dedent(text).strip(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with help that reads like a man page."""
    scenarios = ", ".join(builtin_scenarios()) or "(none found)"
    parser = _Parser(
        prog="python -m datagen",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=textwrap.dedent(
            f"""
            Generate realistic, reproducible, deliberately imperfect datasets for
            data-science interviews, from scenario files that plant findings for
            a good candidate to uncover.

            Built-in scenarios: {scenarios}.
            Your own: .toml files in ./scenarios, named without the .toml.
            Writing one: see datagen/README.md.
            """
        ).strip(),
        epilog=textwrap.dedent(
            """
            environment (an option on the command line wins):
              DATASET          scenario name or .toml path (default: shop)
              DATASET_SEED     random seed, a whole number (default: 42)
              DATASET_SCALE    size multiplier, 1 is interview size (default: 1)
              DATASET_FORMATS  csv, parquet or csv,parquet (default: both)

            examples:
              python -m datagen list
              python -m datagen validate scenarios/my_case.toml
              python -m datagen answer-key my_case --seed 7
              python -m datagen generate shop --out ./dataset --scale 10
              docker compose run --rm datagen answer-key

            Run `python -m datagen COMMAND --help` for each command's details.
            """
        ).strip(),
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    _command(
        commands,
        "list",
        "list the scenarios you can name, built-in and your own",
        """
        List every scenario DATASET can name: the built-in ones, then the .toml
        files in your scenarios folder, each with its title and tables.

        example:
          python -m datagen list
        """,
    )
    _command(
        commands,
        "providers",
        "list the mimesis providers a provider column may use",
        """
        List every provider.method a column of kind "provider" may name, such as
        person.full_name or address.city.

        example:
          python -m datagen providers | grep address
        """,
    )
    validate = _command(
        commands,
        "validate",
        "check a scenario and dry-run it on a few rows; writes nothing",
        f"""
        Check a scenario file, draw {VALIDATION_ROWS} rows of each table and run
        every planted finding's check query, so that a mistake shows up as one
        sentence naming the file, table, column and key to fix. Writes nothing.
        Exits 0 if the scenario is valid and 2 if not.

        examples:
          python -m datagen validate scenarios/my_case.toml
          docker compose run --rm datagen validate my_case
        """,
    )
    _common(validate)

    generate = _command(
        commands,
        "generate",
        "write a dataset into a folder",
        """
        Generate the scenario's tables and write them into a folder with a data
        dictionary (data_dictionary.md and .json) and a manifest.json of
        checksums. The folder shows either the old dataset or the whole new one,
        never a half-written mix. The same scenario, seed and scale always give
        the same bytes.

        examples:
          python -m datagen generate --out ./dataset
          python -m datagen generate subscriptions --out ./dataset --seed 7
          python -m datagen generate shop --out ./big --scale 100 --formats parquet
        """,
    )
    _common(generate)
    generate.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder to write into; files datagen wrote there before are replaced",
    )
    generate.add_argument(
        "--include",
        type=Path,
        metavar="DIR",
        help="folder of your own files to ship beside the generated ones",
    )

    key = _command(
        commands,
        "answer-key",
        "print the planted findings and data traps; writes nothing",
        """
        Print the interviewer's answer key to standard output: each planted
        finding, how a candidate would find it, its check query and the value
        this very dataset shows, then every data-quality trap with its rate.
        Use the seed and scale the interview uses. Never send it to the
        candidate: datagen never writes it into the dataset.

        examples:
          python -m datagen answer-key shop
          docker compose run --rm datagen answer-key > answer-key.txt
        """,
    )
    _common(key)

    prepare = _command(
        commands,
        "prepare",
        "what the compose service runs at `docker compose up`",
        f"""
        Check the interview's settings in .env, generate the dataset DATASET
        names into {PREPARE_OUT} with the files of {PREPARE_INCLUDE} (your ./data
        folder) beside it, then issue the interview's logins. The compose service
        runs it at `docker compose up`; you rarely need to.

        example, as the compose service runs it:
          python -m datagen prepare
        """,
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
            help=(
                "built-in name, name of a file in ./scenarios, or path to a .toml "
                "file (default: $DATASET, else shop)"
            ),
        )
    parser.add_argument(
        "--seed",
        metavar="N",
        help="random seed, a whole number (default: $DATASET_SEED, else 42)",
    )
    parser.add_argument(
        "--scale",
        metavar="X",
        help="size multiplier, 1 is interview size (default: $DATASET_SCALE, else 1)",
    )
    parser.add_argument(
        "--formats",
        metavar="LIST",
        help="csv, parquet or csv,parquet (default: $DATASET_FORMATS, else both)",
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
    except OSError as error:
        # A folder that is missing, read-only or full: say which, not a traceback.
        where = error.filename or "a file datagen needed"
        log.error(
            "%s: %s; check that the path exists and that datagen may read and write "
            "it (in compose, the volumes and ./data, ./scenarios mounts).",
            where,
            error.strerror or error,
        )
        return 1
    except KeyboardInterrupt:
        return 130


def cmd_list(args: argparse.Namespace) -> int:
    rows = [("built-in", name, path) for name, path in builtin_scenarios().items()]
    rows += [("yours", name, path) for name, path in custom_scenarios().items()]
    for origin, name, path in rows:
        try:
            scenario = load_scenario(path)
        except DatagenError:
            print(f"{name:<16}{origin:<10}not valid: run `validate {name}` to see why")
            continue
        print(f"{name:<16}{origin:<10}{scenario.title}: {', '.join(scenario.tables)}")
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
    # Refuse a scenario file among the included files before spending the time.
    included_files(args.include)
    log.info(
        "datagen generating scenario %s (%s) with DATASET_SEED=%d DATASET_SCALE=%g "
        "DATASET_FORMATS=%s",
        scenario.name,
        scenario.path,
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
    # The interview's other settings are checked first, so a typo in .env stops
    # before the candidate's dataset is touched.
    access = importlib.import_module("datagen.access")
    status = access.check_settings() or cmd_generate(args)
    if status != 0:
        return status
    return int(access.main() or 0)


COMMANDS = {
    "list": cmd_list,
    "providers": cmd_providers,
    "validate": cmd_validate,
    "generate": cmd_generate,
    "answer-key": cmd_answer_key,
    "prepare": cmd_prepare,
}
