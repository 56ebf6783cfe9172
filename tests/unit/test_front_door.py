"""The front-door policies that ngrok/front_door.sh writes for ngrok's agent."""

from __future__ import annotations

import ipaddress
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
FRONT_DOOR = REPO / "ngrok" / "front_door.sh"
EXAMPLES = REPO / "ngrok" / "policies"
# The official image runs start.sh under busybox ash; plain sh is the fallback.
BUSYBOX = shutil.which("busybox")
SHELL = [BUSYBOX, "sh"] if BUSYBOX else ["sh"]
RUN_FRONT_DOOR = (
    '. "$0" && write_front_door_policy "$1" '
    '|| { printf "%s\\n" "$FRONT_DOOR_ERROR" >&2; exit 1; }; '
    'printf "%s\\n" "$FRONT_DOOR_SUMMARY"'
)
# Managed providers listed in ngrok's oauth action documentation.
MANAGED_OAUTH_PROVIDERS = {"google", "github", "gitlab", "linkedin", "microsoft"}


@dataclass(frozen=True)
class Outcome:
    status: int
    summary: str
    error: str
    policy: dict[str, Any] | None


def front_door(tmp_path: Path, **settings: str) -> Outcome:
    policy_file = tmp_path / "front-door.yml"
    done = subprocess.run(
        [*SHELL, "-c", RUN_FRONT_DOOR, str(FRONT_DOOR), str(policy_file)],
        env={"PATH": "/usr/bin:/bin", **settings},
        capture_output=True,
        text=True,
        timeout=30,
    )
    policy = yaml.safe_load(policy_file.read_text()) if policy_file.exists() else None
    return Outcome(done.returncode, done.stdout.strip(), done.stderr.strip(), policy)


def check_documented_shape(policy: dict[str, Any]) -> None:
    """Fail unless the policy has the shape ngrok's traffic-policy docs describe."""
    assert set(policy) == {"on_http_request"}, policy.keys()
    for rule in policy["on_http_request"]:
        assert set(rule) <= {"name", "expressions", "actions"}, rule
        assert all(isinstance(e, str) for e in rule.get("expressions", [])), rule
        for action in rule["actions"]:
            config = action.get("config", {})
            if action["type"] == "basic-auth":
                assert 1 <= len(config["credentials"]) <= 10, config
                for login in config["credentials"]:
                    name, password = login.split(":", 1)
                    assert name, login
                    assert 8 <= len(password) <= 128, login
            elif action["type"] == "oauth":
                assert config["provider"] in MANAGED_OAUTH_PROVIDERS, config
            elif action["type"] == "restrict-ips":
                assert config["enforce"] is True, config
                for cidr in config["allow"]:
                    ipaddress.ip_network(cidr)
            else:
                assert action["type"] == "deny", action


def written_policy(tmp_path: Path, **settings: str) -> tuple[dict[str, Any], str]:
    """The policy and summary for settings that must work, checked for its shape."""
    outcome = front_door(tmp_path, **settings)
    assert outcome.status == 0, outcome.error
    assert outcome.policy is not None
    check_documented_shape(outcome.policy)
    return outcome.policy, outcome.summary


def test_the_front_door_is_off_by_default_and_writes_no_policy(
    tmp_path: Path,
) -> None:
    outcome = front_door(tmp_path)

    assert (outcome.status, outcome.error, outcome.policy) == (0, "", None)


def test_basic_auth_puts_every_login_under_one_basic_auth_action(
    tmp_path: Path,
) -> None:
    policy, summary = written_policy(
        tmp_path,
        NGROK_FRONT_DOOR="basic-auth",
        NGROK_BASIC_AUTH=" ada:correct*horse , bob:12345678,",
    )

    [rule] = policy["on_http_request"]
    [action] = rule["actions"]
    assert action["type"] == "basic-auth"
    assert action["config"]["credentials"] == ["ada:correct*horse", "bob:12345678"]
    assert "2 login(s)" in summary
    assert "horse" not in summary


def test_google_oauth_signs_in_with_google_then_denies_unlisted_addresses(
    tmp_path: Path,
) -> None:
    policy, _ = written_policy(
        tmp_path,
        NGROK_FRONT_DOOR="google-oauth",
        NGROK_OAUTH_ALLOWED_EMAILS="Ada@Example.com,b.c+x@mail.example.co.uk",
    )

    sign_in, gate = policy["on_http_request"]
    assert sign_in == {"actions": [{"type": "oauth", "config": {"provider": "google"}}]}
    assert gate["actions"] == [{"type": "deny"}]
    assert gate["expressions"] == [
        "!(actions.ngrok.oauth.identity.email in "
        "['ada@example.com', 'b.c+x@mail.example.co.uk'])"
    ]


