"""The interviewer's browser against the candidate's scripts: token, policy, renderer.

A candidate can put HTML with a script into an output the interviewer's JupyterLab
shows as trusted (through the shared document, or a kernel hook on the
interviewer's own runs). These tests check the three things that keep such a script
from reading the interviewer's token or acting as them: the token leaves the address
at once, the page's policy blocks inline script and handlers, and the javascript
renderer is off. The browser test drives a headless Chromium at the test's own stack.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import uuid
from pathlib import Path

import httpx
import pytest

from support.browser import chromium_path, open_page
from support.collab import NotebookPeer
from support.jupyter import JupyterClient
from support.stack import Links, wait_until

MARK = "window.__pairlabPwned = (window.__pairlabPwned || []).concat"
PLANTED_HTML = (
    '<b id="planted-html">results</b>'
    f'<img src="missing.png" onerror="{MARK}([\'img\'])">'
    f"<script>{MARK}(['script'])</script>"
)


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def page_config(page: str) -> dict:
    found = re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
        page,
        re.DOTALL,
    )
    assert found, "the Lab page carries its config"
    return json.loads(found[1])


def test_a_link_sets_the_login_cookie_and_reloads_the_page_without_its_token(
    links: Links,
) -> None:
    opened = httpx.get(links.interviewer.replace("/lab?", "/lab?reset&"), timeout=30)
    followed = httpx.get(links.interviewer, timeout=30, follow_redirects=True)

    assert opened.status_code == 302
    assert opened.headers["location"] == "/lab?reset"
    assert any(name.startswith("username-") for name in opened.cookies)
    assert (followed.status_code, followed.url.query) == (200, b"")
    assert "<title>JupyterLab</title>" in followed.text


def test_api_calls_keep_working_with_the_token_in_the_query_or_the_header(
    links: Links,
) -> None:
    token = links.interviewer_token

    in_query = httpx.get(f"{links.base_url}/api/contents?token={token}", timeout=30)
    in_header = httpx.get(
        f"{links.base_url}/api/contents",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )

    assert (in_query.status_code, in_header.status_code) == (200, 200)
    assert "interview.ipynb" in in_query.text


def test_lab_is_served_with_a_policy_that_forbids_inline_script_and_handlers(
    links: Links,
) -> None:
    interviewer = JupyterClient(links.base_url, links.interviewer_token)

    lab = interviewer.get("/lab")
    raw_file = interviewer.get("/files/interview.ipynb")
    interviewer.close()

    policy = directives(lab.headers["Content-Security-Policy"])
    assert policy["script-src"] == "'self' 'unsafe-eval'"
    assert (policy["object-src"], policy["base-uri"]) == ("'none'", "'self'")
    assert policy["frame-ancestors"] == "'self'"
    assert lab.headers["X-Content-Type-Options"] == "nosniff"
    assert lab.headers["Referrer-Policy"] == "no-referrer"
    # jupyter_server's own sandbox for raw files stays on top of pairlab's policy.
    assert raw_file.headers["Content-Security-Policy"].endswith(
        "; sandbox allow-scripts"
    )


def test_lab_loads_without_the_javascript_output_renderer(links: Links) -> None:
    interviewer = JupyterClient(links.base_url, links.interviewer_token)

    lab = interviewer.get("/lab")
    interviewer.close()

    disabled = page_config(lab.text)["disabledExtensions"]
    assert "@jupyterlab/javascript-extension" in disabled, disabled


async def plant_trusted_output(links: Links, path: str) -> None:
    """As the candidate: a cell marked trusted, with a script in its HTML output."""
    peer = NotebookPeer(links.base_url, links.candidate_token, path)
    await peer.join()
    cell = peer.notebook.create_ycell(
        {
            "id": "planted",
            "cell_type": "code",
            "metadata": {"trusted": True},
            "source": "show()",
            "execution_count": 1,
            "outputs": [
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {"text/html": PLANTED_HTML},
                },
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {
                        "application/javascript": f"{MARK}(['javascript'])",
                        "text/plain": "javascript output",
                    },
                },
            ],
        }
    )
    peer.notebook.ycells.append(cell)
    await asyncio.sleep(1)
    await peer.leave()


@pytest.mark.skipif(
    chromium_path() is None and os.environ.get("PAIRLAB_REQUIRE_BROWSER") != "1",
    reason="needs chromium: apt-get install chromium (CI installs it and requires it)",
)
def test_a_planted_script_in_a_shared_output_does_not_run_for_the_interviewer(
    links: Links, tmp_path: Path
) -> None:
    candidate = JupyterClient(links.base_url, links.candidate_token)
    path = f"xss-{uuid.uuid4().hex[:8]}.ipynb"
    seed = {
        "id": "seed",
        "cell_type": "code",
        "metadata": {},
        "source": "1",
        "execution_count": 1,
        "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}],
    }
    content = {"cells": [seed], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    created = candidate.http.put(
        f"/api/contents/{path}",
        json={"type": "notebook", "format": "json", "content": content},
    )
    assert created.status_code == 201, created.text
    asyncio.run(plant_trusted_output(links, path))

    try:
        with open_page() as page:
            page.goto(
                f"{links.base_url}/lab/tree/{path}?token={links.interviewer_token}"
            )
            wait_until(
                lambda: page.evaluate("!!document.querySelector('#planted-html')"),
                timeout=60,
                what="the planted output in the interviewer's notebook",
            )
            # Either the browser blocks both, or one of them has run: then it fails.
            wait_until(
                lambda: page.evaluate(
                    "window.__pairlabPwned || window.__pairlabViolations.length >= 2"
                ),
                timeout=10,
                what="the planted script and handler being blocked or run",
            )
            page.screenshot(tmp_path / "interviewer.png")
            address = page.evaluate("location.href")
            history = page.evaluate(
                "performance.getEntriesByType('navigation')[0].name"
            )
            pwned = page.evaluate("window.__pairlabPwned || []")
            blocked = {
                entry.split(" ")[0]
                for entry in page.evaluate("window.__pairlabViolations")
            }
            cells = page.evaluate("document.querySelectorAll('.jp-Cell').length")
    finally:
        candidate.http.delete(f"/api/contents/{path}")
        candidate.close()

    assert links.interviewer_token not in address
    assert links.interviewer_token not in history
    assert pwned == [], f"the planted code ran: {pwned}"
    assert {"script-src-elem", "script-src-attr"} <= blocked
    assert cells >= 2, f"Lab showed {cells} cells of the notebook"
