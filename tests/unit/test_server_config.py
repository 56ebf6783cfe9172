"""jupyter_server_config.py loads, and sets the settings pairlab's security rests on."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config.loader import PyFileConfigLoader

CONFIG = Path(__file__).resolve().parents[2] / "jupyter" / "jupyter_server_config.py"


def load(monkeypatch: pytest.MonkeyPatch, **environ: str):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return PyFileConfigLoader(CONFIG.name, path=str(CONFIG.parent)).load_config()


def test_logins_go_through_pairlab_identity_and_authorizer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load(monkeypatch)

    assert config.ServerApp.identity_provider_class == (
        "pairlab_jupyter.identity.PairlabIdentityProvider"
    )
    assert config.ServerApp.authorizer_class == (
        "pairlab_jupyter.authorizer.PairlabAuthorizer"
    )
    assert config.IdentityProvider.token == ""
    assert config.ServerApp.quit_button is False
    assert len(config.ServerApp.cookie_secret) == 32


def test_each_start_gets_a_new_cookie_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    first = load(monkeypatch).ServerApp.cookie_secret
    second = load(monkeypatch).ServerApp.cookie_secret

    assert first != second


def test_collaboration_state_lives_outside_the_file_browser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load(monkeypatch)
    root = Path(config.ServerApp.root_dir)

    for path in (
        config.SQLiteYStore.db_path,
        config.YDocExtension.session_store_path,
        config.BaseFileIdManager.db_path,
    ):
        assert not Path(path).is_relative_to(root), path


@pytest.mark.parametrize(
    ("value", "enabled"),
    [("true", True), ("True", True), (" TRUE ", True), ("false", False), ("", False)],
)
def test_terminals_follow_the_setting_whatever_its_case(
    monkeypatch: pytest.MonkeyPatch, value: str, enabled: bool
) -> None:
    config = load(monkeypatch, JUPYTER_TERMINALS=value)

    assert config.ServerApp.terminals_enabled is enabled


def test_pages_forbid_inline_script_and_keep_the_other_safety_headers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    headers = load(monkeypatch).ServerApp.tornado_settings["headers"]

    policy = dict(
        directive.strip().split(" ", 1)
        for directive in headers["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self' 'unsafe-eval'"
    assert policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'self'"
    assert "'unsafe-inline'" not in policy["default-src"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
