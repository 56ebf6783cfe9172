#!/usr/bin/env python3
# Benchmark for the export's playback page: a synthetic two-hour session, packed and
# replayed. Run by hand from the repo root: .venv/bin/python bench/playback_bench.py
"""Prints the playback page's size and slider cost beside naive full snapshots."""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "jupyter"))

from jupyter_ydoc import YNotebook  # noqa: E402
from pycrdt import Doc  # noqa: E402

from pairlab_jupyter.export import (  # noqa: E402
    pack,
    playback_script,
    render_playback,
    replay,
)

SESSION_SECONDS = 2 * 60 * 60
START = 1_780_000_000.0
SNIPPET = (
    "orders = pl.read_parquet(DATA / 'orders.parquet')\n"
    "summary = orders.group_by('channel').agg(pl.col('total').sum())\n"
)

# Jumps measured in the browser's engine: the page's own class against rebuilding a
# state from the first one, which is what a page without keyframes would do.
NODE_DRIVER = """
const { Playback } = require(process.argv[2]);
const data = require(process.argv[3]);
const notebook = Object.values(data.notebooks)[0];
let started = process.hrtime.bigint();
const playback = new Playback(notebook);
const buildMs = Number(process.hrtime.bigint() - started) / 1e6;
function fromScratch(index) {
  const sources = [];
  let order = [];
  for (let step = 0; step <= index; step++) {
    const state = notebook.states[step];
    if (state[1]) order = state[1];
    for (const [key, at, removed, inserted] of state[2]) {
      const old = sources[key] || "";
      sources[key] = old.slice(0, at) + inserted + old.slice(at + removed);
    }
  }
  return order.map((key) => sources[key] || "");
}
let seed = 7;
const jumps = Array.from({ length: 300 }, () => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % playback.length;
});
function timeEach(fn) {
  const times = jumps.map((index) => {
    const t = process.hrtime.bigint();
    fn(index);
    return Number(process.hrtime.bigint() - t) / 1e6;
  }).sort((a, b) => a - b);
  return { p50: times[150], max: times[times.length - 1] };
}
const keyframed = timeEach((index) => playback.stateAt(index));
const scratch = timeEach((index) => fromScratch(index));
console.log(JSON.stringify({ buildMs, keyframed, scratch }));
"""


def synthetic_session(seed: int) -> list[tuple[float, bytes]]:
    """Two hours of typing: a keystroke every 0.2-2 s, new cells, pastes, deletes."""
    rng = random.Random(seed)
    doc = Doc()
    notebook = YNotebook(doc)
    updates: list[tuple[float, bytes]] = []
    now = [START]
    doc.observe(lambda event: updates.append((now[0], event.update)))
    notebook.set({"cells": [], "metadata": {}})
    created = 0
    while now[0] < START + SESSION_SECONDS:
        now[0] += rng.uniform(0.2, 2.0)
        cells = notebook.ycells
        roll = rng.random()
        if roll < 0.01 or len(cells) == 0:
            source = {"id": f"c{created}", "cell_type": "code", "source": ""}
            source |= {"metadata": {}, "outputs": [], "execution_count": None}
            cells.append(notebook.create_ycell(source))
            created += 1
        elif roll < 0.015:
            text = cells[rng.randrange(len(cells))]["source"]
            text.insert(len(str(text)), SNIPPET)
        elif roll < 0.02 and len(cells) > 3:
            del cells[rng.randrange(len(cells))]
        else:
            text = cells[len(cells) - 1 - min(len(cells) - 1, int(rng.expovariate(1)))][
                "source"
            ]
            if rng.random() < 0.1 and len(str(text)) > 0:
                del text[len(str(text)) - 1]
            else:
                text.insert(len(str(text)), rng.choice("abcdefghij (),.=\n"))
    return updates


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()

    started = time.perf_counter()
    updates = synthetic_session(options.seed)
    print(f"synthetic session: {len(updates)} updates over 2 hours")

    started = time.perf_counter()
    states = replay(updates)
    replay_seconds = time.perf_counter() - started
    started = time.perf_counter()
    packed = pack(states)
    page = render_playback(title="bench", notebooks={"n.ipynb": packed}, runs=[])
    pack_seconds = time.perf_counter() - started
    naive = json.dumps(
        [[s.time, [list(c) for c in s.cells]] for s in states], separators=(",", ":")
    )
    cells = len(states[-1].cells)
    print(
        f"replay: {len(states)} states, {cells} cells at the end, {replay_seconds:.2f}s"
    )
    print(f"pack + render: {pack_seconds:.2f}s")
    print(
        f"page: {len(page.encode()) / 1e6:.2f} MB; full snapshots would be "
        f"{len(naive.encode()) / 1e6:.2f} MB of data alone "
        f"(ratio {len(naive.encode()) / len(page.encode()):.1f}x)"
    )

    if shutil.which("node") is None:
        print("node not found: slider timings skipped")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        (folder / "playback.js").write_text(playback_script(page))
        (folder / "data.json").write_text(json.dumps({"notebooks": {"n": packed}}))
        (folder / "driver.js").write_text(NODE_DRIVER)
        output = subprocess.run(
            [
                "node",
                str(folder / "driver.js"),
                str(folder / "playback.js"),
                str(folder / "data.json"),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    timings = json.loads(output)
    keyframed, scratch_times = timings["keyframed"], timings["scratch"]
    print(f"page load (keyframes): {timings['buildMs']:.1f} ms")
    print(
        f"slider jump, keyframed: p50 {keyframed['p50']:.3f} ms, "
        f"max {keyframed['max']:.3f} ms"
    )
    print(
        f"slider jump, from the first state: p50 {scratch_times['p50']:.3f} ms, "
        f"max {scratch_times['max']:.3f} ms "
        f"(keyframes {scratch_times['p50'] / max(keyframed['p50'], 1e-6):.0f}x "
        "faster at p50)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
