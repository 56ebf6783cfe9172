"""pairlab_jupyter.identity: who a token or cookie logs in, and until when."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from datagen import access
from pairlab_jupyter.identity import AccessFileError, load_access, without_token

START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


@pytest.fixture
def issued(tmp_path: Path) -> Path:
    (tmp_path / "access").mkdir()
    (tmp_path / "links").mkdir()
    access.issue(
        {
            "CANDIDATE_NAME": "Ada Lovelace",
            "INTERVIEWER_NAME": "Grace Hopper",
            "INTERVIEW_MINUTES": "90",
        },
        access_dir=tmp_path / "access",
        links_dir=tmp_path / "links",
        now=START,
    )
    return tmp_path


def token(issued: Path, role: str) -> str:
    return (issued / "links" / f"{role}.token").read_text().strip()


def test_each_token_names_its_own_person(issued: Path) -> None:
    loaded = load_access(issued / "access" / "access.json")

    candidate = loaded.person_for_token(token(issued, "candidate"))
    interviewer = loaded.person_for_token(token(issued, "interviewer"))

    assert candidate is not None and interviewer is not None
    assert (candidate.username, candidate.name) == ("candidate", "Ada Lovelace")
    assert (interviewer.username, interviewer.name) == ("interviewer", "Grace Hopper")
    assert candidate.color != interviewer.color


def test_users_carry_initials_and_colour_for_the_collaborators_list(
    issued: Path,
) -> None:
    loaded = load_access(issued / "access" / "access.json")

    user = loaded.people["interviewer"].as_user()

    assert (user.display_name, user.initials, user.color) == (
        "Grace Hopper",
        "GH",
        "#d93025",
    )


@pytest.mark.parametrize("wrong", ["", "x", "not-a-token-at-all-but-long-enough"])
def test_a_wrong_token_names_nobody(issued: Path, wrong: str) -> None:
    loaded = load_access(issued / "access" / "access.json")

    assert loaded.person_for_token(wrong) is None


def test_the_candidate_may_enter_until_the_deadline_and_the_interviewer_after(
    issued: Path,
) -> None:
    loaded = load_access(issued / "access" / "access.json")
    candidate = loaded.people["candidate"]
    interviewer = loaded.people["interviewer"]
    just_before = START + timedelta(minutes=90) - timedelta(seconds=1)
    at_deadline = START + timedelta(minutes=90)

    assert loaded.may_enter(candidate, now=just_before)
    assert not loaded.may_enter(candidate, now=at_deadline)
    assert loaded.may_enter(interviewer, now=at_deadline + timedelta(hours=5))


def test_no_time_limit_when_minutes_is_zero(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "l").mkdir()
    access.issue(
        {"INTERVIEW_MINUTES": "0"},
        access_dir=tmp_path / "a",
        links_dir=tmp_path / "l",
        now=START,
    )
    loaded = load_access(tmp_path / "a" / "access.json")

    assert loaded.candidate_deadline is None
    assert loaded.may_enter(loaded.people["candidate"], now=START + timedelta(days=30))


def test_a_missing_access_file_says_to_start_the_whole_stack(tmp_path: Path) -> None:
    with pytest.raises(AccessFileError, match="docker compose up -d"):
        load_access(tmp_path / "absent.json")


def test_a_corrupt_access_file_says_how_to_issue_fresh_links(tmp_path: Path) -> None:
    broken = tmp_path / "access.json"
    broken.write_text(json.dumps({"users": [{"username": "candidate"}]}))

    with pytest.raises(AccessFileError, match="docker compose down -v"):
        load_access(broken)


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        ("/lab/tree/x.ipynb", "token=abc", "/lab/tree/x.ipynb"),
        ("/lab", "reset&token=abc", "/lab?reset"),
        ("/lab", "a=1&tok%65n=abc&b=%2F", "/lab?a=1&b=%2F"),
        ("//elsewhere.example/lab", "token=abc", "/elsewhere.example/lab"),
    ],
)
def test_the_redirect_address_drops_only_the_token_and_stays_on_this_site(
    path: str, query: str, expected: str
) -> None:
    assert without_token(path, query) == expected
