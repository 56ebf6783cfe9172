"""Starting, failing and wiping whole stacks: each test brings up a stack of its own."""

from __future__ import annotations

from support.stack import Stack, wait_until


def error_lines(logs: str) -> list[str]:
    return [line for line in logs.splitlines() if line.startswith("ERROR[")]


def logs_once_they_show_an_error(stack: Stack, service: str) -> str:
    def logs_with_error() -> str | None:
        logs = stack.logs(service)
        return logs if error_lines(logs) else None

    return wait_until(
        logs_with_error, timeout=60, what=f"an error line in {service}'s logs"
    )


def test_down_v_leaves_nothing_but_the_export_folder(fresh_stack: Stack) -> None:
    export_dir = fresh_stack.workdir / "interviews"
    fresh_stack.settings["EXPORT_DIR"] = str(export_dir)
    fresh_stack.up()
    fresh_stack.links()
    printed = fresh_stack.compose("--profile", "export", "run", "--rm", "export")
    before = fresh_stack.leftovers()

    fresh_stack.down()

    # The export's own container went with --rm; the three services remain.
    assert len(before["containers"]) == 3, before
    assert len(before["volumes"]) == 5, before
    assert fresh_stack.leftovers() == {"containers": [], "volumes": [], "networks": []}
    folder = export_dir / printed.stdout.strip().removeprefix("interviews/")
    assert [p.name for p in export_dir.iterdir()] == [folder.name]
    for kept in ("notebooks/interview.ipynb", "execution-log.json", "playback.html"):
        assert (folder / kept).stat().st_size > 0, kept


def test_a_missing_ngrok_token_is_one_sentence_naming_the_setting(
    fresh_stack: Stack,
) -> None:
    fresh_stack.settings["NGROK_AUTHTOKEN"] = ""
    fresh_stack.up()

    logs = logs_once_they_show_an_error(fresh_stack, "ngrok")

    [line] = error_lines(logs)
    assert "NGROK_AUTHTOKEN is empty" in line
    assert ".env" in line
    assert "LINK" not in logs


def test_a_rejected_ngrok_token_is_one_sentence_naming_the_setting(
    fresh_stack: Stack,
) -> None:
    fresh_stack.settings["NGROK_AUTHTOKEN"] = "revoked_token"
    fresh_stack.settings["FAKE_NGROK_VALID_TOKEN"] = "the_real_token"
    fresh_stack.up()

    logs = logs_once_they_show_an_error(fresh_stack, "ngrok")

    [line] = error_lines(logs)
    assert "ngrok rejected NGROK_AUTHTOKEN" in line
    assert ".env" in line
    assert "revoked_token" not in logs


def test_a_failing_datagen_keeps_jupyter_down_and_says_why(fresh_stack: Stack) -> None:
    fresh_stack.settings["DATASET"] = "no_such_scenario"

    result = fresh_stack.up(check=False)

    assert result.returncode != 0
    assert fresh_stack.container_state("datagen")["ExitCode"] != 0
    assert fresh_stack.compose("ps", "--quiet", "jupyter").stdout.strip() == ""
    [line] = error_lines(fresh_stack.logs("datagen"))
    assert "DATASET" in line
    assert "no_such_scenario" in line
