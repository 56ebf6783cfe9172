"""Issues the interview's logins: one secret token each for candidate and interviewer.

Runs inside the datagen service, before Jupyter starts. Plaintext tokens go to the
links volume, which only the ngrok service mounts, to print the two links; Jupyter
gets the access file with names, colours and token hashes only, because code in the
candidate's kernel can read whatever Jupyter can. It also checks the sandbox limits
from .env, since datagen runs before jupyter.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger("pairlab.access")

ACCESS_DIR = Path("/run/pairlab/access")
LINKS_DIR = Path("/run/pairlab/links")
MIN_TOKEN_LENGTH = 24
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_\-]+")
NAME_PATTERN = re.compile(r"[^\x00-\x1f\x7f]{1,60}")
DEFAULT_INTERVIEW_MINUTES = 120
DECIMAL_PATTERN = re.compile(r"[0-9]{1,6}(\.[0-9]{1,3})?")


class SettingError(Exception):
    """A setting from .env is unusable; the message names it and the fix."""


@dataclass(frozen=True, kw_only=True)
class Role:
    """A person's part in the interview and how they are told apart."""

    username: str
    name_variable: str
    default_name: str
    token_variable: str
    color: str


ROLES = (
    Role(
        username="candidate",
        name_variable="CANDIDATE_NAME",
        default_name="Candidate",
        token_variable="JUPYTER_TOKEN",
        color="#1a73e8",
    ),
    Role(
        username="interviewer",
        name_variable="INTERVIEWER_NAME",
        default_name="Interviewer",
        token_variable="INTERVIEWER_TOKEN",
        color="#d93025",
    ),
)


def _sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def read_name(env: Mapping[str, str], role: Role) -> str:
    name = env.get(role.name_variable, "").strip() or role.default_name
    if not NAME_PATTERN.fullmatch(name):
        raise SettingError(
            f"{role.name_variable} in .env must be 1 to 60 printable characters; "
            f"shorten it or leave it empty for {role.default_name!r}."
        )
    return name


def read_fixed_token(env: Mapping[str, str], role: Role) -> str | None:
    token = env.get(role.token_variable, "").strip()
    if not token:
        return None
    if len(token) < MIN_TOKEN_LENGTH or not TOKEN_PATTERN.fullmatch(token):
        raise SettingError(
            f"{role.token_variable} in .env must be at least {MIN_TOKEN_LENGTH} "
            "letters, digits, '-' or '_'; leave it empty to get a fresh random token."
        )
    return token


def read_minutes(env: Mapping[str, str]) -> int | float:
    raw = env.get("INTERVIEW_MINUTES", "").strip() or str(DEFAULT_INTERVIEW_MINUTES)
    # Decimals such as 0.5 are allowed, so a rehearsal can end in seconds.
    if not DECIMAL_PATTERN.fullmatch(raw):
        raise SettingError(
            f"INTERVIEW_MINUTES in .env is {raw!r}; set it to a number of minutes "
            "such as 120 or 0.5, or 0 for no time limit."
        )
    minutes = float(raw)
    return int(minutes) if minutes.is_integer() else minutes


SIZE_PATTERN = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([kmg]?)(?:i?b)?", re.IGNORECASE)
SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30}
MIN_JUPYTER_MEMORY = 512 * 2**20
MIN_JUPYTER_TMP = 16 * 2**20
MIN_JUPYTER_PIDS = 64


def _size_in_bytes(raw: str) -> int | None:
    match = SIZE_PATTERN.fullmatch(raw.strip())
    if match is None:
        return None
    return int(float(match.group(1)) * SIZE_UNITS[match.group(2).lower()])


def check_sandbox(env: Mapping[str, str], *, host_cpus: int | None = None) -> None:
    """Check the jupyter service's limits before Docker meets them.

    datagen runs before jupyter, so a bad limit stops here with one sentence, and a
    running interview keeps its jupyter instead of meeting a daemon error mid-way.
    """
    host_cpus = host_cpus or os.cpu_count() or 1
    cpus = env.get("JUPYTER_CPUS", "").strip() or "2"
    try:
        cpu_value = float(cpus)
    except ValueError:
        cpu_value = -1.0
    if not 0.25 <= cpu_value <= host_cpus:
        raise SettingError(
            f"JUPYTER_CPUS in .env is {cpus!r}; set it to a number of CPUs from 0.25 "
            f"to {host_cpus} (what Docker has here), such as 1.5."
        )

    memory = env.get("JUPYTER_MEMORY", "").strip() or "4g"
    memory_bytes = _size_in_bytes(memory)
    if memory_bytes is None or memory_bytes < MIN_JUPYTER_MEMORY:
        raise SettingError(
            f"JUPYTER_MEMORY in .env is {memory!r}; JupyterLab with pandas needs at "
            "least 512m, so set a size with its unit, such as 2g or 4g."
        )

    pids = env.get("JUPYTER_PIDS", "").strip() or "256"
    if not pids.isdigit() or int(pids) < MIN_JUPYTER_PIDS:
        raise SettingError(
            f"JUPYTER_PIDS in .env is {pids!r}; set it to a whole number of at "
            f"least {MIN_JUPYTER_PIDS}, such as 256."
        )

    tmp_size = env.get("JUPYTER_TMP_SIZE", "").strip() or "512m"
    tmp_bytes = _size_in_bytes(tmp_size)
    if tmp_bytes is None or tmp_bytes < MIN_JUPYTER_TMP or "b" in tmp_size.lower():
        raise SettingError(
            f"JUPYTER_TMP_SIZE in .env is {tmp_size!r}; set a size of at least 16m "
            "written as a number and k, m or g, such as 512m."
        )

    floor = env.get("JUPYTER_DISK_FLOOR", "").strip() or "2g"
    if _size_in_bytes(floor) is None:
        raise SettingError(
            f"JUPYTER_DISK_FLOOR in .env is {floor!r}; set a size such as 2g or "
            "512m, or 0 to turn the disk guard off."
        )

    terminals = env.get("JUPYTER_TERMINALS", "").strip() or "false"
    if terminals.lower() not in ("true", "false"):
        raise SettingError(
            f"JUPYTER_TERMINALS in .env is {terminals!r}; set it to true or false."
        )


