"""Bad scenarios and bad settings fail before generating, in one sentence with a fix."""

from __future__ import annotations

import pytest

from datagen.cli import main

BASE = '[tables.orders]\nrows = 10\n[tables.orders.columns.order_id]\nkind = "id"\n'


def run(argv, caplog) -> tuple[int, str]:
    caplog.clear()
    status = main(argv)
    return status, caplog.records[-1].getMessage() if caplog.records else ""


@pytest.mark.parametrize(
    ("extra", "expected_parts"),
    [
        (
            '[tables.orders.columns.who]\nkind = "provider"\n'
            'provider = "person.fullname"\n',
            ["column 'who'", "key 'provider'", "person.full_name"],
        ),
        (
            '[tables.orders.columns.amount]\nkind = "normal"\nmean = 5\nsdev = 1\n',
            ["column 'amount'", "key 'sdev'", "'sd'"],
        ),
        (
            '[tables.orders.columns.amount]\nkind = "lognormel"\n',
            ["column 'amount'", "key 'kind'", "lognormal"],
        ),
        (
            '[tables.orders.columns.cust]\nkind = "foreign_key"\n'
            'references = "custmers.id"\n',
            ["column 'cust'", "key 'references'", "orders"],
        ),
        (
            '[tables.orders.columns.amount]\nkind = "normal"\nmean = 5\nsd = 1\n'
            "missing = 2\n",
            ["column 'amount'", "key 'missing'", "from 0 (off)"],
        ),
        (
            '[tables.orders.columns.seg]\nkind = "category"\nvalues = ["a", "b"]\n'
            "weights = [1]\n",
            ["column 'seg'", "key 'weights'", "exactly 2 weights"],
        ),
        (
            '[tables.orders.columns.total]\nkind = "derived"\nexpr = "price * 2"\n',
            ["table 'orders'", "column 'total'", "defined above it"],
        ),
    ],
)
def test_bad_scenario_fails_validation_with_file_table_column_key_and_fix(
    write_scenario, caplog, extra, expected_parts
):
    path = write_scenario(BASE + extra)

    status, message = run(["validate", str(path)], caplog)

    assert status == 2
    assert str(path) in message
    for part in expected_parts:
        assert part in message, message
    assert "\n" not in message and "Traceback" not in message


def test_bad_scenario_writes_nothing(write_scenario, caplog, tmp_path):
    path = write_scenario(BASE + '[tables.orders.columns.x]\nkind = "nope"\n')
    out = tmp_path / "dataset"

    status, _ = run(["generate", str(path), "--out", str(out)], caplog)

    assert status == 2
    assert not out.exists()


def test_cyclic_foreign_keys_are_rejected(write_scenario, caplog):
    path = write_scenario(
        '[tables.a]\nrows = 5\n[tables.a.columns.id]\nkind = "id"\n'
        '[tables.a.columns.b_id]\nkind = "foreign_key"\nreferences = "b.id"\n'
        '[tables.b]\nrows = 5\n[tables.b.columns.id]\nkind = "id"\n'
        '[tables.b.columns.a_id]\nkind = "foreign_key"\nreferences = "a.id"\n'
    )

    status, message = run(["validate", str(path)], caplog)

    assert status == 2
    assert "cycle" in message


def test_unknown_scenario_name_suggests_the_closest_builtin(caplog):
    status, message = run(["validate", "shoop"], caplog)

    assert status == 2
    assert "did you mean shop" in message and "DATASET" in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("DATASET_SEED", "forty-two"),
        ("DATASET_SEED", "-1"),
        ("DATASET_SCALE", "big"),
        ("DATASET_SCALE", "0"),
        ("DATASET_FORMATS", "csv,xlsx"),
    ],
)
def test_bad_environment_value_names_the_variable_and_env_file_with_exit_2(
    monkeypatch, caplog, tmp_path, variable, value
):
    monkeypatch.setenv(variable, value)

    status, message = run(["generate", "--out", str(tmp_path / "o")], caplog)

    assert status == 2
    assert (
        message.startswith(f"{variable}=") and ".env" in message and "set it" in message
    )


def test_help_lists_the_scenarios_and_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])

    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for word in (
        "shop",
        "subscriptions",
        "ab_test",
        "generate",
        "validate",
        "answer-key",
    ):
        assert word in text


def test_a_derived_column_of_sql_decimals_takes_numeric_imperfections(
    write_scenario, capsys
):
    path = write_scenario(
        BASE + '[tables.orders.columns.grams]\nkind = "category"\nvalues = [250, 500]\n'
        '[tables.orders.columns.price]\nkind = "derived"\nexpr = "grams * 0.028"\n'
        "decimals = 2\nunit_mixup = 0.2\n"
    )

    status = main(["validate", str(path)])

    assert status == 0, capsys.readouterr()
    assert "valid" in capsys.readouterr().out
