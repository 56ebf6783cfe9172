"""The sandbox attack battery: what a candidate's code and an internet stranger try."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from support.jupyter import JupyterClient, Kernel
from support.stack import Links, Stack, wait_until

# Small limits for the stack the resource attacks run against, so each attack hits
# its wall within seconds on a shared two-core machine.
BOUNDED_SETTINGS = {
    "JUPYTER_CPUS": "1",
    "JUPYTER_MEMORY": "1g",
    "JUPYTER_PIDS": "128",
    "JUPYTER_TMP_SIZE": "128m",
}
# Pages that need no new thread in the server. Known limitation: while a fork bomb
# holds every process slot, the contents API (file browser, saving) answers 500
# "can't start new thread", because anyio starts worker threads on demand; it works
# again as soon as the kernel is restarted, which kills the bomb with it.
ANSWERED_DURING_A_BOMB = ("/api/status", "/api/me", "/lab")


def run_json(kernel: Kernel, code: str, *, timeout: float = 60) -> object:
    """Run code whose last line prints one JSON document; return that document."""
    execution = kernel.run(code, timeout=timeout)
    assert execution.error is None, f"{execution.error}\n{execution.stderr}"
    return json.loads(execution.stdout.strip().splitlines()[-1])


# --- Network and host reach, on the shared stack ----------------------------------

MOUNTS = """
import json, os
mounts = []
for line in open('/proc/self/mountinfo'):
    fields = line.split()
    point, root, source = fields[4], fields[3], fields[fields.index('-') + 2]
    if point.split('/')[1] not in ('proc', 'sys', 'dev'):
        mounts.append({'point': point, 'root': root, 'source': source})
