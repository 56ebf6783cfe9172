#!/usr/bin/env python3
# Benchmark for datagen: rows/s for a 1,000,000-row shop orders table to Parquet
# against a row-by-row Faker baseline. Run by hand: python bench/datagen_bench.py
"""Prints datagen's speed and peak memory next to a straightforward Faker generator."""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ORDERS_AT_SCALE_1 = 12_000
CUSTOMERS_PER_ORDER = 3_000 / 12_000
START, END = dt.date(2023, 1, 1), dt.date(2024, 12, 31)
CHANNELS = OrderedDict([("web", 0.55), ("app", 0.38), ("phone", 0.07)])
STATUSES = OrderedDict([("delivered", 0.91), ("cancelled", 0.05), ("refunded", 0.04)])
FEES = OrderedDict([(0.0, 0.45), (3.95, 0.4), (6.95, 0.15)])
# The goal: at least this many times the Faker baseline's rows/s.
TARGET_RATIO = 100
ALT_FORMATS = ("%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%b %d %Y", "%Y%m%d")


def run_pairlab(rows: int, out_dir: Path) -> dict[str, float]:
    """Generate the shop scenario's orders table (and the customers it needs)."""
    sys.path.insert(0, str(REPO))
    from datagen import build_dataset, load_scenario
    from datagen.output import write_table

    scenario = load_scenario("shop")
    scale = rows / ORDERS_AT_SCALE_1
    started = time.perf_counter()
    customers = build_dataset(scenario, seed=42, scale=scale, only={"customers"})
    orders_started, cpu_started = time.perf_counter(), time.process_time()
    dataset = build_dataset(
        scenario, seed=42, scale=scale, only={"orders"}, given=customers.clean
    )
    write_table(dataset.tables["orders"], out_dir / "orders.parquet", fmt="parquet")
    finished = time.perf_counter()
    return {
        "rows": dataset.tables["orders"].height,
        "seconds": finished - orders_started,
        "cpu_seconds": time.process_time() - cpu_started,
        "with_customers_seconds": finished - started,
        "customers": customers.clean["customers"].height,
    }


def run_faker(rows: int, out_dir: Path) -> dict[str, float]:
    """The obvious way: one Faker call per value, one dict per row, then pandas."""
    import pandas as pd
    from faker import Faker

    fake = Faker("en_US")
    Faker.seed(42)
    rng = random.Random(42)
    started, cpu_started = time.perf_counter(), time.process_time()

    customer_ids = list(range(1001, 1001 + max(1, int(rows * CUSTOMERS_PER_ORDER))))
    rng.shuffle(customer_ids)
    cumulative = list(
        itertools.accumulate(1 / r for r in range(1, len(customer_ids) + 1))
    )
    records = []
    for order_id in range(500_001, 500_001 + rows):
        order_date = fake.date_between(start_date=START, end_date=END)
        delivery_days = 1 + fake.pyint(min_value=0, max_value=6)
        channel = fake.random_element(CHANNELS)
        if rng.random() < 0.03:
            channel = rng.choice([channel.upper(), channel.title(), f" {channel}"])
        date_text = order_date.isoformat()
        if rng.random() < 0.003:
            date_text = order_date.replace(year=order_date.year + 40).isoformat()
        if rng.random() < 0.04:
            date_text = order_date.strftime(rng.choice(ALT_FORMATS))
        if rng.random() < 0.005:
            delivery_days *= rng.randint(8, 25)
        if rng.random() < 0.004:
            delivery_days = -delivery_days
        records.append(
            {
                "order_id": order_id,
                "customer_id": rng.choices(customer_ids, cum_weights=cumulative)[0],
                "order_date": date_text,
                "channel": channel,
                "status": fake.random_element(STATUSES),
                "shipping_fee": fake.random_element(FEES),
                "delivery_days": None if rng.random() < 0.03 else delivery_days,
            }
        )
        if rng.random() < 0.01:
            records.append(dict(records[-1]))
    pd.DataFrame.from_records(records).to_parquet(out_dir / "orders.parquet")
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    return {"rows": len(records), "seconds": seconds, "cpu_seconds": cpu_seconds}


