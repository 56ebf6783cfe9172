"""datagen.access: issuing the logins, keeping them, refusing bad settings."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest

from datagen import access


def issue_into(tmp_path: Path, env: dict[str, str]) -> dict[str, bool]:
    return access.issue(
        env,
        access_dir=tmp_path / "access",
        links_dir=tmp_path / "links",
        now=datetime(2026, 12, 4, 9, 0, tzinfo=UTC),
    )


@pytest.fixture
def dirs(tmp_path: Path) -> Path:
    (tmp_path / "access").mkdir()
    (tmp_path / "links").mkdir()
    return tmp_path


def read_access(dirs: Path) -> dict:
    return json.loads((dirs / "access" / "access.json").read_text())


def test_issue_writes_hashes_for_jupyter_and_private_tokens_for_ngrok(
    dirs: Path,
) -> None:
    issued = issue_into(dirs, {"CANDIDATE_NAME": "Ada Lovelace"})

    written = read_access(dirs)
    users = {user["username"]: user for user in written["users"]}
    candidate_token = (dirs / "links" / "candidate.token").read_text().strip()
    mode = stat.S_IMODE((dirs / "links" / "candidate.token").stat().st_mode)
    assert issued == {"candidate": True, "interviewer": True}
    assert users["candidate"]["name"] == "Ada Lovelace"
    assert users["interviewer"]["name"] == "Interviewer"
    assert (
        users["candidate"]["token_sha256"]
        == hashlib.sha256(candidate_token.encode()).hexdigest()
    )
    assert candidate_token not in (dirs / "access" / "access.json").read_text()
    assert mode == 0o600
    assert written["started_at"] == "2026-12-04T09:00:00+00:00"
    assert written["interview_minutes"] == 120


def test_the_two_people_get_different_unguessable_tokens(dirs: Path) -> None:
    issue_into(dirs, {})

    candidate = (dirs / "links" / "candidate.token").read_text().strip()
    interviewer = (dirs / "links" / "interviewer.token").read_text().strip()
    assert candidate != interviewer
    assert len(candidate) >= 40 and len(interviewer) >= 40


def test_issuing_again_keeps_tokens_and_start_time(dirs: Path) -> None:
    issue_into(dirs, {})
    first = (dirs / "links" / "candidate.token").read_text()

    issued = access.issue(
        {"CANDIDATE_NAME": "Grace"},
        access_dir=dirs / "access",
        links_dir=dirs / "links",
        now=datetime(2026, 12, 4, 10, 30, tzinfo=UTC),
    )

    assert issued == {"candidate": False, "interviewer": False}
    assert (dirs / "links" / "candidate.token").read_text() == first
    assert read_access(dirs)["started_at"] == "2026-12-04T09:00:00+00:00"
    assert read_access(dirs)["users"][0]["name"] == "Grace"


def test_a_token_fixed_in_env_replaces_the_random_one(dirs: Path) -> None:
    fixed = "a-fixed-token-of-enough-length_1234"

    issue_into(dirs, {"JUPYTER_TOKEN": fixed})

    assert (dirs / "links" / "candidate.token").read_text().strip() == fixed


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"JUPYTER_TOKEN": "short"}, "JUPYTER_TOKEN"),
        ({"JUPYTER_TOKEN": "has spaces in it but is long enough"}, "JUPYTER_TOKEN"),
        ({"INTERVIEW_MINUTES": "ninety"}, "INTERVIEW_MINUTES"),
        ({"INTERVIEW_MINUTES": "-5"}, "INTERVIEW_MINUTES"),
        ({"CANDIDATE_NAME": "x" * 61}, "CANDIDATE_NAME"),
        ({"INTERVIEWER_NAME": "bad\x07name"}, "INTERVIEWER_NAME"),
    ],
)
def test_a_bad_setting_is_one_sentence_naming_it_and_env(
    dirs: Path, env: dict[str, str], named: str
) -> None:
    with pytest.raises(access.SettingError) as raised:
        issue_into(dirs, env)

    message = str(raised.value)
    assert message.startswith(named)
    assert ".env" in message
    assert "\n" not in message


def test_main_reports_a_bad_setting_with_exit_code_2(
    dirs: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access, "ACCESS_DIR", dirs / "access")
    monkeypatch.setattr(access, "LINKS_DIR", dirs / "links")

    code = access.main({"INTERVIEW_MINUTES": "soon"})

    assert code == 2
    assert "INTERVIEW_MINUTES in .env is 'soon'" in caplog.text


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"JUPYTER_CPUS": "0"}, "JUPYTER_CPUS"),
        ({"JUPYTER_CPUS": "1,5"}, "JUPYTER_CPUS"),
        ({"JUPYTER_CPUS": "64"}, "JUPYTER_CPUS"),
        ({"JUPYTER_MEMORY": "4"}, "JUPYTER_MEMORY"),
        ({"JUPYTER_MEMORY": "40m"}, "JUPYTER_MEMORY"),
        ({"JUPYTER_MEMORY": "lots"}, "JUPYTER_MEMORY"),
        ({"JUPYTER_PIDS": "abc"}, "JUPYTER_PIDS"),
        ({"JUPYTER_PIDS": "10"}, "JUPYTER_PIDS"),
        ({"JUPYTER_TMP_SIZE": "lots"}, "JUPYTER_TMP_SIZE"),
        ({"JUPYTER_TMP_SIZE": "1m"}, "JUPYTER_TMP_SIZE"),
        ({"JUPYTER_TERMINALS": "yes please"}, "JUPYTER_TERMINALS"),
        ({"JUPYTER_DISK_FLOOR": "two gigs"}, "JUPYTER_DISK_FLOOR"),
    ],
)
def test_a_bad_sandbox_limit_is_one_sentence_naming_it(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(access.SettingError) as raised:
        access.check_sandbox(env, host_cpus=2)

    assert str(raised.value).startswith(f"{named} in .env is")
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"JUPYTER_CPUS": "1.5", "JUPYTER_MEMORY": "2g", "JUPYTER_PIDS": "128"},
        {
            "JUPYTER_MEMORY": "4GB",
            "JUPYTER_TMP_SIZE": "1g",
            "JUPYTER_TERMINALS": "True",
        },
        {"JUPYTER_MEMORY": "1536m", "JUPYTER_CPUS": "0.5"},
    ],
)
def test_sensible_sandbox_limits_pass(env: dict[str, str]) -> None:
    access.check_sandbox(env, host_cpus=2)


def test_check_settings_stops_before_anything_is_written(
    dirs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    code = access.check_settings({"JUPYTER_CPUS": "0"})

    assert code == 2
    assert "JUPYTER_CPUS in .env is '0'" in caplog.text
    assert list((dirs / "links").iterdir()) == []


def test_the_deadline_for_the_link_lines_is_written_beside_the_tokens(
    dirs: Path,
) -> None:
    issue_into(dirs, {"INTERVIEW_MINUTES": "90"})

    assert (dirs / "links" / "deadline").read_text() == "2026-12-04 10:30 UTC\n"


def test_no_deadline_is_written_without_a_time_limit(dirs: Path) -> None:
    issue_into(dirs, {"INTERVIEW_MINUTES": "0"})

    assert (dirs / "links" / "deadline").read_text() == "\n"
