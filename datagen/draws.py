"""Whole-column random draws that cost a few passes over memory, not a search a row."""

from __future__ import annotations

import math

import numpy as np

# Up to this many outcomes, counting the thresholds each uniform passes is a few
# straight passes over memory; a binary search per row (what rng.choice(p=...)
# does) stalls on branches the CPU cannot predict and is several times slower.
THRESHOLD_OUTCOMES = 64
# Above this mean a Poisson table grows long and numpy's own sampler is as fast.
POISSON_TABLE_MAX_MEAN = 30.0
# Poisson outcomes whose probability falls below this are left out of the table;
# at a billion rows not one of them is expected.
POISSON_TAIL = 1e-18


def weighted_choice(
    rng: np.random.Generator, weights: np.ndarray | list[float], size: int
) -> np.ndarray:
    """Draw `size` indices into `weights`, each with probability weight / sum."""
    cumulative = np.cumsum(np.asarray(weights, dtype=float))
    cumulative /= cumulative[-1]
    if cumulative.size <= THRESHOLD_OUTCOMES:
        uniforms = rng.random(size)
        index = np.zeros(size, dtype=np.uint8)
        for threshold in cumulative[:-1]:
            index += uniforms >= threshold
        return index.astype(np.int64)

    # Many outcomes: draw how often each occurs, then put the rows in random
    # order; a multinomial count in a uniformly random order is exactly an
    # independent weighted draw per row.
    probabilities = np.diff(cumulative, prepend=0.0)
    counts = rng.multinomial(size, probabilities)
    index = np.repeat(np.arange(cumulative.size, dtype=np.int64), counts)
    rng.shuffle(index)
    return index


def zipf_ranks(
    rng: np.random.Generator, count: int, size: int, *, skew: float
) -> np.ndarray:
    """Draw `size` popularity ranks from 0 to count-1, rank r weighted ~ 1/(r+1)**skew.

    The ranks come from a power law's inverse CDF (a continuous Pareto cut to the
    range and floored), so the cost does not grow with the number of parents.
    """
    uniforms = rng.random(size)
    top = count + 1.0
    if skew == 1.0:
        positions = top**uniforms
    else:
        power = 1.0 - skew
        positions = (1.0 + uniforms * (top**power - 1.0)) ** (1.0 / power)
    # Rounding can land a hair past either end of the range.
    return np.clip(np.floor(positions).astype(np.int64) - 1, 0, count - 1)


def poisson(rng: np.random.Generator, mean: float, size: int) -> np.ndarray:
    """Draw `size` Poisson counts with the given mean."""
    if mean <= 0:
        return np.zeros(size, dtype=np.int64)
    if mean > POISSON_TABLE_MAX_MEAN:
        return rng.poisson(mean, size=size).astype(np.int64)

    probabilities = [math.exp(-mean)]
    while len(probabilities) <= mean or probabilities[-1] > POISSON_TAIL:
        probabilities.append(probabilities[-1] * mean / len(probabilities))
    return weighted_choice(rng, probabilities, size)
