"""IPython extension in the candidate's kernel: under each cell, say when time is short.

A line printed under the cell just run is the one place in JupyterLab a candidate is
sure to look, and it needs no change to JupyterLab's frontend. The kernel reads the
same access file as the server; it only ever learns the deadline from it.
"""

from __future__ import annotations

import math
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pairlab_jupyter.identity import DEFAULT_ACCESS_FILE, AccessFileError, load_access

# Warn this long before the end, or for the last quarter of a short interview.
NOTICE_LEAD = timedelta(minutes=5)


def notice_lead(total: timedelta) -> timedelta:
    """How long before the end the notice shows: 5 minutes, at most a quarter."""
    return min(NOTICE_LEAD, total / 4)


def notice_text(*, deadline: datetime, total: timedelta, now: datetime) -> str | None:
    """The notice to print at `now`, or None while there is time enough (or none)."""
    left = deadline - now
    if left <= timedelta(0) or left > notice_lead(total):
        return None
    if left < timedelta(minutes=1):
        remaining = "less than a minute"
    else:
        minutes = math.ceil(left.total_seconds() / 60)
        remaining = f"about {minutes} minute{'s' if minutes > 1 else ''}"
    return (
        f"\N{ALARM CLOCK} Time is nearly up: {remaining} left in this interview. "
        "Your notebook is saved as you type."
    )


def load_ipython_extension(ipython: Any) -> None:
    access_file = Path(os.environ.get("PAIRLAB_ACCESS_FILE", DEFAULT_ACCESS_FILE))
    try:
        access = load_access(access_file)
    except AccessFileError:
        # Outside a pairlab stack there is no deadline to announce.
        return
    deadline = access.candidate_deadline
    if deadline is None:
        return
    total = timedelta(minutes=access.interview_minutes)

    def after_cell(result: Any) -> None:
        text = notice_text(deadline=deadline, total=total, now=datetime.now(UTC))
        if text:
            print(text, file=sys.stderr, flush=True)

    ipython.events.register("post_run_cell", after_cell)
