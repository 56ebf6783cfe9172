"""pairlab_jupyter.export against hostile notebooks: scripts, FIFOs, odd folders."""

from __future__ import annotations

import json
import logging
import os
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pairlab_jupyter import export

OFFLINE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
# Script types a browser runs; anything else (JSON, widget state) stays data.
RUNNABLE_TYPES = {"", "text/javascript", "module", "application/javascript"}


class Tags(HTMLParser):
    """Every start tag of a page with its attributes, as a browser would see them."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def runnable(self) -> list[str]:
        """Scripts, event handlers and javascript: links that would run on opening."""
        found = []
        for tag, attrs in self.tags:
            if tag == "script" and attrs.get("type", "").lower() in RUNNABLE_TYPES:
                found.append(f"<script> {attrs}")
            found += [f"{tag} {name}" for name in attrs if name.startswith("on")]
            found += [
                f"{tag} {name}={value}"
                for name, value in attrs.items()
                if value.strip().lower().startswith("javascript:")
            ]
        return found

    def policies(self) -> list[str]:
        return [
            attrs.get("content", "")
            for tag, attrs in self.tags
            if tag == "meta"
            and attrs.get("http-equiv", "").lower() == "content-security-policy"
        ]


def notebook(*cells: dict) -> str:
    return json.dumps(
        {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    )


def markdown(cell_id: str, source: str) -> dict:
    return {"id": cell_id, "cell_type": "markdown", "metadata": {}, "source": source}


def code_with_outputs(cell_id: str, *bundles: dict[str, str]) -> dict:
    return {
        "id": cell_id,
        "cell_type": "code",
        # The flag a candidate can set in the shared document: it must not matter.
        "metadata": {"trusted": True},
        "source": "show()",
        "execution_count": 1,
        "outputs": [
            {"output_type": "display_data", "metadata": {}, "data": bundle}
            for bundle in bundles
        ],
    }


HOSTILE = notebook(
    markdown(
        "planted-markdown",
        '# Results\n<img src=x onerror="steal()">\n<a href="javascript:steal()">me</a>',
    ),
    code_with_outputs(
        "planted-outputs",
        {"text/html": "<b>ok</b><script>steal()</script><img src=x onerror=steal()>"},
        {"application/javascript": "steal()", "text/plain": "<js>"},
        {
            "image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg' "
            "onload='steal()'><script>steal()</script></svg>"
        },
    ),
)


def export_hostile_notebook(tmp_path: Path) -> Tags:
    """Export HOSTILE as the only notebook; return the tags of its static page."""
    notebooks = tmp_path / "work"
    notebooks.mkdir()
    (notebooks / "interview.ipynb").write_text(HOSTILE)
    export.export_notebooks(notebook_dir=notebooks, target=tmp_path / "out")
    return Tags((tmp_path / "out" / "interview.html").read_text())


def test_an_exported_page_keeps_no_script_handler_or_javascript_link(
    tmp_path: Path,
) -> None:
    page = export_hostile_notebook(tmp_path)

    assert page.runnable() == []
    assert ("b", {}) in page.tags, "the harmless part of the HTML output is kept"


def test_an_exported_page_forbids_scripts_and_outside_loads_by_its_own_policy(
    tmp_path: Path,
) -> None:
    page = export_hostile_notebook(tmp_path)

    assert page.policies() == [OFFLINE_POLICY]
    first_meta_policy = next(
        index
        for index, (tag, attrs) in enumerate(page.tags)
        if attrs.get("http-equiv", "").lower() == "content-security-policy"
    )
    first_head_load = next(
        index
        for index, (tag, _) in enumerate(page.tags)
        if tag in {"script", "link", "style", "img"}
    )
    assert first_meta_policy < first_head_load


def test_the_playback_page_carries_a_policy_that_loads_nothing_from_outside() -> None:
    page = export.render_playback(title="Ada, interview", notebooks={}, runs=[])

    [policy] = Tags(page).policies()

    assert policy.startswith("default-src 'none';")
    assert "http" not in policy


def test_a_fifo_and_a_folder_named_like_a_notebook_are_not_exported(
    tmp_path: Path,
) -> None:
    notebooks = tmp_path / "work"
    (notebooks / "folder.ipynb").mkdir(parents=True)
    os.mkfifo(notebooks / ".cache.ipynb")
    (notebooks / "interview.ipynb").write_text(notebook(markdown("a", "# Hi")))

    found = export.find_notebooks(notebooks)
    exported = export.export_notebooks(notebook_dir=notebooks, target=tmp_path / "out")

    assert found == [Path("interview.ipynb")]
    assert list(exported) == ["interview.ipynb"]


def test_a_notebook_that_cannot_be_copied_is_named_and_the_rest_exported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notebooks = tmp_path / "work"
    notebooks.mkdir()
    for name in ("first.ipynb", "second.ipynb"):
        (notebooks / name).write_text(notebook(markdown(name[:-6], "# Hi")))
    # Something already sits where the first copy goes, so that copy fails.
    (tmp_path / "out" / "first.ipynb").mkdir(parents=True)

    with caplog.at_level(logging.WARNING, logger="pairlab.export"):
        exported = export.export_notebooks(
            notebook_dir=notebooks, target=tmp_path / "out"
        )

    assert list(exported) == ["second.ipynb"]
    assert (tmp_path / "out" / "second.html").is_file()
    [warning] = [record.getMessage() for record in caplog.records]
    assert warning.startswith("Skipped first.ipynb: it could not be copied")
    assert warning.endswith("the other notebooks were exported.")