sockets = [p for p in ('/var/run/docker.sock', '/run/docker.sock') if os.path.exists(p)]
print(json.dumps({'mounts': mounts, 'sockets': sockets}))
"""

DECLARED_MOUNTS = {
    # compose.yaml's volumes and tmpfs entries for the jupyter service.
    "/home/pairlab": "tmpfs",
    "/home/pairlab/work": "volume notebooks",
    "/home/pairlab/work/data": "volume dataset",
    "/var/lib/pairlab": "volume jupyter-state",
    "/run/pairlab/access": "volume access",
    "/tmp": "tmpfs",
    # What Docker adds to every container: its name files and, for `init: true`,
    # the init binary.
    "/etc/hosts": "container file",
    "/etc/hostname": "container file",
    "/etc/resolv.conf": "container file",
    "/usr/sbin/docker-init": "init",
    "/": "root filesystem",
}


def describe_mount(mount: dict[str, str], project: str) -> str:
    root, point = mount["root"], mount["point"]
    if mount["source"] in ("tmpfs", "overlay"):
        return "tmpfs" if mount["source"] == "tmpfs" else "root filesystem"
    if root.startswith(f"/var/lib/docker/volumes/{project}_"):
        return "volume " + root.split(f"{project}_", 1)[1].split("/", 1)[0]
    if root.startswith("/var/lib/docker/containers/"):
        return "container file"
    if point == "/usr/sbin/docker-init" and root.endswith("tini-static"):
        return "init"
    return f"HOST PATH {root}"


def test_kernel_sees_no_docker_socket_and_no_host_path_but_the_declared_ones(
    stack: Stack, kernel: Kernel
) -> None:
    found = run_json(kernel, MOUNTS)

    assert isinstance(found, dict)
    assert found["sockets"] == []
    mounted = {m["point"]: describe_mount(m, stack.project) for m in found["mounts"]}
    assert mounted == DECLARED_MOUNTS


# --- Privileges ---------------------------------------------------------------------

SETUID = """
import json, os, subprocess, time
# su is setuid root in the image; without no-new-privileges it would run as root
# while it waits for a password.
su = subprocess.Popen(['/usr/bin/su', '-c', 'id'], stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
deadline = time.monotonic() + 10
uids = None
while uids is None and time.monotonic() < deadline:
    try:
        if os.readlink(f'/proc/{su.pid}/exe') == '/usr/bin/su':
            status = open(f'/proc/{su.pid}/status').read()
            uids = status.split('Uid:')[1].split(chr(10))[0].split()
    except PermissionError:
        uids = ['PRIVILEGED']
    except (FileNotFoundError, ProcessLookupError):
        pass
su.communicate(b'not-the-password' + bytes([10]), timeout=20)
mount = subprocess.run(['/usr/bin/mount', '-t', 'tmpfs', 'x', '/mnt'],
                       capture_output=True, text=True)
print(json.dumps({'su_uids': uids, 'su_exit': su.returncode,
                  'mount_exit': mount.returncode, 'mount_says': mount.stderr}))
"""


def test_a_setuid_binary_runs_as_the_candidate_not_as_root(kernel: Kernel) -> None:
    found = run_json(kernel, SETUID)

    assert isinstance(found, dict)
    assert found["su_uids"] == ["1000", "1000", "1000", "1000"]
    assert found["su_exit"] != 0
    assert found["mount_exit"] == 32
    assert "must be superuser" in found["mount_says"]


PROCESS_SECRETS = """
import json, os
seen = {}
for pid in sorted(p for p in os.listdir('/proc') if p.isdigit()):
    try:
        command = open(f'/proc/{pid}/cmdline').read().replace(chr(0), ' ')
    except OSError:
        continue
    for part in ('environ', 'mem'):
        try:
            with open(f'/proc/{pid}/{part}', 'rb') as handle:
                handle.read(1)
            result = 'readable'
        except OSError as error:
            result = type(error).__name__
        seen.setdefault(command.strip(), {})[part] = result
print(json.dumps(seen))
"""


def test_the_kernel_cannot_read_the_servers_memory_or_environment(
    kernel: Kernel,
) -> None:
    seen = run_json(kernel, PROCESS_SECRETS)

    assert isinstance(seen, dict)
    [server] = [command for command in seen if "jupyter-lab" in command]
    assert seen[server] == {"environ": "PermissionError", "mem": "PermissionError"}


# The image's files were all written when it was built, before any token existed, and
# the root filesystem is read-only; tokens could only be in what is mounted at run
# time, in a process's environment or command line, or in small config folders.
TOKEN_HUNT = """
import hashlib, json, os, re
wanted, length = {digest!r}, {length}
runs = re.compile(rb'[A-Za-z0-9_-]{{%d,}}' % length)
places = ['/tmp', '/home/pairlab', '/var/lib/pairlab', '/run', '/etc', '/opt/pairlab',
          '/dev/shm', '/dev/mqueue']
places += [f'/proc/{{p}}/{{part}}' for p in os.listdir('/proc') if p.isdigit()
           for part in ('environ', 'cmdline')]
searched = {{'files': 0, 'bytes': 0, 'unreadable': 0}}
hits = []

def search(label, blob):
    searched['bytes'] += len(blob)
    for run in runs.findall(blob):
        for start in range(len(run) - length + 1):
            if hashlib.sha256(run[start:start + length]).hexdigest() == wanted:
                hits.append(label)

def visit(path):
    try:
        with open(path, 'rb') as handle:
            blob = handle.read(64 << 20)
    except OSError:
        searched['unreadable'] += 1
        return
    searched['files'] += 1
    search(path, blob)

for place in places:
    if os.path.isdir(place):
        for folder, _, names in os.walk(place):
            for name in names:
                visit(os.path.join(folder, name))
    else:
        visit(place)
search('the kernel environment', repr(dict(os.environ)).encode())
print(json.dumps({{'hits': hits, **searched}}))
"""


def test_the_interviewers_token_is_nowhere_the_kernel_can_read(
    links: Links, kernel: Kernel
) -> None:
    # Only the token's hash goes into the kernel: access.json already shows it.
    digest = hashlib.sha256(links.interviewer_token.encode()).hexdigest()
    hunt = TOKEN_HUNT.format(digest=digest, length=len(links.interviewer_token))
    # A control: a token-like string planted where the kernel can write must be found,
    # or the hunt proves nothing.
    planted = secrets.token_urlsafe(32)
    planted_hunt = TOKEN_HUNT.format(
        digest=hashlib.sha256(planted.encode()).hexdigest(), length=len(planted)
    )
    kernel.run(f"open('/tmp/planted.txt', 'w').write('x={planted};')")

    found = run_json(kernel, hunt, timeout=180)
    control = run_json(kernel, planted_hunt, timeout=180)

    assert isinstance(found, dict) and isinstance(control, dict)
    assert found["hits"] == [], found
    assert found["files"] > 100, found
    assert "/tmp/planted.txt" in control["hits"], control


# --- Access from the internet, through the tunnel ---------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        (
            "GET",
            "/api/collaboration/timeline/interview.ipynb?format=json&type=file",
        ),
        ("PUT", "/api/collaboration/undo_redo/interview.ipynb"),
        ("PUT", "/api/collaboration/session/interview.ipynb"),
        ("GET", "/api/collaboration/fork/json:notebook:0"),
        ("GET", "/files/data/manifest.json"),
        ("GET", "/api/kernels"),
        ("GET", "/api/sessions"),
    ],
)
@pytest.mark.parametrize("token", ["", "wrong-token-of-the-right-length-0123456789ab"])
def test_collaboration_and_file_endpoints_refuse_a_missing_or_wrong_token(
    links: Links, method: str, path: str, token: str
) -> None:
    headers = {"Authorization": f"token {token}"} if token else {}
    body = {"format": "json", "type": "notebook", "action": "undo"}

    response = httpx.request(
        method,
        links.base_url + path,
        headers=headers,
        json=body if method == "PUT" else None,
        timeout=30,
    )

    assert response.status_code in (302, 403), (response.status_code, response.text)
    assert "tables" not in response.text
    assert "interview.ipynb" not in response.text
    assert links.interviewer_token not in response.text


def test_the_collaboration_room_refuses_a_websocket_without_a_token(
    links: Links, candidate: JupyterClient
) -> None:
    file_id = candidate.http.put(
        "/api/collaboration/session/interview.ipynb",
        json={"format": "json", "type": "notebook"},
    ).json()["fileId"]
    url = links.base_url.replace("http", "ws", 1)

    with pytest.raises(InvalidStatus) as refused:
        connect(f"{url}/api/collaboration/room/json:notebook:{file_id}").close()

    assert refused.value.response.status_code == 403


@pytest.mark.parametrize(
    "path",
    [
        "/api/contents/..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/contents/data%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/contents/%2Fetc%2Fpasswd",
        "/api/contents/..%2F..%2F..%2Frun%2Fpairlab%2Faccess%2Faccess.json",
        "/files/..%2F..%2F..%2Fetc%2Fpasswd",
        "/files/%2E%2E/%2E%2E/%2E%2E/etc/passwd",
        "/files/data/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/contents/..%2F..%2F..%2Fvar%2Flib%2Fpairlab%2Fcollab",
    ],
)
def test_path_traversal_on_the_contents_and_files_apis_reads_nothing_outside(
    candidate: JupyterClient, path: str
) -> None:
    response = candidate.get(path)

    assert response.status_code in (400, 403, 404), (response.status_code, path)
    assert "root:x:0:0" not in response.text
    assert "token_sha256" not in response.text
    assert "ystore" not in response.text


def test_a_save_with_a_traversing_path_writes_nothing_outside_the_notebooks(
    candidate: JupyterClient, kernel: Kernel
) -> None:
    model = {"type": "file", "format": "text", "content": "escaped"}

    response = candidate.http.put(
        "/api/contents/..%2F..%2F..%2Fvar%2Flib%2Fpairlab%2Fescaped.txt", json=model
    )
    written = kernel.run(
        "import os; print(os.path.exists('/var/lib/pairlab/escaped.txt'))"
    ).stdout.strip()

    assert response.status_code in (400, 403, 404), response.status_code
    assert written == "False"


@pytest.mark.parametrize(
    ("path", "signed_in"),
    [
        ("/lab", True),
        ("/api/contents", True),
        ("/files/data/manifest.json", True),
        ("/login", False),
        ("/api/contents", False),
    ],
)
def test_security_headers_forbid_foreign_framing_and_sniffing(
    links: Links, candidate: JupyterClient, path: str, signed_in: bool
) -> None:
    if signed_in:
        response = candidate.get(path)
    else:
        response = httpx.get(links.base_url + path, timeout=30)

    assert response.status_code == (200 if signed_in or path == "/login" else 403)
    policy = response.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'self'" in policy, policy
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") == "no-referrer"


def docker(*arguments: str) -> str:
    """What a docker CLI command printed, stripped; fail if it fails."""
    return subprocess.run(
        ["docker", *arguments], capture_output=True, text=True, check=True
    ).stdout.strip()


def network_gateway(network: str) -> str:
    return docker(
        "network",
        "inspect",
        network,
        "--format",
        "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
    )


def container_address(stack: Stack, service: str, network: str) -> str:
    container = stack.compose("ps", "--quiet", service).stdout.strip()
    return docker(
        "inspect",
        container,
        "--format",
        f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}',
    )


def test_failed_logins_are_logged_with_the_client_address_the_tunnel_forwarded(
    stack: Stack, links: Links
) -> None:
    # Through the published port the fake edge sees the outbound network's gateway
    # as its client, and forwards that address in X-Forwarded-For, as ngrok forwards
    # a visitor's; without trusting it, Jupyter would log the edge's own address.
    edge_sees = {network_gateway(f"{stack.project}_outbound"), "127.0.0.1"}
    edge_itself = container_address(stack, "ngrok", f"{stack.project}_interview")
    marker = f"/api/contents/refused-{time.monotonic_ns()}"
    with httpx.Client(base_url=links.base_url, timeout=30) as browser:
        login_page = browser.get("/login")

        api = browser.get(f"{marker}?token=not-the-token")
        form = browser.post(
            "/login",
            data={"password": "not-the-token", "_xsrf": browser.cookies["_xsrf"]},
        )

    def refusals() -> list[str] | None:
        lines = [
            line
            for line in stack.logs("jupyter").splitlines()
            if "Refused a" in line and (marker in line or "login form" in line)
        ]
        return lines if len(lines) >= 2 else None

    lines = wait_until(refusals, timeout=30, what="both refusals in jupyter's logs")
    assert login_page.status_code == 200
    assert (api.status_code, form.status_code) == (403, 401)
    for line in lines:
        logged = line.split(" from ", 1)[1].split()[0]
        assert logged in edge_sees, (logged, edge_sees, line)
        assert logged != edge_itself, line


# --- Resources, on a stack of this module's own with small limits ------------------


@pytest.fixture(scope="module")
def bounded_stack(
    built_images: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    bounded = Stack(tmp_path_factory.mktemp("bounded"), settings=dict(BOUNDED_SETTINGS))
    with bounded.running() as own:
        yield own


@pytest.fixture(scope="module")
def bounded_candidate(bounded_stack: Stack) -> Iterator[JupyterClient]:
    links = bounded_stack.links()
    client = JupyterClient(links.base_url, links.candidate_token)
    yield client
    client.close()


@pytest.fixture
def bounded_kernel(bounded_candidate: JupyterClient) -> Iterator[Kernel]:
    started = bounded_candidate.start_kernel()
    yield started
    started.shutdown()


def answers(client: JupyterClient, paths: tuple[str, ...]) -> dict[str, int]:
    return {path: client.get(path).status_code for path in paths}


def server_started_at(stack: Stack) -> str:
    return str(stack.container_state("jupyter")["StartedAt"])


def kernel_pid(kernel: Kernel, *, timeout: float = 60) -> int:
    return int(kernel.run("import os; print(os.getpid())", timeout=timeout).stdout)


# Every process of the bomb forks until the pids limit refuses, and stops by itself
# after 40 seconds, so a failing test leaves nothing behind for long.
FORK_BOMB = """
import errno, os, time
deadline = time.monotonic() + 40
while time.monotonic() < deadline:
    try:
        os.fork()
    except OSError as error:
        if error.errno == errno.EAGAIN and not os.path.exists('/tmp/fork-refused'):
            open('/tmp/fork-refused', 'w').close()
        time.sleep(0.05)
os._exit(0)
"""

PROCESS_COUNT = """
import json, os, pathlib
def pids_file(name):
    for folder in ('/sys/fs/cgroup/pids', '/sys/fs/cgroup'):
        if os.path.exists(f'{folder}/{name}'):
            return pathlib.Path(folder, name).read_text().strip()
print(json.dumps({'current': int(pids_file('pids.current')),
                  'limit': pids_file('pids.max'),
                  'refused': os.path.exists('/tmp/fork-refused')}))
"""


def test_a_fork_bomb_stops_at_the_pids_limit_and_a_kernel_restart_ends_it(
    bounded_stack: Stack, bounded_candidate: JupyterClient, bounded_kernel: Kernel
) -> None:
    started_at = server_started_at(bounded_stack)
    watcher = bounded_candidate.start_kernel()
    try:
        before = run_json(watcher, PROCESS_COUNT)
        bounded_kernel.submit(FORK_BOMB)
        at_limit = wait_until(
            lambda: (
                counted
                if (counted := run_json(watcher, PROCESS_COUNT))["refused"]
                and counted["current"] >= 120
                else None
            ),
            timeout=60,
            what="the fork bomb reaching the pids limit",
        )
        during = answers(bounded_candidate, ANSWERED_DURING_A_BOMB)

        restart = bounded_candidate.http.post(
            f"/api/kernels/{bounded_kernel.kernel_id}/restart", timeout=60
        )
        after = wait_until(
            lambda: (
                counted
                if (counted := run_json(watcher, PROCESS_COUNT))["current"]
                <= before["current"] + 8
                else None
            ),
            timeout=30,
            what="the bomb's processes to be gone after the restart",
        )
    finally:
        watcher.shutdown()
    restarted = Kernel(bounded_candidate, bounded_kernel.kernel_id)
    result = restarted.run("print(6 * 7)", timeout=60).stdout.strip()
    restarted.socket.close()

    assert at_limit["limit"] == BOUNDED_SETTINGS["JUPYTER_PIDS"]
    # The count may pass the limit by the health check's `docker exec` processes,
    # which Docker attaches to the group; fork() itself is refused at the limit.
    assert at_limit["refused"] is True, at_limit
    assert during == dict.fromkeys(ANSWERED_DURING_A_BOMB, 200)
    assert restart.status_code == 200, restart.text
    assert after["current"] <= before["current"] + 8, (before, after)
    assert result == "42"
    assert answers(bounded_candidate, ("/api/contents",)) == {"/api/contents": 200}
    assert server_started_at(bounded_stack) == started_at


MEMORY_BOMB = """
hoard = []
while True:
    hoard.append(b'x' * (32 << 20))
"""


def test_a_memory_bomb_kills_the_kernel_not_the_server_and_saved_work_survives(
    bounded_stack: Stack, bounded_candidate: JupyterClient, bounded_kernel: Kernel
) -> None:
    notebook = {
        "type": "notebook",
        "format": "json",
        "content": {
            "cells": [
                {
                    "cell_type": "markdown",
                    "metadata": {},
                    "source": "saved before the bomb",
                }
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        },
    }
    saved = bounded_candidate.http.put("/api/contents/before-bomb.ipynb", json=notebook)
    started_at = server_started_at(bounded_stack)
    pid_before = kernel_pid(bounded_kernel)

    bounded_kernel.submit(MEMORY_BOMB)
    seen = bounded_kernel.wait_for_state({"restarting", "dead"}, timeout=120)
    restarted = Kernel(bounded_candidate, bounded_kernel.kernel_id)
    # A request sent while the kernel still starts may be lost: ask again, briefly.
    pid_after = wait_until(
        lambda: kernel_pid(restarted, timeout=10),
        timeout=60,
        what="the restarted kernel to run code",
    )
    restarted.socket.close()
    reread = bounded_candidate.get("/api/contents/before-bomb.ipynb").json()

    assert saved.status_code == 201, saved.text
    assert seen == "restarting"
    assert pid_after != pid_before
    assert server_started_at(bounded_stack) == started_at
    assert answers(bounded_candidate, ("/api/status",)) == {"/api/status": 200}
    assert reread["content"]["cells"][0]["source"] == "saved before the bomb"


BUSY_LOOP = """
import json, resource, subprocess, time
spin = 'import time\\nend = time.monotonic() + 4\\nwhile time.monotonic() < end: pass'
began = time.monotonic()
workers = [subprocess.Popen(['python', '-c', spin]) for _ in range(3)]
for worker in workers:
    worker.wait()
wall = time.monotonic() - began
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({'wall': wall, 'cpu': used.ru_utime + used.ru_stime}))
"""


def test_a_busy_loop_is_held_to_the_configured_cpus(bounded_kernel: Kernel) -> None:
    measured = run_json(bounded_kernel, BUSY_LOOP)

    assert isinstance(measured, dict)
    cpus_used = measured["cpu"] / measured["wall"]
    # Three spinning workers would use three CPUs where there is no limit.
    assert cpus_used <= float(BOUNDED_SETTINGS["JUPYTER_CPUS"]) * 1.1, measured


# JUPYTER_TMP_SIZE, and the fixed sizes compose.yaml and Docker give $HOME and /dev/shm.
SCRATCH_SIZES_MIB = {"/tmp": 128, "/home/pairlab": 64, "/dev/shm": 64}

FILL_SCRATCH = """
import errno, json, os
filled = {}
chunk = b'x' * (4 << 20)
for folder in ('/tmp', '/home/pairlab', '/dev/shm'):
    written, outcome = 0, 'no limit within 2 GiB'
    with open(os.path.join(folder, 'filler.bin'), 'wb') as handle:
        try:
            while written < (2 << 30):
                handle.write(chunk)
                handle.flush()
                written += len(chunk)
        except OSError as error:
            outcome = errno.errorcode[error.errno]
    filled[folder] = {'outcome': outcome, 'mib': written >> 20}
