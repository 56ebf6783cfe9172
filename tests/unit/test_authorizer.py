"""pairlab_jupyter.authorizer: everything an interview needs, but no server shutdown."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pairlab_jupyter.authorizer import PairlabAuthorizer

PERSON = SimpleNamespace(username="candidate")


def test_no_one_may_shut_the_server_down() -> None:
    authorizer = PairlabAuthorizer()

    assert authorizer.is_authorized(None, PERSON, "write", "server") is False


@pytest.mark.parametrize(
    ("action", "resource"),
    [
        ("read", "contents"),
        ("write", "contents"),
        ("execute", "kernels"),
        ("write", "kernels"),
        ("read", "server"),
        ("read", "api"),
    ],
)
def test_everything_else_an_interview_needs_is_allowed(
    action: str, resource: str
) -> None:
    authorizer = PairlabAuthorizer()

    assert authorizer.is_authorized(None, PERSON, action, resource) is True
