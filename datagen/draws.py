"""Whole-column random draws that cost a few passes over memory, not a search a row."""

from __future__ import annotations

import math

import numpy as np

# Up to this many outcomes, counting the thresholds each uniform passes is a few
# straight passes over memory; a binary search per row (what rng.choice(p=...)
# does) stalls on branches the CPU cannot predict and is several times slower.
# Beyond it the alias method's fixed cost, about 30 such passes, is cheaper.
THRESHOLD_OUTCOMES = 32
# Above this mean a Poisson table grows long and numpy's own sampler is as fast.
POISSON_TABLE_MAX_MEAN = 30.0
# Poisson outcomes whose probability falls below this are left out of the table;
# at a billion rows not one of them is expected.
POISSON_TAIL = 1e-18


def weighted_choice(
    rng: np.random.Generator, weights: np.ndarray | list[float], size: int
) -> np.ndarray:
    """Draw `size` indices into `weights`, each with probability weight / sum.

    The indices come in the smallest unsigned integer type that holds them: fresh
    memory is slow to touch, so a million one-byte indices beat eight-byte ones.
    """
    cumulative = np.cumsum(np.asarray(weights, dtype=float))
    cumulative /= cumulative[-1]
    dtype = np.min_scalar_type(cumulative.size - 1)
    if cumulative.size <= THRESHOLD_OUTCOMES:
        uniforms = rng.random(size)
        index = np.zeros(size, dtype=dtype)
        passed = np.empty(size, dtype=bool)
        for threshold in cumulative[:-1]:
            np.greater_equal(uniforms, threshold, out=passed)
            index += passed
        return index

    # Many outcomes, such as the days of a date range: Walker's alias method picks
    # an outcome uniformly, then keeps it or takes its alias; two small-table
    # lookups a row, however many outcomes there are.
    keep, alias = _alias_table(np.diff(cumulative, prepend=0.0))
    picked = rng.integers(0, cumulative.size, size=size, dtype=dtype)
    uniforms = rng.random(size)
    return np.where(uniforms < keep[picked], picked, alias[picked])


def _alias_table(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vose's alias table: outcome i is kept with keep[i], else alias[i] is taken."""
    count = probabilities.size
    scaled = probabilities * count
    keep = np.zeros(count)
    alias = np.arange(count, dtype=np.min_scalar_type(count - 1))
    small = [i for i in range(count) if scaled[i] < 1.0]
    large = [i for i in range(count) if scaled[i] >= 1.0]
    while small and large:
        lesser, greater = small.pop(), large.pop()
        keep[lesser], alias[lesser] = scaled[lesser], greater
        scaled[greater] -= 1.0 - scaled[lesser]
        (small if scaled[greater] < 1.0 else large).append(greater)
    # Left over from float error only: each holds a full share, except that an
    # outcome of weight zero must still never come up, so it defers to the likeliest.
    likeliest = int(np.argmax(probabilities))
    for index in large + small:
        keep[index] = 1.0
        if probabilities[index] <= 0:
            alias[index] = likeliest
            keep[index] = 0.0
    return keep, alias


def zipf_ranks(
    rng: np.random.Generator, count: int, size: int, *, skew: float
) -> np.ndarray:
    """Draw `size` popularity ranks from 0 to count-1, rank r weighted ~ 1/(r+1)**skew.

    The ranks come from a power law's inverse CDF (a continuous Pareto cut to the
    range and floored), so the cost does not grow with the number of parents.
    """
    # In place where possible: each fresh array of a million rows costs more to
    # touch than the arithmetic done on it.
    positions = rng.random(size)
    top = count + 1.0
    if skew == 1.0:
        np.power(top, positions, out=positions)
    else:
        power = 1.0 - skew
        positions *= top**power - 1.0
        positions += 1.0
        np.power(positions, 1.0 / power, out=positions)
    ranks = positions.astype(np.int64)
    ranks -= 1
    # Rounding can land a hair past either end of the range.
    return np.clip(ranks, 0, count - 1, out=ranks)


def poisson(rng: np.random.Generator, mean: float, size: int) -> np.ndarray:
    """Draw `size` Poisson counts with the given mean, as unsigned integers."""
    if mean <= 0:
        return np.zeros(size, dtype=np.uint8)
    if mean > POISSON_TABLE_MAX_MEAN:
        return rng.poisson(mean, size=size).astype(np.uint64)

    probabilities = [math.exp(-mean)]
    while len(probabilities) <= mean or probabilities[-1] > POISSON_TAIL:
        probabilities.append(probabilities[-1] * mean / len(probabilities))
    return weighted_choice(rng, probabilities, size)
