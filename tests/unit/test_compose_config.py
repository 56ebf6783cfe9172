"""compose.yaml validates with .env.example as the .env, and keeps its promises."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    shutil.which("docker") is None, reason="needs the docker CLI with compose v2"
)


@pytest.fixture(scope="module")
def config() -> dict:
    result = subprocess.run(
        [
            "docker",
            "compose",
            "--env-file",
            str(REPO / ".env.example"),
            "--file",
            str(REPO / "compose.yaml"),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_services_are_datagen_jupyter_and_ngrok(config: dict) -> None:
    assert set(config["services"]) == {"datagen", "jupyter", "ngrok"}


def test_jupyter_is_hardened_as_documented(config: dict) -> None:
    jupyter = config["services"]["jupyter"]

    assert jupyter["user"] == "1000:1000"
    assert jupyter["read_only"] is True
    assert jupyter["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in jupyter["security_opt"]
    assert list(jupyter["networks"]) == ["interview"]
    assert config["networks"]["interview"]["internal"] is True
    assert jupyter["pids_limit"] == 256
    assert jupyter["cpus"] == 2
    assert jupyter["depends_on"]["datagen"]["condition"] == (
        "service_completed_successfully"
    )


def test_the_dataset_is_mounted_read_only_into_jupyter(config: dict) -> None:
    mounts = {m["target"]: m for m in config["services"]["jupyter"]["volumes"]}

    assert mounts["/home/pairlab/work/data"]["read_only"] is True
    assert mounts["/run/pairlab/access"]["read_only"] is True
    assert "/run/pairlab/links" not in mounts


def test_ngrok_is_pinned_and_waits_for_a_healthy_jupyter(config: dict) -> None:
    ngrok = config["services"]["ngrok"]

    assert ngrok["image"].startswith("ngrok/ngrok:3.")
    assert ngrok["depends_on"]["jupyter"]["condition"] == "service_healthy"
    assert set(ngrok["networks"]) == {"interview", "outbound"}
    assert "ports" not in ngrok


def test_every_variable_compose_reads_is_documented_in_env_example() -> None:
    compose_text = (REPO / "compose.yaml").read_text()
    documented = {
        line.split("=", 1)[0]
        for line in (REPO / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    used = set(re.findall(r"\$\{([A-Z_]+)", compose_text))

    assert used <= documented, f"undocumented: {sorted(used - documented)}"
