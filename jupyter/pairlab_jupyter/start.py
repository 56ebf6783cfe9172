"""Entry point of the jupyter service: prepare the session, then become JupyterLab."""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
from pathlib import Path

from pairlab_jupyter.identity import DEFAULT_ACCESS_FILE, AccessFileError, load_access

log = logging.getLogger("pairlab.start")

NOTEBOOK_DIR = Path("/home/pairlab/work")
TEMPLATE_DIR = Path("/opt/pairlab/workspace")
STATE_DIR = Path("/var/lib/pairlab")
CGROUP_ROOT = Path("/sys/fs/cgroup")

# Each library reads its own variable; all of them get the container's CPU count.
THREAD_POOL_VARIABLES = (
    "POLARS_MAX_THREADS",
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_MAX_THREADS",
    "RAYON_NUM_THREADS",
)


def cpu_quota(cgroup_root: Path = CGROUP_ROOT) -> tuple[int, int] | None:
    """The container's CPU quota and period in microseconds; None without a quota.

    cgroup v2 keeps both in cpu.max; cgroup v1 (older Linux hosts) in two files.
    """
    try:
        quota, period = (cgroup_root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (cgroup_root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup_root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1"):
        return None
    return int(quota), int(period)


def cpu_limit(cgroup_root: Path = CGROUP_ROOT) -> int:
    """Whole CPUs the container may use: its cgroup quota rounded up, else the cores."""
    quota = cpu_quota(cgroup_root)
    if quota is None:
        return os.cpu_count() or 1
    return max(1, math.ceil(quota[0] / quota[1]))


def size_thread_pools(environ: dict[str, str], *, cpus: int) -> list[str]:
    """Set every thread-pool variable the user has not set; return those it set."""
    changed = []
    for name in THREAD_POOL_VARIABLES:
        if not environ.get(name):
            environ[name] = str(cpus)
            changed.append(name)
    return changed


def seed_workspace(*, template_dir: Path, notebook_dir: Path, marker: Path) -> int:
    """Copy the starter files once per interview; return how many were copied.

    The marker lives in the state volume, so a restart never copies again: files the
    candidate edited, renamed or deleted stay as the candidate left them.
    """
    if marker.exists() or not template_dir.is_dir():
        return 0
    copied = 0
    for source in sorted(template_dir.rglob("*")):
        target = notebook_dir / source.relative_to(template_dir)
        if source.is_dir():
            target.mkdir(exist_ok=True)
        elif not target.exists():
            shutil.copyfile(source, target)
            copied += 1
    marker.write_text("starter workspace copied\n")
    return copied


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(levelname)s[%(asctime)s] %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
        stream=sys.stderr,
    )
    access_file = Path(os.environ.get("PAIRLAB_ACCESS_FILE", DEFAULT_ACCESS_FILE))
    try:
        access = load_access(access_file)
    except AccessFileError as error:
        log.error("%s", error)
        sys.exit(78)

    cpus = cpu_limit()
    changed = size_thread_pools(os.environ, cpus=cpus)
    log.info("sized %d thread pools to %d CPUs", len(changed), cpus)

    (STATE_DIR / "collab").mkdir(parents=True, exist_ok=True)
    (STATE_DIR / "workspaces").mkdir(parents=True, exist_ok=True)
    copied = seed_workspace(
        template_dir=TEMPLATE_DIR,
        notebook_dir=NOTEBOOK_DIR,
        marker=STATE_DIR / "workspace-seeded",
    )
    log.info("copied %d starter files into %s", copied, NOTEBOOK_DIR)
    log.info(
        "starting JupyterLab for %s; their links are in `docker compose logs ngrok`, "
        "not in the server's own URLs below",
        " and ".join(f"{p.name} ({p.role})" for p in access.people.values()),
    )

    # Kernels started without a notebook path (a console, an API call) run in the
    # server's folder, so it is the notebooks folder; PYTHONSAFEPATH keeps it off
    # the server's own sys.path, so nothing planted there is ever imported.
    os.chdir(NOTEBOOK_DIR)
    os.execvp("jupyter", ["jupyter", "lab", *sys.argv[1:]])


if __name__ == "__main__":
    main()