def child(side: str, rows: int) -> None:
    """Run one side in this process and print its figures as JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        result = (run_pairlab if side == "pairlab" else run_faker)(rows, Path(tmp))
    # Linux reports ru_maxrss in KiB.
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(side: str, rows: int) -> dict[str, float]:
    """Run one side in a fresh interpreter so peak memory is its own."""
    output = subprocess.run(
        [sys.executable, __file__, "--child", side, "--rows", str(rows)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--rows", type=int, default=1_000_000, help="pairlab orders rows"
    )
    parser.add_argument(
        "--faker-rows",
        type=int,
        default=20_000,
        help="Faker rows, extrapolated as rows/s",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=5,
        help="fresh runs of each side, taking turns; the median is reported",
    )
    parser.add_argument("--child", choices=["pairlab", "faker"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows)
        return 0

    # Taking turns spreads whatever else the machine is doing over both sides.
    runs: dict[str, list[dict[str, float]]] = {"pairlab": [], "faker": []}
    for _ in range(max(1, args.repeats)):
        runs["pairlab"].append(measure("pairlab", args.rows))
        runs["faker"].append(measure("faker", args.faker_rows))
    pairlab = _median_run(runs["pairlab"])
    faker = _median_run(runs["faker"])
    pairlab_rate = pairlab["rows"] / pairlab["seconds"]
    faker_rate = faker["rows"] / faker["seconds"]
    ratio = pairlab_rate / faker_rate
    print("datagen benchmark: shop orders table with its imperfections, to Parquet")
    print(
        f"pairlab datagen : {pairlab['rows']:>9,.0f} rows in "
        f"{pairlab['seconds']:6.2f} s"
        f" = {pairlab_rate:>11,.0f} rows/s, peak memory {pairlab['peak_mib']:,.0f} MiB"
        " (orders only)"
    )
    print(
        f"  incl. parents : {pairlab['customers']:>9,.0f} customers drawn first; orders"
        f" plus customers took {pairlab['with_customers_seconds']:.2f} s ="
        f" {pairlab['rows'] / pairlab['with_customers_seconds']:,.0f} orders rows/s"
    )
    print(
        f"Faker row-by-row: {faker['rows']:>9,.0f} rows in {faker['seconds']:6.2f} s"
        f" = {faker_rate:>11,.0f} rows/s, peak memory {faker['peak_mib']:,.0f} MiB"
        f" (measured on {faker['rows']:,.0f} rows; rows/s extrapolates to 1,000,000)"
    )
    print(
        f"runs            : median of {len(runs['pairlab'])} fresh runs each; pairlab"
        f" {_spread(runs['pairlab'])}, Faker {_spread(runs['faker'])}"
    )
    # CPU time counts every thread and leaves out waiting for a busy machine, so
    # next to wall time it shows how much other work slowed each side down.
    print(
        f"CPU time        : pairlab {pairlab['cpu_seconds']:.2f} s for"
        f" {pairlab['seconds']:.2f} s of wall time; Faker"
        f" {faker['cpu_seconds']:.2f} s for {faker['seconds']:.2f} s;"
        f" load average {os.getloadavg()[0]:.1f} at the end"
    )
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"speed ratio     : {ratio:,.0f}x faster (target {TARGET_RATIO}x: {verdict})")
    return 0


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median time, so its figures belong together."""
    return sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]


def _spread(runs: list[dict[str, float]]) -> str:
    rates = sorted(run["rows"] / run["seconds"] for run in runs)
    return f"{rates[0]:,.0f} to {rates[-1]:,.0f} rows/s"


if __name__ == "__main__":
    raise SystemExit(main())
