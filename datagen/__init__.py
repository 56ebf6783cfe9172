"""Synthetic, reproducible, deliberately imperfect data-science interview datasets."""

from datagen.engine import Dataset, build_dataset
from datagen.scenario import Scenario, builtin_scenarios, load_scenario

__all__ = ["Dataset", "Scenario", "build_dataset", "builtin_scenarios", "load_scenario"]
__version__ = "0.1.0"
