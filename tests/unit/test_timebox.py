"""The time box's pieces: decimal minutes, the late notice, the execution log file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datagen import access
from pairlab_jupyter.execlog import Execution, append_entry, read_entries
from pairlab_jupyter.notice import notice_lead, notice_text
from pairlab_jupyter.timebox import stop_processes

DEADLINE = datetime(2026, 12, 4, 11, 0, tzinfo=UTC)
TWO_HOURS = timedelta(hours=2)


@pytest.mark.parametrize(
    ("raw", "expected"), [("120", 120), ("0", 0), ("0.2", 0.2), ("1.5", 1.5)]
)
def test_interview_minutes_may_be_a_decimal(raw: str, expected: float) -> None:
    minutes = access.read_minutes({"INTERVIEW_MINUTES": raw})

    assert minutes == expected
    assert type(minutes) is type(expected)


@pytest.mark.parametrize("raw", ["1e3", "-1", "0.", ".5", "nan", "1,5", "1.2345"])
def test_other_interview_minutes_are_one_sentence_naming_the_setting(raw: str) -> None:
    with pytest.raises(access.SettingError) as raised:
        access.read_minutes({"INTERVIEW_MINUTES": raw})

    assert str(raised.value).startswith(f"INTERVIEW_MINUTES in .env is {raw!r}")


def test_the_notice_leads_by_five_minutes_or_a_quarter_of_a_short_interview() -> None:
    assert notice_lead(TWO_HOURS) == timedelta(minutes=5)
    assert notice_lead(timedelta(minutes=2)) == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("before_end", "expected"),
    [
        (timedelta(minutes=6), None),
        (timedelta(minutes=5), "about 5 minutes left"),
        (timedelta(minutes=1, seconds=1), "about 2 minutes left"),
        (timedelta(seconds=59), "less than a minute left"),
        (timedelta(0), None),
        (-timedelta(minutes=1), None),
    ],
)
def test_the_notice_shows_only_in_the_last_minutes(
    before_end: timedelta, expected: str | None
) -> None:
    text = notice_text(deadline=DEADLINE, total=TWO_HOURS, now=DEADLINE - before_end)

    if expected is None:
        assert text is None
    else:
        assert text is not None and expected in text, text


def test_the_execution_log_keeps_entries_in_order_and_skips_a_torn_line(
    tmp_path: Path,
) -> None:
    log = tmp_path / "state" / "executions.jsonl"
    for number in (1, 2):
        append_entry(
            log,
            Execution(
                msg_id=f"m{number}",
                username="candidate",
                kernel_id="k",
                cell_id=f"c{number}",
                code=f"print({number})",
                requested_at="2026-12-04T10:00:00.000+00:00",
                status="ok",
                execution_count=number,
            ),
        )
    with log.open("a") as torn:
        torn.write('{"msg_id": "m3", "code": "pri')

    entries = read_entries(log)

    assert [(e["msg_id"], e["code"]) for e in entries] == [
        ("m1", "print(1)"),
        ("m2", "print(2)"),
    ]
    assert json.loads(log.read_text().splitlines()[0])["cell_id"] == "c1"


class ForkingProcesses:
    """A process table where one process starts a child each time it is listed."""

    def __init__(self, pids: set[int], *, forker: int, children: int) -> None:
        self.pids = pids
        self.forker = forker
        self.children_left = children
        self.killed: list[int] = []

    def list(self) -> list[int]:
        if self.forker in self.pids and self.children_left:
            self.children_left -= 1
            self.pids.add(1000 + self.children_left)
        return sorted(self.pids)

    def kill(self, pid: int) -> None:
        if pid not in self.pids:
            raise ProcessLookupError(pid)
        self.pids.remove(pid)
        self.killed.append(pid)


def test_the_deadline_sweep_kills_all_but_the_kernels_even_what_forks_meanwhile() -> (
    None
):
    # 20 is a kernel; 21 its child; 30 a detached process that forked once more.
    table = ForkingProcesses({20, 21, 30}, forker=30, children=1)

    killed, left = stop_processes(list_processes=table.list, kill=table.kill, keep={20})

    assert (killed, left) == (3, [])
    assert sorted(table.killed) == [21, 30, 1000]
    assert table.pids == {20}


def test_the_deadline_sweep_gives_up_after_its_rounds_and_names_what_is_left() -> None:
    table = ForkingProcesses({20, 30}, forker=30, children=0)
    table.kill = lambda pid: None  # type: ignore[method-assign]

    killed, left = stop_processes(
        list_processes=table.list, kill=table.kill, keep={20}, rounds=3
    )

    assert (killed, left) == (1, [30])
