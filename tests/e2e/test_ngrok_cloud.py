"""Smoke test through ngrok's real cloud: runs only when NGROK_AUTHTOKEN is set.

It starts the stack exactly as an interviewer does, with the official ngrok image,
and opens the candidate's link over the internet.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.stack import REPO, Stack

pytestmark = pytest.mark.ngrok_cloud

TOKEN = os.environ.get("NGROK_AUTHTOKEN", "")


@pytest.fixture
def real_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    if not TOKEN:
        pytest.skip(
            "NGROK_AUTHTOKEN is not set: export your ngrok authtoken to run the "
            "real-tunnel smoke test against ngrok's cloud"
        )
    request.getfixturevalue("built_images")
    stack = Stack(
        tmp_path,
        settings={"NGROK_AUTHTOKEN": TOKEN},
        compose_files=(REPO / "compose.yaml",),
    )
    try:
        yield stack
    finally:
        stack.down()


def test_the_candidate_link_opens_jupyterlab_over_ngroks_cloud(
    real_stack: Stack,
) -> None:
    real_stack.up()

    links = real_stack.links(timeout=120)
    # ngrok's free plan shows a warning page to browsers; API clients may skip it.
    response = httpx.get(
        links.candidate,
        headers={"ngrok-skip-browser-warning": "1"},
        follow_redirects=True,
        timeout=60,
    )

    assert links.base_url.startswith("https://")
    assert response.status_code == 200
    assert "<title>JupyterLab</title>" in response.text