def candidate_deadline(*, started_at: str, interview_minutes: float) -> str:
    """When the candidate's link stops working, for the link lines; '' if never."""
    if not interview_minutes:
        return ""
    end = datetime.fromisoformat(started_at) + timedelta(minutes=interview_minutes)
    return end.strftime("%Y-%m-%d %H:%M UTC")


def read_settings(
    env: Mapping[str, str],
) -> tuple[dict[str, str], dict[str, str | None], float]:
    """Check every setting this module reads; return names, fixed tokens, minutes."""
    names = {role.username: read_name(env, role) for role in ROLES}
    fixed_tokens = {role.username: read_fixed_token(env, role) for role in ROLES}
    interview_minutes = read_minutes(env)
    check_sandbox(env)
    return names, fixed_tokens, interview_minutes


def check_settings(env: Mapping[str, str] | None = None) -> int:
    """Log the first bad setting in one sentence; return an exit code (0: all good)."""
    try:
        read_settings(os.environ if env is None else env)
    except SettingError as error:
        log.error("%s", error)
        return 2
    return 0


def issue(
    env: Mapping[str, str],
    *,
    access_dir: Path | None = None,
    links_dir: Path | None = None,
    now: datetime | None = None,
) -> dict[str, bool]:
    """Write the access file and the token files; return which tokens are new.

    Every setting is checked before anything is written. Running it again keeps
    every existing token and the start time, so restarting the stack never
    invalidates links already sent; a token fixed in .env replaces the stored one.
    """
    access_dir = access_dir or ACCESS_DIR
    links_dir = links_dir or LINKS_DIR
    names, fixed_tokens, interview_minutes = read_settings(env)

    access_file = access_dir / "access.json"
    previous = json.loads(access_file.read_text()) if access_file.exists() else {}
    previous_users = {u["username"]: u for u in previous.get("users", [])}
    started_at = previous.get("started_at") or (now or datetime.now(UTC)).isoformat(
        timespec="seconds"
    )

    users = []
    issued = {}
    for role in ROLES:
        token_file = links_dir / f"{role.username}.token"
        kept = token_file.read_text().strip() if token_file.exists() else None
        stored_hash = previous_users.get(role.username, {}).get("token_sha256")
        if fixed_tokens[role.username] is not None:
            token = fixed_tokens[role.username]
        elif kept and stored_hash == _sha256(kept):
            token = kept
        else:
            token = secrets.token_urlsafe(32)
        issued[role.username] = token != kept
        _write_private(token_file, token + "\n")
        users.append(
            {
                "username": role.username,
                "role": role.username,
                "name": names[role.username],
                "color": role.color,
                "token_sha256": _sha256(token),
            }
        )

    access = {
        "version": 1,
        "started_at": started_at,
        "interview_minutes": interview_minutes,
        "users": users,
    }
    deadline = candidate_deadline(
        started_at=started_at, interview_minutes=interview_minutes
    )
    _write_private(links_dir / "deadline", deadline + "\n")
    staging = access_dir / ".access.json.tmp"
    staging.write_text(json.dumps(access, indent=2) + "\n")
    staging.chmod(0o644)
    staging.replace(access_file)
    return issued


def _write_private(path: Path, text: str) -> None:
    staging = path.with_name(f".{path.name}.tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    staging.replace(path)


def main(env: Mapping[str, str] | None = None) -> int:
    """Issue the logins from the environment; return a process exit code."""
    try:
        issued = issue(os.environ if env is None else env)
    except SettingError as error:
        log.error("%s", error)
        return 2
    except OSError as error:
        log.error(
            "could not write the logins (%s); run `docker compose down -v` and "
            "`docker compose up -d --build` to start from fresh volumes.",
            error,
        )
        return 1
    fresh = [name for name, new in issued.items() if new]
    kept = [name for name, new in issued.items() if not new]
    if fresh:
        log.info("issued new logins for the %s", " and the ".join(fresh))
    if kept:
        log.info(
            "kept the logins of the %s, so links already sent still work",
            " and the ".join(kept),
        )
    return 0


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO,
        format="%(levelname)s[%(asctime)s] %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    sys.exit(main())
