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
