"""Puts pairlab's packages on the import path: datagen, jupyter side, test support."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
for path in (REPO, REPO / "jupyter", REPO / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
