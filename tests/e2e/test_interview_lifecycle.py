"""A whole short interview through the tunnel: typing, runs, the time box, the export.

One stack with a two-minute time box plays a scripted session once (module
fixture); each test then checks one promise against what the session recorded.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from pairlab_jupyter.export import State, playback_data, unpack
from pairlab_jupyter.notice import notice_lead
from support.collab import NotebookPeer, cell, disk_cells, until
from support.jupyter import Execution, JupyterClient, Kernel
from support.stack import REPO, Links, Stack, wait_until

INTERVIEW_MINUTES = 2
CANDIDATE_NAME = "Ada Lovelace"
INTERVIEWER_NAME = "Grace Hopper"
NOTEBOOK = "interview.ipynb"
# Edits this far apart land in different playback states (which merge per second).
STATE_GAP = 1.6
NOTICE_WORDS = "Time is nearly up"
# Allowed wait between a keystroke and its timestamp in the store (stamped on write).
STORE_LAG = 5.0
# What running out of memory does to a kernel, without the wait.
CRASH = "import os\nos.kill(os.getpid(), 9)"


@dataclass
class Session:
    """What the scripted session did and saw, for the tests to check."""

    stack: Stack
    links: Links
    deadline: datetime
    starter: list[tuple[str, str, str]]
    typed_at: dict[str, float] = field(default_factory=dict)
    runs: dict[str, Execution] = field(default_factory=dict)
    crash_state: str = ""
    candidate_close_code: int | None = None
    candidate_kernel_close_code: int | None = None
    after_deadline: dict[str, int | str] = field(default_factory=dict)
    interviewer_edit_on_disk: bool = False
    end_of_access_log: list[str] = field(default_factory=list)
    export_stdout: str = ""
    export_folder: Path | None = None


def starter_cells() -> list[tuple[str, str, str]]:
    notebook = json.loads((REPO / "jupyter/workspace/interview.ipynb").read_text())
    return [(c["id"], c["cell_type"], "".join(c["source"])) for c in notebook["cells"]]


async def sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def kernel_close_code(kernel: Kernel) -> int | None:
    try:
        kernel.socket.recv(timeout=0.2)
    except TimeoutError:
        return None
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else 1006
    return None


async def play(session: Session) -> None:
    """The scripted interview: two people, one notebook, one kernel, a deadline."""
    base, links = session.links.base_url, session.links
    candidate = NotebookPeer(base, links.candidate_token, NOTEBOOK)
    interviewer = NotebookPeer(base, links.interviewer_token, NOTEBOOK)
    await candidate.join()
    await interviewer.join()
    candidate_api = JupyterClient(base, links.candidate_token)
    interviewer_api = JupyterClient(base, links.interviewer_token)
    kernel = await asyncio.to_thread(candidate_api.start_kernel)
    shared = await asyncio.to_thread(Kernel, interviewer_api, kernel.kernel_id)

    async def type_into(peer: NotebookPeer, label: str, edit: Any) -> None:
        edit(peer.notebook)
        session.typed_at[label] = time.time()
        if candidate.connected and interviewer.connected:
            await until(
                lambda: candidate.sources() == interviewer.sources(),
                timeout=10,
                what=f"both peers to see {label}",
            )
        await asyncio.sleep(STATE_GAP)

    def source_of(notebook: Any, cell_id: str) -> Any:
        index = [str(c["id"]) for c in notebook.ycells].index(cell_id)
        return notebook.ycells[index]["source"]

    def new_cell(cell_id: str, source: str) -> Any:
        return lambda nb: nb.ycells.append(nb.create_ycell(cell(cell_id, source)))

    def insert(cell_id: str, at: int, text: str) -> Any:
        return lambda nb: source_of(nb, cell_id).insert(at, text)

    # Who types what, then which run (if any) follows: label, kernel, code, cell.
    script = [
        (candidate, "first line", new_cell("e2e-answer", "x = 21"), None),
        (
            candidate,
            "second line",
            insert("e2e-answer", 6, "\nprint(x * 2)"),
            ("answer", kernel, "x = 21\nprint(x * 2)", "e2e-answer"),
        ),
        (
            candidate,
            "mistake",
            new_cell("e2e-ratio", "1 / 0"),
            ("mistake", kernel, "1 / 0", "e2e-ratio"),
        ),
        (
            interviewer,
            "fix",
            insert("e2e-ratio", 4, "2"),
            ("fix", shared, "1 / 20", "e2e-ratio"),
        ),
    ]
    await asyncio.sleep(STATE_GAP)
    for peer, label, edit, run in script:
        await type_into(peer, label, edit)
        if run is not None:
            name, runner, code, cell_id = run
            session.runs[name] = await asyncio.to_thread(
                runner.run, code, cell_id=cell_id
            )

    # The candidate's kernel dies mid-run; the server restarts it.
    await type_into(candidate, "crash", new_cell("e2e-crash", CRASH))
    kernel.submit(CRASH, cell_id="e2e-crash")
    session.crash_state = await asyncio.to_thread(
        kernel.wait_for_state, {"restarting", "dead"}, timeout=30
    )

    # The last minutes: the candidate's next run carries the notice.
    total = timedelta(minutes=INTERVIEW_MINUTES)
    await sleep_until(session.deadline - notice_lead(total) + timedelta(seconds=1))
    session.runs["late"] = await asyncio.to_thread(
        kernel.run, "print('late')", cell_id="e2e-answer"
    )
    await type_into(candidate, "last words", insert("e2e-answer", 0, "# last words\n"))

    # The deadline: the server closes the candidate's sockets by itself.
    await until(
        lambda: candidate.close_code,
        timeout=(session.deadline - datetime.now(UTC)).total_seconds() + 20,
        what="the server closing the candidate's notebook socket",
    )
    session.candidate_close_code = candidate.close_code
    session.candidate_kernel_close_code = wait_until(
        lambda: kernel_close_code(kernel),
        timeout=10,
        what="the server closing the candidate's kernel socket",
    )
    for who, api in (("candidate", candidate_api), ("interviewer", interviewer_api)):
        session.after_deadline[who] = api.get("/api/contents").status_code
    for who, link in (
        ("candidate", links.candidate),
        ("interviewer", links.interviewer),
    ):
        # A link that still works is sent on to the same page without its token.
        opened = httpx.get(link, timeout=30, follow_redirects=True)
        session.after_deadline[f"{who} link"] = opened.url.path
    await type_into(interviewer, "after time", new_cell("e2e-after", "# verdict"))
    session.interviewer_edit_on_disk = await until(
        lambda: "e2e-after" in disk_cells(base, links.interviewer_token, NOTEBOOK),
        timeout=15,
        what="the interviewer's edit after the deadline on disk",
    )
    await interviewer.leave()
    shared.socket.close()
    candidate_api.close()
    interviewer_api.close()


@pytest.fixture(scope="module")
def session(
    built_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Session]:
    workdir = tmp_path_factory.mktemp("lifecycle")
    stack = Stack(
        workdir,
        settings={
            "INTERVIEW_MINUTES": str(INTERVIEW_MINUTES),
            "CANDIDATE_NAME": CANDIDATE_NAME,
            "INTERVIEWER_NAME": INTERVIEWER_NAME,
            "EXPORT_DIR": str(workdir / "interviews"),
        },
    )
    try:
        stack.up()
        played = Session(
            stack=stack,
            links=stack.links(),
            deadline=stack.deadline(),
            starter=starter_cells(),
        )
        asyncio.run(play(played))
        played.end_of_access_log = [
            line.split("] ", 1)[-1]
            for line in stack.logs("jupyter").splitlines()
            if "access at the time limit" in line
        ]
        exported = stack.compose("--profile", "export", "run", "--rm", "export")
        played.export_stdout = exported.stdout
        played.export_folder = workdir / exported.stdout.strip()
        yield played
    finally:
        stack.down()


def notebook_cells(folder: Path) -> list[tuple[str, str, str]]:
    notebook = json.loads((folder / "notebooks" / NOTEBOOK).read_text())
    return [(c["id"], c["cell_type"], "".join(c["source"])) for c in notebook["cells"]]


def playback_states(folder: Path) -> list[State]:
    data = playback_data((folder / "playback.html").read_text())
    return unpack(data["notebooks"][NOTEBOOK])


def test_the_export_lands_in_a_dated_folder_named_for_the_candidate(
    session: Session,
) -> None:
    folder = session.export_folder
    day = session.deadline.strftime("%Y-%m-%d")

    assert folder is not None
    assert folder.name == f"{day}-ada-lovelace", session.export_stdout
    assert sorted(p.name for p in folder.iterdir()) == [
        "execution-log.csv",
        "execution-log.json",
        "notebooks",
        "playback.html",
    ]
    assert (folder / "notebooks" / "interview.html").stat().st_size > 10_000


def test_the_exported_notebook_holds_what_both_people_typed(session: Session) -> None:
    cells = notebook_cells(session.export_folder)

    assert cells == [
        *session.starter,
        ("e2e-answer", "code", "# last words\nx = 21\nprint(x * 2)"),
        ("e2e-ratio", "code", "1 / 20"),
        ("e2e-crash", "code", CRASH),
        ("e2e-after", "code", "# verdict"),
    ]


def test_the_execution_log_lists_every_run_in_order_even_one_that_killed_its_kernel(
    session: Session,
) -> None:
    log = json.loads((session.export_folder / "execution-log.json").read_text())

    summary = [
        (e["ran_by"], e["role"], e["notebook"], e["cell_id"], e["source"], e["status"])
        for e in log
    ]
    assert summary == [
        (
            "Ada Lovelace",
            "candidate",
            NOTEBOOK,
            "e2e-answer",
            "x = 21\nprint(x * 2)",
            "ok",
        ),
        ("Ada Lovelace", "candidate", NOTEBOOK, "e2e-ratio", "1 / 0", "error"),
        ("Grace Hopper", "interviewer", NOTEBOOK, "e2e-ratio", "1 / 20", "ok"),
        ("Ada Lovelace", "candidate", NOTEBOOK, "e2e-crash", CRASH, "no reply"),
        ("Ada Lovelace", "candidate", NOTEBOOK, "e2e-answer", "print('late')", "ok"),
    ]
    assert log[1]["error"] == "ZeroDivisionError: division by zero"
    assert session.crash_state == "restarting"
    assert log[3]["error"] == "the kernel died and was restarted"
    # The restarted kernel counts from 1 again.
    assert [e["execution_count"] for e in log] == [1, 2, 3, None, 1]
    for entry in log:
        started = datetime.fromisoformat(entry["started_at"])
        finished = datetime.fromisoformat(entry["finished_at"])
        assert started <= finished <= session.deadline, entry


def test_the_playback_starts_with_the_starter_and_ends_with_the_final_notebook(
    session: Session,
) -> None:
    states = playback_states(session.export_folder)

    assert list(states[0].cells) == session.starter
    assert list(states[-1].cells) == notebook_cells(session.export_folder)
    assert [s.time for s in states] == sorted(s.time for s in states)


def test_a_middle_playback_state_shows_the_first_line_alone_at_its_clock_time(
    session: Session,
) -> None:
    states = playback_states(session.export_folder)
    typed = session.typed_at["first line"]
    first_line_alone = [*session.starter, ("e2e-answer", "code", "x = 21")]

    [middle] = [s for s in states if list(s.cells) == first_line_alone]
    # The store stamps an edit when the server writes it, which on a busy machine
    # can be a few seconds after the keystroke, never before it.
    assert typed - 0.5 <= middle.time <= typed + STORE_LAG, (middle.time, typed)
    assert 0 < states.index(middle) < len(states) - 1


def test_the_notice_shows_under_a_late_run_and_not_under_an_early_one(
    session: Session,
) -> None:
    assert NOTICE_WORDS in session.runs["late"].stderr
    assert session.runs["late"].stdout == "late\n"
    assert NOTICE_WORDS not in session.runs["answer"].stderr
    assert session.runs["answer"].stdout == "42\n"


def test_at_the_deadline_the_candidate_is_cut_off_and_the_interviewer_is_not(
    session: Session,
) -> None:
    assert session.candidate_close_code == 4403
    assert session.candidate_kernel_close_code == 4403
    assert session.after_deadline == {
        "candidate": 403,
        "interviewer": 200,
        "candidate link": "/login",
        "interviewer link": "/lab",
    }
    assert session.interviewer_edit_on_disk
    [ended] = session.end_of_access_log
    assert ended.startswith(
        "Ended candidate's access at the time limit: saved 1 documents, "
        "closed 1 collaboration and 1 kernel connections in "
    ), ended