print(json.dumps(filled))
"""

EMPTY_SCRATCH = """
import os
for folder in ('/tmp', '/home/pairlab', '/dev/shm'):
    os.remove(os.path.join(folder, 'filler.bin'))
print('emptied')
"""


def test_filling_the_scratch_space_stops_at_its_size_and_saving_still_works(
    bounded_candidate: JupyterClient, bounded_kernel: Kernel
) -> None:
    model = {"type": "file", "format": "text", "content": "still saving\n"}

    filled = run_json(bounded_kernel, FILL_SCRATCH, timeout=120)
    try:
        saved = bounded_candidate.http.put("/api/contents/after-fill.txt", json=model)
        reread = bounded_candidate.get("/api/contents/after-fill.txt").json()
    finally:
        # IPython may first say that its history database in /tmp is full.
        emptied = bounded_kernel.run(EMPTY_SCRATCH).stdout.strip().splitlines()[-1]

    assert isinstance(filled, dict)
    # What the server and kernel already keep there comes off each size.
    for folder, size_mib in SCRATCH_SIZES_MIB.items():
        assert filled[folder]["outcome"] == "ENOSPC", filled
        assert size_mib - 24 <= filled[folder]["mib"] <= size_mib, filled
    assert saved.status_code == 201, saved.text
    assert reread["content"] == "still saving\n"
    assert emptied == "emptied"


def docker_disk_free_bytes() -> int:
    return shutil.disk_usage(docker("info", "--format", "{{.DockerRootDir}}")).free


def candidate_above_the_floor(
    stack: Stack, *, room_mib: int
) -> tuple[JupyterClient, int]:
    """Start the stack with its disk floor room_mib under what Docker's disk has free.

    Returns the candidate's client and the floor in MiB. Other stacks on this
    machine move the free space a little meanwhile.
    """
    floor_mib = (docker_disk_free_bytes() >> 20) - room_mib
    stack.settings["JUPYTER_DISK_FLOOR"] = f"{floor_mib}m"
    stack.up()
    links = stack.links()
    return JupyterClient(links.base_url, links.candidate_token), floor_mib


# A writer that leaves the kernel's process group, so that restarting the kernel
# would not stop it; it writes at most 1.5 GiB and for at most 90 seconds.
ESCAPED_WRITER = """
import os, time
# A kernel started without a notebook path runs in the server's folder, /opt/pairlab.
os.chdir('/home/pairlab/work')
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open('writer.pid', 'w') as note:
            note.write(str(os.getpid()))
        deadline = time.monotonic() + 90
        chunk = b'x' * (8 << 20)
        with open('filler.bin', 'wb') as handle:
            while time.monotonic() < deadline and handle.tell() < (3 << 29):
                handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
    os._exit(0)