def test_ip_allowlist_allows_only_the_listed_ranges_as_cidrs(tmp_path: Path) -> None:
    policy, _ = written_policy(
        tmp_path,
        NGROK_FRONT_DOOR="ip-allowlist",
        NGROK_ALLOWED_IPS="203.0.113.7, 198.51.100.0/24,2001:db8::/48,::1",
    )

    [rule] = policy["on_http_request"]
    assert rule["actions"] == [
        {
            "type": "restrict-ips",
            "config": {
                "enforce": True,
                "allow": [
                    "203.0.113.7/32",
                    "198.51.100.0/24",
                    "2001:db8::/48",
                    "::1/128",
                ],
            },
        }
    ]


def env_example_settings() -> dict[str, str]:
    """The commented example value of each front-door setting in .env.example."""
    text = (REPO / ".env.example").read_text()
    return dict(re.findall(r"^#\s+(NGROK_[A-Z_]+)=(\S+)$", text, re.MULTILINE))


@pytest.mark.parametrize(
    ("door", "setting"),
    [
        ("basic-auth", "NGROK_BASIC_AUTH"),
        ("google-oauth", "NGROK_OAUTH_ALLOWED_EMAILS"),
        ("ip-allowlist", "NGROK_ALLOWED_IPS"),
    ],
)
def test_each_documented_example_is_what_the_script_writes(
    tmp_path: Path, door: str, setting: str
) -> None:
    example_value = env_example_settings()[setting]
    documented = (EXAMPLES / f"{door}.example.yml").read_text()

    policy, _ = written_policy(
        tmp_path, NGROK_FRONT_DOOR=door, **{setting: example_value}
    )

    assert f"{setting}={example_value}" in documented
    assert policy == yaml.safe_load(documented)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"NGROK_FRONT_DOOR": "basic"}, "NGROK_FRONT_DOOR"),
        ({"NGROK_FRONT_DOOR": "basic-auth"}, "NGROK_BASIC_AUTH"),
        (
            {"NGROK_FRONT_DOOR": "basic-auth", "NGROK_BASIC_AUTH": "ada:Sh0rt"},
            "NGROK_BASIC_AUTH",
        ),
        (
            {"NGROK_FRONT_DOOR": "basic-auth", "NGROK_BASIC_AUTH": "nocolonpassword"},
            "NGROK_BASIC_AUTH",
        ),
        (
            {
                "NGROK_FRONT_DOOR": "basic-auth",
                "NGROK_BASIC_AUTH": 'ada:quote"breaks-yaml',
            },
            "NGROK_BASIC_AUTH",
        ),
        (
            {
                "NGROK_FRONT_DOOR": "basic-auth",
                "NGROK_BASIC_AUTH": "ada:${conn.client_ip}x",
            },
            "NGROK_BASIC_AUTH",
        ),
        (
            {
                "NGROK_FRONT_DOOR": "basic-auth",
                "NGROK_BASIC_AUTH": ",".join(f"u{n}:password{n}" for n in range(11)),
            },
            "NGROK_BASIC_AUTH",
        ),
        ({"NGROK_FRONT_DOOR": "google-oauth"}, "NGROK_OAUTH_ALLOWED_EMAILS"),
        (
            {
                "NGROK_FRONT_DOOR": "google-oauth",
                "NGROK_OAUTH_ALLOWED_EMAILS": "ada@example.com,x'] || true",
            },
            "NGROK_OAUTH_ALLOWED_EMAILS",
        ),
        ({"NGROK_FRONT_DOOR": "ip-allowlist"}, "NGROK_ALLOWED_IPS"),
        (
            {"NGROK_FRONT_DOOR": "ip-allowlist", "NGROK_ALLOWED_IPS": "256.1.2.3"},
            "NGROK_ALLOWED_IPS",
        ),
        (
            {"NGROK_FRONT_DOOR": "ip-allowlist", "NGROK_ALLOWED_IPS": "10.0.0.0/33"},
            "NGROK_ALLOWED_IPS",
        ),
        (
            {"NGROK_FRONT_DOOR": "ip-allowlist", "NGROK_ALLOWED_IPS": "*"},
            "NGROK_ALLOWED_IPS",
        ),
    ],
)
def test_a_bad_setting_is_one_sentence_naming_it_and_writes_no_policy(
    tmp_path: Path, settings: dict[str, str], named: str
) -> None:
    outcome = front_door(tmp_path, **settings)

    assert outcome.status == 1
    assert outcome.policy is None
    assert len(outcome.error.splitlines()) == 1, outcome.error
    assert named in outcome.error
    assert outcome.error.endswith("then run docker compose up -d again.")


def test_an_error_about_basic_auth_never_echoes_the_password(tmp_path: Path) -> None:
    outcome = front_door(
        tmp_path, NGROK_FRONT_DOOR="basic-auth", NGROK_BASIC_AUTH="ada:Secret7"
    )

    assert outcome.status == 1
    assert "Secret7" not in outcome.error
