"""Two named people on one notebook, through the tunnel fake: identity, edits, restarts.

Every test here talks to the server as the two browsers would, through the fake
ngrok's published port, with pycrdt peers on the collaboration websocket. The stack
is this module's own, with names set in its .env, because some tests restart it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest
from pycrdt import Map, Text

from support.collab import (
    NotebookPeer,
    Typist,
    cell,
    converged,
    disk_cells,
    until,
)
from support.jupyter import JupyterClient, Kernel
from support.stack import Links, Stack, wait_until

CANDIDATE_NAME = "Ada Lovelace"
INTERVIEWER_NAME = "Grace Hopper"
NOTEBOOK = "interview.ipynb"
OPERATIONS_EACH = 500
# The starter notebook in jupyter/workspace names its cells; this is its first.
STARTER_TITLE_CELL = "pairlab-00"
STARTER_CELLS = 8
NOTHING_COPIED = "copied 0 starter files"
# Which service restarts, with how many edits each person makes before and while away.
RESTARTS = (("jupyter", 100, 30), ("ngrok", 100, 30), ("jupyter", 100, 30))
RESTARTS += (("jupyter", 0, 0),)


@pytest.fixture(scope="module")
def named_stack(
    built_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    own = Stack(
        tmp_path_factory.mktemp("collab"),
        settings={
            "CANDIDATE_NAME": CANDIDATE_NAME,
            "INTERVIEWER_NAME": INTERVIEWER_NAME,
        },
    )
    with own.running():
        yield own


@pytest.fixture(scope="module")
def named_links(named_stack: Stack) -> Links:
    return named_stack.links()


def peers(links: Links, path: str) -> tuple[NotebookPeer, NotebookPeer]:
    return (
        NotebookPeer(links.base_url, links.candidate_token, path),
        NotebookPeer(links.base_url, links.interviewer_token, path),
    )


def scratch_notebook(links: Links) -> str:
    """A new notebook of this test's own, so tests do not see each other's edits."""
    path = f"scratch-{uuid.uuid4().hex[:8]}.ipynb"
    client = JupyterClient(links.base_url, links.interviewer_token)
    try:
        created = client.http.put(
            f"/api/contents/{path}",
            json={
                "type": "notebook",
                "format": "json",
                "content": {
                    "cells": [cell("shared", "# both type here\n")],
                    "metadata": {},
                    "nbformat": 4,
                    "nbformat_minor": 5,
                },
            },
        )
        created.raise_for_status()
    finally:
        client.close()
    return path


def jupyter_is_healthy(stack: Stack) -> bool:
    return stack.container_state("jupyter").get("Health", {}).get("Status") == (
        "healthy"
    )


def test_each_link_logs_in_the_person_named_in_env_with_a_colour_of_their_own(
    named_stack: Stack, named_links: Links
) -> None:
    logs = named_stack.logs("ngrok")
    candidate = JupyterClient(named_links.base_url, named_links.candidate_token)
    interviewer = JupyterClient(named_links.base_url, named_links.interviewer_token)

    as_candidate = candidate.get("/api/me").json()["identity"]
    as_interviewer = interviewer.get("/api/me").json()["identity"]
    candidate.close()
    interviewer.close()

    assert f"CANDIDATE LINK for {CANDIDATE_NAME} (send this one)" in logs
    assert f"INTERVIEWER LINK for {INTERVIEWER_NAME} (keep it to yourself)" in logs
    assert (as_candidate["username"], as_candidate["display_name"]) == (
        "candidate",
        CANDIDATE_NAME,
    )
    assert (as_interviewer["username"], as_interviewer["display_name"]) == (
        "interviewer",
        INTERVIEWER_NAME,
    )
    assert (as_candidate["initials"], as_interviewer["initials"]) == ("AL", "GH")
    assert as_candidate["color"] != as_interviewer["color"]
    assert named_links.interviewer_token not in named_links.candidate


def test_each_person_sees_the_other_by_name_and_colour_in_the_room(
    named_links: Links,
) -> None:
    path = scratch_notebook(named_links)

    async def scenario() -> tuple[list[dict], list[dict], list[dict], list[dict]]:
        candidate, interviewer = peers(named_links, path)
        await candidate.join()
        await interviewer.join()
        await until(
            lambda: candidate.others() and interviewer.others(),
            timeout=15,
            what="each person in the other's awareness",
        )
        seen = (candidate.others(), interviewer.others())
        await interviewer.leave()
        await until(
            lambda: not candidate.others(),
            timeout=15,
            what="the interviewer leaving the candidate's awareness",
        )
        after_leaving = candidate.others()
        await candidate.leave()
        return *seen, after_leaving, [candidate.identity, interviewer.identity]

    seen_by_candidate, seen_by_interviewer, after_leaving, identities = asyncio.run(
        scenario()
    )

    candidate_identity, interviewer_identity = identities
    assert seen_by_candidate == [interviewer_identity]
    assert seen_by_interviewer == [candidate_identity]
    assert seen_by_candidate[0]["name"] == INTERVIEWER_NAME
    assert seen_by_interviewer[0]["name"] == CANDIDATE_NAME
    assert seen_by_candidate[0]["color"] != seen_by_interviewer[0]["color"]
    assert after_leaving == []


def test_500_interleaved_edits_each_converge_and_reach_the_file(
    named_links: Links,
) -> None:
    path = scratch_notebook(named_links)

    async def scenario() -> tuple[NotebookPeer, NotebookPeer, Typist, Typist]:
        candidate, interviewer = peers(named_links, path)
        await candidate.join()
        await interviewer.join()
        typists = (
            Typist(candidate, "cand", seed=1, shared_cell="shared"),
            Typist(interviewer, "intv", seed=2, shared_cell="shared"),
        )
        await asyncio.gather(*(typist.type(OPERATIONS_EACH) for typist in typists))
        await until(
            lambda: converged(candidate, interviewer),
            timeout=60,
            what="both copies converging",
        )
        await candidate.leave()
        await interviewer.leave()
        return candidate, interviewer, *typists

    candidate, interviewer, candidate_typist, interviewer_typist = asyncio.run(
        scenario()
    )
    on_disk = wait_until(
        lambda: (
            saved
            if (saved := disk_cells(named_links.base_url, candidate.token, path))
            == candidate.sources()
            else None
        ),
        timeout=30,
        what="the file on disk matching the converged notebook",
    )

    ids = candidate.cell_ids()
    assert candidate_typist.operations == interviewer_typist.operations == 500
    assert candidate.notebook.get() == interviewer.notebook.get()
    assert len(ids) == len(set(ids)), "a cell id appears twice"
    assert candidate_typist.missing_from(on_disk) == []
    assert interviewer_typist.missing_from(on_disk) == []
    assert len(on_disk) == (
        1 + len(candidate_typist.expected) + len(interviewer_typist.expected)
    )


def test_a_cell_run_by_one_person_shows_its_outputs_to_the_other(
    named_links: Links,
) -> None:
    path = scratch_notebook(named_links)
    candidate_client = JupyterClient(named_links.base_url, named_links.candidate_token)
    interviewer_client = JupyterClient(
        named_links.base_url, named_links.interviewer_token
    )
    session = candidate_client.http.post(
        "/api/sessions",
        json={"path": path, "type": "notebook", "kernel": {"name": "python3"}},
    ).json()
    shared = [
        listed
        for listed in interviewer_client.get("/api/sessions").json()
        if listed["path"] == path
    ]
    watching = Kernel(interviewer_client, session["kernel"]["id"])
    running = Kernel(candidate_client, session["kernel"]["id"])
    code = "total = sum(range(10))\nprint('total is', total)"

    async def scenario() -> tuple[list[dict], list[dict]]:
        candidate, interviewer = peers(named_links, path)
        await candidate.join()
        await interviewer.join()
        cells = candidate.notebook.ycells
        cells.append(candidate.notebook.create_ycell(cell("run-me", code)))
        await until(
            lambda: "run-me" in interviewer.sources(), timeout=15, what="the new cell"
        )
        # As JupyterLab does: the person who runs the cell sends its source to the
        # kernel and writes what comes back into the shared cell.
        source = candidate.sources()["run-me"]
        execution = await asyncio.to_thread(running.run, source)
        ycell = cells[candidate.cell_ids().index("run-me")]
        for output in execution.outputs:
            if output["msg_type"] == "stream":
                ycell["outputs"].append(stream_output(output))
        ycell["execution_count"] = 1
        await until(
            lambda: interviewer_outputs(interviewer),
            timeout=15,
            what="the outputs in the interviewer's copy",
        )
        seen = interviewer_outputs(interviewer)
        await candidate.leave()
        await interviewer.leave()
        return execution.outputs, seen

    try:
        kernel_outputs, seen_by_interviewer = asyncio.run(scenario())
        streamed_to_interviewer = watch_stream(watching)
    finally:
        running.shutdown()
        watching.close()
        candidate_client.close()
        interviewer_client.close()

    assert [listed["kernel"]["id"] for listed in shared] == [session["kernel"]["id"]]
    assert kernel_outputs[0]["text"] == "total is 45\n"
    assert seen_by_interviewer == [
        {"output_type": "stream", "name": "stdout", "text": "total is 45\n"}
    ]
    assert streamed_to_interviewer == "total is 45\n"


def stream_output(output: dict) -> Map:
    """A kernel's stream message as the shared notebook holds it."""
    return Map(
        {"output_type": "stream", "name": output["name"], "text": Text(output["text"])}
    )