print('writer started')
"""


def test_writing_below_the_disk_floor_stops_even_an_escaped_writer(
    fresh_stack: Stack,
) -> None:
    # The writer crosses the floor within seconds.
    client, _ = candidate_above_the_floor(fresh_stack, room_mib=384)
    kernel = client.start_kernel()

    started = kernel.run(ESCAPED_WRITER).stdout.strip()
    warning = wait_until(
        lambda: next(
            (
                line
                for line in fresh_stack.logs("jupyter").splitlines()
                if "of the candidate's processes" in line
            ),
            None,
        ),
        timeout=90,
        what="the disk guard's warning in jupyter's logs",
    )
    writer_pid = client.get("/api/contents/writer.pid").json()["content"]
    wait_until(
        lambda: (
            fresh_stack.exec("jupyter", "test", "-e", f"/proc/{writer_pid}").returncode
            == 1
        ),
        timeout=30,
        what="the escaped writer to be gone",
    )
    written = client.get("/api/contents/filler.bin?content=0").json()["size"]
    note = {"type": "file", "format": "text", "content": "kept\n"}
    refused = client.http.put("/api/contents/still-saving.txt", json=note)
    deleted = client.http.delete("/api/contents/filler.bin")
    saved = client.http.put("/api/contents/still-saving.txt", json=note)
    status = answers(client, ("/api/status",))
    client.close()

    assert started == "writer started"
    assert "JUPYTER_DISK_FLOOR" in warning
    assert written < 1 << 30, f"the writer wrote {written >> 20} MiB"
    # Below the floor the server writes nothing either; deleting makes room again.
    assert refused.status_code == 507, refused.text
    assert "JUPYTER_DISK_FLOOR keeps" in refused.json()["message"]
    assert deleted.status_code == 204, deleted.text
    assert saved.status_code == 201, saved.text
    assert status == {"/api/status": 200}


# Half a MiB a chunk: the tunnel fake (aiohttp) takes request bodies of 1 MiB at most.
CHUNK = base64.b64encode(b"u" * (1 << 19)).decode()


def upload_chunks(client: JupyterClient, path: str, *, most: int) -> httpx.Response:
    """Upload chunks as JupyterLab does, until one is refused or `most` are in."""
    for number in range(1, most + 1):
        model = {"type": "file", "format": "base64", "content": CHUNK}
        response = client.http.put(
            f"/api/contents/{path}", json={**model, "chunk": number}
        )
        # The first chunk creates the file (201), the others append to it (200).
        if response.status_code not in (200, 201):
            break
    return response


def floor_refusal(response: httpx.Response) -> tuple[int, int, str]:
    """Status, the free MiB the refusal reports, and its message."""
    message = response.json().get("message", "")
    free = re.search(r"has (\d+) MiB free", message)
    return response.status_code, int(free.group(1)) if free else -1, message


def test_uploads_copies_and_checkpoints_stop_at_the_disk_floor_and_saves_go_on_above(
    fresh_stack: Stack,
) -> None:
    # The uploads would write up to 320 MiB.
    client, floor_mib = candidate_above_the_floor(fresh_stack, room_mib=160)
    notebook = client.get("/api/contents/interview.ipynb").json()

    first_save = client.http.put("/api/contents/interview.ipynb", json=notebook)
    upload = floor_refusal(upload_chunks(client, "blob.bin", most=640))
    uploaded = client.get("/api/contents/blob.bin?content=0").json()["size"]
    copy = floor_refusal(
        client.http.post("/api/contents", json={"copy_from": "blob.bin"})
    )
    checkpoint = floor_refusal(client.http.post("/api/contents/blob.bin/checkpoints"))
    client.http.delete("/api/contents/blob.bin")
    # With room again: one 8 MiB file, copied until a copy would cross the floor.
    placed = upload_chunks(client, "small.bin", most=16)
    copies = [
        client.http.post("/api/contents", json={"copy_from": "small.bin"})
        for _ in range(24)
    ]
    listing = client.get("/api/contents").json()["content"]
    names = {item["name"] for item in listing}
    for name in names:
        if name.startswith("small"):
            client.http.delete(f"/api/contents/{name}")
    saved_after = client.http.put("/api/contents/interview.ipynb", json=notebook)
    client.close()

    assert first_save.status_code == 200, first_save.text
    assert upload[0] == 507, upload
    assert "JUPYTER_DISK_FLOOR keeps" in upload[2]
    # The upload stopped near the floor, not at its 320 MiB; others' stacks move it.
    assert 96 << 20 <= uploaded <= 192 << 20, f"uploaded {uploaded >> 20} MiB"
    assert (copy[0], checkpoint[0]) == (507, 507), (copy, checkpoint)
    assert f"this needs {-(-uploaded >> 20)} MiB more" in copy[2], copy
    assert "JUPYTER_DISK_FLOOR" in checkpoint[2], checkpoint
    assert (placed.status_code, placed.json()["size"]) == (200, 8 << 20), placed.text
    statuses = [response.status_code for response in copies]
    assert 507 in statuses, statuses
    refused_copy = floor_refusal(copies[statuses.index(507)])
    # Refused ahead of the floor: the disk still had it free, but not the copy too.
    assert floor_mib <= refused_copy[1] < floor_mib + 8, refused_copy
    assert "this needs 8 MiB more" in refused_copy[2], refused_copy
    assert saved_after.status_code == 200, saved_after.text
    # Nothing of the refused copy of blob.bin was written.
    assert not any(name.startswith("blob") for name in names), names


# --- The optional front door, enforced by the tunnel fake ---------------------------

FRONT_DOOR_LOGIN = ("interview", "plum-Tiger-42")


def test_the_basic_auth_front_door_turns_visitors_away_before_jupyter(
    fresh_stack: Stack,
) -> None:
    fresh_stack.settings["NGROK_FRONT_DOOR"] = "basic-auth"
    fresh_stack.settings["NGROK_BASIC_AUTH"] = ":".join(FRONT_DOOR_LOGIN)
    fresh_stack.up()
    links = fresh_stack.links()
    stranger = f"/api/contents/stranger-{time.monotonic_ns()}?token=guessed"

    bare = httpx.get(links.candidate, timeout=30)
    guessing = httpx.get(links.base_url + stranger, timeout=30)
    wrong = httpx.get(links.candidate, auth=("interview", "not-it-at-all"), timeout=30)
    admitted = httpx.get(
        links.candidate, auth=FRONT_DOOR_LOGIN, timeout=30, follow_redirects=True
    )
    api = httpx.get(
        f"{links.base_url}/api/contents?token={links.candidate_token}",
        auth=FRONT_DOOR_LOGIN,
        timeout=30,
    )

    assert (bare.status_code, guessing.status_code, wrong.status_code) == (
        401,
        401,
        401,
    )
    assert bare.headers["WWW-Authenticate"].lower().startswith("basic")
    assert "JupyterLab" not in bare.text
    assert stranger.split("?")[0] not in fresh_stack.logs("jupyter")
    assert admitted.status_code == 200
    assert "<title>JupyterLab</title>" in admitted.text
    assert api.status_code == 200
    ngrok_logs = fresh_stack.logs("ngrok")
    assert "front door: basic auth in front of Jupyter for 1 login(s)" in ngrok_logs
    assert FRONT_DOOR_LOGIN[1] not in ngrok_logs


def test_a_bad_front_door_setting_is_one_sentence_in_the_ngrok_logs(
    fresh_stack: Stack,
) -> None:
    fresh_stack.settings["NGROK_FRONT_DOOR"] = "password"
    fresh_stack.up()

    logs = wait_until(
        lambda: logs if "ERROR[" in (logs := fresh_stack.logs("ngrok")) else None,
        timeout=90,
        what="an error line in ngrok's logs",
    )

    [line] = [line for line in logs.splitlines() if line.startswith("ERROR[")]
    assert "NGROK_FRONT_DOOR is 'password'" in line
    assert line.endswith("then run docker compose up -d again.")
    assert "LINK" not in logs
