"""Drives one throwaway pairlab stack through `docker compose` for the end-to-end tests.

Each Stack has its own compose project name, its own env file written from
.env.example, and the fake ngrok agent published on a free port of 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

REPO = Path(__file__).resolve().parents[2]
WITH_FAKE_NGROK = (REPO / "compose.yaml", REPO / "tests" / "compose.test.yaml")
# The lines ngrok/start.sh prints: the only place any log holds the tokens.
LINK_PATTERN = re.compile(r"(CANDIDATE|INTERVIEWER) LINK for .*?: (\S+)$", re.MULTILINE)
# Variables a developer's shell may hold that must not leak into a test stack.
PASSED_THROUGH = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CONFIG", "PYTHON_IMAGE")

T = TypeVar("T")


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, interval: float = 0.5, what: str
) -> T:
    """Call probe until it returns something truthy; fail naming `what` at the end."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = probe()
        except Exception as error:
            last_error = error
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not within {timeout:.0f}s (last error: {last_error!r})")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Links:
    """The two links the ngrok service printed."""

    candidate: str
    interviewer: str

    @property
    def base_url(self) -> str:
        return self.candidate.split("/lab?", 1)[0]

    @property
    def candidate_token(self) -> str:
        return self.candidate.rsplit("token=", 1)[1]

    @property
    def interviewer_token(self) -> str:
        return self.interviewer.rsplit("token=", 1)[1]


@dataclass
class Stack:
    """One compose project of pairlab, with the fake ngrok agent swapped in."""

    workdir: Path
    settings: dict[str, str] = field(default_factory=dict)
    project: str = field(default_factory=lambda: f"pairlab-test-{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)
    compose_files: tuple[Path, ...] = WITH_FAKE_NGROK

    @property
    def env_file(self) -> Path:
        return self.workdir / f"{self.project}.env"

    def write_env_file(self) -> None:
        """Write .env.example with the test's settings in place of the defaults."""
        lines = (REPO / ".env.example").read_text().splitlines()
        wanted = {"NGROK_AUTHTOKEN": "fake_ngrok_token", **self.settings}
        out = []
        for line in lines:
            key = line.split("=", 1)[0]
            if "=" in line and not line.startswith("#") and key in wanted:
                line = f"{key}={wanted.pop(key)}"
            out.append(line)
        out += [f"{key}={value}" for key, value in wanted.items()]
        self.env_file.write_text("\n".join(out) + "\n")

    def compose(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        env = {key: os.environ[key] for key in PASSED_THROUGH if key in os.environ}
        env["FAKE_NGROK_PORT"] = str(self.port)
        command = ["docker", "compose", "--project-name", self.project]
        command += ["--env-file", str(self.env_file)]
        for compose_file in self.compose_files:
            command += ["--file", str(compose_file)]
        result = subprocess.run(
            [*command, *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"`docker compose {' '.join(args)}` exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def up(
        self, *services: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        self.write_env_file()
        return self.compose("up", "--detach", *services, check=check)

    def down(self) -> subprocess.CompletedProcess[str]:
        return self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5")

    @contextmanager
    def running(self) -> Iterator[Stack]:
        """Up for the with-block, then wiped, even when bringing it up failed."""
        try:
            self.up()
            yield self
        finally:
            self.down()

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", "--no-log-prefix", service).stdout

    def links(self, *, timeout: float = 90) -> Links:
        def found() -> Links | None:
            printed = dict(LINK_PATTERN.findall(self.logs("ngrok")))
            if {"CANDIDATE", "INTERVIEWER"} <= printed.keys():
                return Links(printed["CANDIDATE"], printed["INTERVIEWER"])
            return None

        return wait_until(found, timeout=timeout, what="the link lines in ngrok's logs")

    def container_state(self, service: str) -> Mapping[str, object]:
        container_id = self.compose("ps", "--all", "--quiet", service).stdout.strip()
        inspected = subprocess.run(
            ["docker", "inspect", container_id],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(inspected.stdout)[0]["State"]

    def exec(self, service: str, *command: str) -> subprocess.CompletedProcess[str]:
        return self.compose("exec", "-T", service, *command, check=False)

    def deadline(self) -> datetime:
        """When the candidate's access ends, from the access file datagen wrote."""
        raw = self.exec("jupyter", "cat", "/run/pairlab/access/access.json").stdout
        access = json.loads(raw)
        started = datetime.fromisoformat(access["started_at"])
        return started + timedelta(minutes=float(access["interview_minutes"]))

    def leftovers(self) -> dict[str, list[str]]:
        """Containers, volumes and networks that still carry this project's label."""
        label = f"label=com.docker.compose.project={self.project}"
        found = {}
        for kind, listing in (
            ("containers", ["docker", "ps", "--all", "--quiet", "--filter", label]),
            ("volumes", ["docker", "volume", "ls", "--quiet", "--filter", label]),
            ("networks", ["docker", "network", "ls", "--quiet", "--filter", label]),
        ):
            output = subprocess.run(listing, capture_output=True, text=True, check=True)
            found[kind] = output.stdout.split()
        return found