def interviewer_outputs(peer: NotebookPeer) -> list[dict]:
    for listed in peer.notebook.get()["cells"]:
        if listed["id"] == "run-me":
            return listed.get("outputs", [])
    return []


def watch_stream(kernel: Kernel) -> str:
    """The stdout the kernel broadcast to a second person's kernel connection."""
    text = ""
    while True:
        try:
            message = json.loads(kernel.socket.recv(timeout=5))
        except TimeoutError:
            return text
        if message["msg_type"] == "stream":
            text += message["content"]["text"]
        idle = message["msg_type"] == "status" and (
            message["content"]["execution_state"] == "idle"
        )
        if idle and text:
            return text


def test_restarts_of_jupyter_and_ngrok_lose_no_edit_and_duplicate_no_cell(
    named_stack: Stack, named_links: Links
) -> None:
    async def restart(service: str) -> None:
        await asyncio.to_thread(named_stack.compose, "restart", service)

    async def scenario() -> list[dict[str, object]]:
        candidate, interviewer = peers(named_links, NOTEBOOK)
        await candidate.join()
        await interviewer.join()
        shared = candidate.cell_ids()[-1]
        typists = (
            Typist(candidate, "cand", seed=3, shared_cell=shared),
            Typist(interviewer, "intv", seed=4, shared_cell=shared),
        )
        rounds = []
        # The last round types nothing: a second jupyter restart in a row.
        for service, typed_before, typed_while_away in RESTARTS:
            await asyncio.gather(*(t.type(typed_before) for t in typists))
            await until(
                lambda: converged(candidate, interviewer),
                timeout=30,
                what="convergence",
            )
            before = candidate.notebook.get()
            # Straight into the restart: the last edits are not saved yet.
            restarting = asyncio.ensure_future(restart(service))
            await until(
                lambda: not candidate.connected and not interviewer.connected,
                timeout=60,
                what=f"both peers cut off by the {service} restart",
            )
            # Both keep typing while the server or tunnel is away.
            await asyncio.gather(*(t.type(typed_while_away) for t in typists))
            await restarting
            await asyncio.gather(candidate.rejoin(), interviewer.rejoin())
            await until(
                lambda: converged(candidate, interviewer),
                timeout=30,
                what=f"convergence after the {service} restart",
            )
            newcomer = NotebookPeer(
                named_links.base_url, named_links.interviewer_token, NOTEBOOK
            )
            await newcomer.join()
            await until(
                lambda: converged(candidate, newcomer),  # noqa: B023
                timeout=30,
                what=f"a newly opened copy matching after the {service} restart",
            )
            await newcomer.leave()
            ids = candidate.cell_ids()
            rounds.append(
                {
                    "service": service,
                    "duplicate_ids": len(ids) - len(set(ids)),
                    "lost": [
                        *typists[0].missing_from(candidate.sources()),
                        *typists[1].missing_from(candidate.sources()),
                    ],
                    "cells": len(ids),
                    "expected_cells": len(typists[0].expected)
                    + len(typists[1].expected),
                    "starter_cells": sum(i.startswith("pairlab-") for i in ids),
                    "typed": typed_before + typed_while_away,
                    "unchanged": candidate.notebook.get() == before,
                }
            )
        await candidate.leave()
        await interviewer.leave()
        return rounds

    rounds = asyncio.run(scenario())
    # How each start loaded the notebook and each stop saved it, for a failure's story.
    story = [
        line
        for line in named_stack.logs("jupyter").splitlines()
        if "ystore" in line or "Wrote down" in line or "received signal" in line
    ]
    print("\n".join(story))

    for outcome in rounds:
        assert outcome["duplicate_ids"] == 0, outcome
        assert outcome["lost"] == [], outcome
        assert outcome["cells"] == outcome["expected_cells"] + STARTER_CELLS, outcome
        assert outcome["starter_cells"] == STARTER_CELLS, outcome
    assert [outcome["service"] for outcome in rounds] == [
        service for service, *_ in RESTARTS
    ]
    assert rounds[-1]["typed"] == 0
    assert rounds[-1]["unchanged"], "a restart with no edits changed the notebook"


