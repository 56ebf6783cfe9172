"""Your own scenarios are found by name in ./scenarios and never shipped as data."""

from __future__ import annotations

import json

import pytest

from datagen import load_scenario
from datagen.cli import COMMANDS, main
from datagen.scenario import SCENARIO_DIR

SMALL = (
    '[scenario]\ntitle = "My case"\n'
    '[tables.t]\nrows = 50\n[tables.t.columns.id]\nkind = "id"\n'
)


@pytest.fixture
def scenarios(tmp_path, monkeypatch):
    """An empty scenarios folder that datagen searches, as compose sets it up."""
    folder = tmp_path / "scenarios"
    folder.mkdir()
    monkeypatch.setenv("PAIRLAB_SCENARIO_DIR", str(folder))
    return folder


def last_error(caplog) -> str:
    return caplog.records[-1].getMessage() if caplog.records else ""


def test_a_scenario_in_the_scenarios_folder_is_found_by_name(scenarios, capsys):
    (scenarios / "my_case.toml").write_text(SMALL)

    status = main(["validate", "my_case"])

    assert status == 0
    assert capsys.readouterr().out.startswith(f"{scenarios / 'my_case.toml'}: valid")
    assert load_scenario("my_case.toml").path == scenarios / "my_case.toml"


def test_your_edited_copy_of_a_builtin_is_used_instead_of_the_builtin(scenarios):
    (scenarios / "shop.toml").write_text(SMALL)

    scenario = load_scenario("shop")

    assert (scenario.path, scenario.title) == (scenarios / "shop.toml", "My case")


def test_list_shows_your_scenarios_after_the_builtins(scenarios, capsys):
    (scenarios / "my_case.toml").write_text(SMALL)
    (scenarios / "broken.toml").write_text("[tables]\n")

    status = main(["list"])

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[-2].split()[:4] == ["broken", "yours", "not", "valid:"]
    assert lines[-1].split()[:4] == ["my_case", "yours", "My", "case:"]
    assert lines[0].split()[1] == "built-in"


def test_an_unknown_name_suggests_your_scenarios_and_the_folder(scenarios, caplog):
    (scenarios / "my_case.toml").write_text(SMALL)

    status = main(["validate", "my_cse"])

    message = last_error(caplog)
    assert status == 2
    assert "did you mean my_case" in message
    assert "put my_cse.toml in ./scenarios" in message
    assert "\n" not in message


def test_a_scenario_file_in_the_included_files_is_refused_before_generating(
    tmp_path, caplog
):
    include = tmp_path / "data"
    include.mkdir()
    (include / "notes.toml").write_text((SCENARIO_DIR / "shop.toml").read_text())
    out = tmp_path / "dataset"

    status = main(["generate", "shop", "--out", str(out), "--include", str(include)])

    message = last_error(caplog)
    assert status == 1
    assert (
        str(include / "notes.toml") in message and "move it to ./scenarios" in message
    )
    assert not out.exists()


def test_a_toml_file_that_is_not_a_scenario_still_ships(generate_including):
    status, out = generate_including({"targets.toml": "[targets]\nnorth = 10\n"})

    assert status == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [entry["name"] for entry in manifest["included_files"]] == ["targets.toml"]


def test_a_usage_mistake_is_one_line_that_points_at_help(caplog):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "shop"])

    message = last_error(caplog)
    assert exit_info.value.code == 2
    assert "--out" in message and "python -m datagen generate --help" in message
    assert "\n" not in message


def test_an_output_folder_that_cannot_be_made_is_one_sentence_naming_it(
    tmp_path, caplog
):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    status = main(["generate", "shop", "--out", str(blocker / "dataset")])

    message = last_error(caplog)
    assert status == 1
    assert message.startswith(str(blocker / "dataset")) and "check that" in message
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_subcommand_help_describes_it_and_shows_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])

    text = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "example" in text and "python -m datagen" in text.split("example")[1]
