"""Fixtures for the end-to-end tests: a real Docker engine, images built once."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest

from support.jupyter import JupyterClient, Kernel
from support.stack import Links, Stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)


def docker_problem() -> str | None:
    try:
        info = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"the docker CLI did not answer ({error})"
    if info.returncode != 0:
        return f"no Docker engine answers ({info.stderr.strip().splitlines()[-1:]})"
    return None


@pytest.fixture(scope="session")
def docker_engine() -> None:
    problem = docker_problem()
    if problem is None:
        return
    # CI must never pass by skipping the tests that matter most.
    if os.environ.get("PAIRLAB_REQUIRE_DOCKER") == "1":
        pytest.fail(f"PAIRLAB_REQUIRE_DOCKER=1 but {problem}")
    pytest.skip(
        f"end-to-end tests need Docker: {problem}; run ../shared/docker/provision"
    )


@pytest.fixture(scope="session")
def built_images(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Build the three images once; every stack of the session reuses them."""
    builder = Stack(tmp_path_factory.mktemp("build"))
    builder.write_env_file()
    builder.compose("build", timeout=1800)


@pytest.fixture(scope="session")
def stack(
    built_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One running stack shared by the read-only end-to-end tests."""
    with Stack(tmp_path_factory.mktemp("stack")).running() as shared:
        yield shared


@pytest.fixture
def fresh_stack(built_images: None, tmp_path: os.PathLike[str]) -> Iterator[Stack]:
    """A stack of the test's own, for tests that change settings or tear things down."""
    own = Stack(tmp_path)
    try:
        yield own
    finally:
        own.down()


@pytest.fixture(scope="session")
def links(stack: Stack) -> Links:
    return stack.links()


@pytest.fixture(scope="session")
def candidate(links: Links) -> Iterator[JupyterClient]:
    client = JupyterClient(links.base_url, links.candidate_token)
    yield client
    client.close()


@pytest.fixture(scope="session")
def kernel(candidate: JupyterClient) -> Iterator[Kernel]:
    """A kernel the candidate started through the tunnel."""
    started = candidate.start_kernel()
    yield started
    started.shutdown()