def test_a_jupyter_restart_keeps_the_candidates_edits_to_the_starter_notebook(
    named_stack: Stack, named_links: Links
) -> None:
    marker = f"candidate was here {uuid.uuid4().hex[:6]}\n"

    async def edit() -> dict[str, str]:
        candidate, _ = peers(named_links, NOTEBOOK)
        await candidate.join()
        title = candidate.cell_ids().index(STARTER_TITLE_CELL)
        source = candidate.notebook.ycells[title]["source"]
        source += marker
        await until(
            lambda: (
                marker
                in disk_cells(named_links.base_url, candidate.token, NOTEBOOK)[
                    STARTER_TITLE_CELL
                ]
            ),
            timeout=30,
            what="the edit saved to disk",
        )
        await candidate.leave()
        return candidate.sources()

    edited = asyncio.run(edit())
    starts_before = named_stack.logs("jupyter").count(NOTHING_COPIED)
    named_stack.compose("restart", "jupyter")
    wait_until(
        lambda: jupyter_is_healthy(named_stack), timeout=90, what="jupyter healthy"
    )
    after = disk_cells(named_links.base_url, named_links.candidate_token, NOTEBOOK)
    starts_after = named_stack.logs("jupyter").count(NOTHING_COPIED)

    assert after == edited
    assert marker in after[STARTER_TITLE_CELL]
    assert starts_after == starts_before + 1
