"""Live notebook peers for tests and benchmarks: pycrdt documents on the room websocket.

A peer does what JupyterLab does when a person opens a notebook: it asks the
collaboration REST API for the document's session, joins the room websocket with the
person's token, runs the Yjs sync protocol through pycrdt's helpers, and announces
the person in the room's awareness under the identity the server gave their login.
It only needs pycrdt, jupyter-ydoc, httpx and tornado, so the same code runs on the
host and inside the jupyter image (for measurements on the internal network).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from jupyter_ydoc import YNotebook
from pycrdt import (
    Awareness,
    Decoder,
    Doc,
    YMessageType,
    YSyncMessageType,
    create_awareness_message,
    create_sync_message,
    create_update_message,
    handle_sync_message,
    read_message,
)
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import (
    WebSocketClientConnection,
    WebSocketClosedError,
    WebSocketError,
    websocket_connect,
)

T = TypeVar("T")
REMOTE = "remote"


async def until(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.02
) -> T:
    """Await until probe returns something truthy; fail naming `what` at the end.

    The event loop's twin of stack.wait_until: the probe reads documents that the
    loop updates, so it must run on the loop between awaits, not block it.
    """
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
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what} not within {timeout:.0f}s (last error: {last_error!r})")


class NotebookPeer:
    """One person's live copy of one notebook, kept in sync through the server."""

    def __init__(self, base_url: str, token: str, path: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.path = path
        self.doc = Doc()
        self.notebook = YNotebook(self.doc)
        self.awareness = Awareness(self.doc)
        self.identity: dict[str, Any] = {}
        self.file_id = ""
        self.session_id = ""
        self.synced = asyncio.Event()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.joins = 0
        self._socket: WebSocketClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._applying_remote = False
        # Every local change goes out at once; remote ones are not echoed back.
        self.doc.observe(self._send_local_update)
        self.awareness.observe(self._greet_newcomers)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    @property
    def connected(self) -> bool:
        return self._socket is not None and self.close_code is None

    async def open_session(self, *, timeout: float = 30) -> None:
        """Learn who this token is and which room holds the notebook, as the UI does."""
        async with httpx.AsyncClient(
            base_url=self.base_url, headers=self.headers, timeout=timeout
        ) as http:
            me = await http.get("/api/me")
            me.raise_for_status()
            session = await http.put(
                f"/api/collaboration/session/{quote(self.path)}",
                json={"format": "json", "type": "notebook"},
            )
            session.raise_for_status()
        self.identity = me.json()["identity"]
        self.file_id = session.json()["fileId"]
        self.session_id = session.json()["sessionId"]

    async def join(self, *, timeout: float = 30, new_session: bool = True) -> None:
        """Open the room websocket and wait for the first full sync.

        With new_session=False the peer rejoins with the session id it had, keeping
        its document, exactly as a browser tab reconnects after a network blip.
        """
        if new_session or not self.session_id:
            await self.open_session(timeout=timeout)
        await self.leave(say_goodbye=False)
        self.synced.clear()
        self.close_code = self.close_reason = None
        url = self.base_url.replace("http", "ws", 1) + (
            f"/api/collaboration/room/json:notebook:{self.file_id}"
            f"?sessionId={self.session_id}"
        )
        self._socket = await websocket_connect(
            HTTPRequest(url, headers=self.headers, connect_timeout=timeout),
            max_message_size=1 << 30,
        )
        self._reader = asyncio.create_task(self._read(self._socket))
        self.joins += 1
        self._write(create_sync_message(self.doc))
        self.announce()
        await until(
            lambda: self.synced.is_set() or self.close_code is not None,
            timeout=timeout,
            what=f"the first sync of {self.path} for {self.identity['username']}",
        )
        if self.close_code is not None:
            raise ConnectionError(
                f"the room closed with {self.close_code}: {self.close_reason}"
            )

    async def rejoin(self, *, timeout: float = 90) -> None:
        """Reconnect with the same document and session id until the server answers.

        This is what a browser tab does after the tunnel or the server went away.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                await self.join(new_session=False, timeout=10)
                return
            except (
                OSError,
                TimeoutError,
                httpx.HTTPError,
                HTTPClientError,
                WebSocketError,
            ) as error:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no rejoin within {timeout:.0f}s") from error
                await asyncio.sleep(0.5)

    def announce(self) -> None:
        """Put this person's name and colour in the room, as JupyterLab does."""
        self.awareness.set_local_state({"user": self.identity})
        self._send_awareness()

    async def leave(self, *, say_goodbye: bool = True) -> None:
        if self._socket is None:
            return
        if say_goodbye and self.close_code is None:
            # An empty state tells the others this person left, as closing a tab does.
            self.awareness.set_local_state(None)
            self._send_awareness()
        socket, self._socket = self._socket, None
        socket.close()
        if self._reader is not None:
            await asyncio.wait([self._reader], timeout=5)

    def others(self) -> list[dict[str, Any]]:
        """The users the other connected peers announced in the room."""
        return [
            state["user"]
            for client_id, state in self.awareness.states.items()
            if client_id != self.doc.client_id and state and "user" in state
        ]

    def cell_ids(self) -> list[str]:
        """Ids of every cell in document order, duplicates included."""
        return [str(cell["id"]) for cell in self.notebook.ycells]

    def sources(self) -> dict[str, str]:
        return {str(cell["id"]): str(cell["source"]) for cell in self.notebook.ycells}

    async def _read(self, socket: WebSocketClientConnection) -> None:
        while True:
            message = await socket.read_message()
            if message is None:
                self.close_code = socket.close_code or 1006
                self.close_reason = socket.close_reason
                return
            if isinstance(message, str):
                continue
            self._handle(message)

    def _handle(self, message: bytes) -> None:
        if message[0] == YMessageType.SYNC:
            self._applying_remote = True
            try:
                reply = handle_sync_message(message[1:], self.doc)
            finally:
                self._applying_remote = False
            if reply is not None:
                self._write(reply)
            if message[1] == YSyncMessageType.SYNC_STEP2:
                self.synced.set()
        elif message[0] == YMessageType.AWARENESS:
            self.awareness.apply_awareness_update(read_message(message[1:]), REMOTE)

    def _send_local_update(self, event: Any) -> None:
        if not self._applying_remote:
            self._write(create_update_message(event.update))

    def _send_awareness(self) -> None:
        update = self.awareness.encode_awareness_update([self.doc.client_id])
        self._write(create_awareness_message(update))

    def _greet_newcomers(self, topic: str, changes: tuple[dict[str, Any], Any]) -> None:
        # The server does not replay awareness to someone who joins later, so each
        # peer answers a newcomer with its own state, as Yjs clients do on a timer.
        added, origin = changes[0]["added"], changes[1]
        if topic == "change" and origin == REMOTE and added:
            self._send_awareness()

    def _write(self, message: bytes) -> None:
        # Written in call order, straight from the document observer: no queue hop.
        if self._socket is None or self.close_code is not None:
            return
        with contextlib.suppress(WebSocketClosedError):
            sent = self._socket.write_message(message, binary=True)
            sent.add_done_callback(_consume_failure)


def _consume_failure(sent: asyncio.Future[None]) -> None:
    # A write that fails because the socket closed is noticed by the reader, and a
    # rejoin syncs whatever did not go out; retrieving it keeps asyncio quiet.
    if not sent.cancelled():
        sent.exception()


def cell(cell_id: str, source: str, *, cell_type: str = "code") -> dict[str, Any]:
    """A new notebook cell, in the shape JupyterLab gives one."""
    new = {"id": cell_id, "cell_type": cell_type, "source": source, "metadata": {}}
    if cell_type == "code":
        new |= {"outputs": [], "execution_count": None}
    return new


@dataclass
class Typist:
    """Inserts, edits and deletes its own cells at random, and remembers what it did.

    Every edit leaves a unique token, so after any number of reconnects the expected
    notebook is known exactly: the cells this typist still has, with these sources,
    and its tokens in the shared cell in the order typed.
    """

    peer: NotebookPeer
    name: str
    seed: int
    shared_cell: str
    expected: dict[str, str] = field(default_factory=dict)
    shared_tokens: list[str] = field(default_factory=list)
    operations: int = 0
    _created: int = 0

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def _index_of(self, cell_id: str) -> int:
        return self.peer.cell_ids().index(cell_id)

    def step(self) -> str:
        """Make one random edit; return its kind."""
        self.operations += 1
        token = f"{self.name}{self.operations}"
        cells = self.peer.notebook.ycells
        roll = self.random.random()
        if roll < 0.35 or not self.expected:
            cell_id = f"{self.name}-{self._created}"
            self._created += 1
            source = f"# {token}\n"
            index = self.random.randint(0, len(cells))
            cells.insert(index, self.peer.notebook.create_ycell(cell(cell_id, source)))
            self.expected[cell_id] = source
            return "insert"
        if roll < 0.55:
            text = cells[self._index_of(self.shared_cell)]["source"]
            text += f"{token} "
            self.shared_tokens.append(token)
            return "shared edit"
        if roll < 0.85:
            cell_id = self.random.choice(sorted(self.expected))
            text = cells[self._index_of(cell_id)]["source"]
            text += f"{token}\n"
            self.expected[cell_id] += f"{token}\n"
            return "edit"
        cell_id = self.random.choice(sorted(self.expected))
        del cells[self._index_of(cell_id)]
        del self.expected[cell_id]
        return "delete"

    async def type(self, count: int, *, pause_every: int = 7) -> None:
        """Make count edits, yielding now and then so the other side's edits land."""
        for done in range(1, count + 1):
            self.step()
            await asyncio.sleep(0.002 if done % pause_every == 0 else 0)

    def missing_from(self, sources: dict[str, str]) -> list[str]:
        """What this typist did that the given cell sources lack or get wrong."""
        problems = [
            f"{cell_id}: expected {source!r}, found {sources.get(cell_id)!r}"
            for cell_id, source in self.expected.items()
            if sources.get(cell_id) != source
        ]
        own_prefix = f"{self.name}-"
        problems += [
            f"{cell_id}: deleted but present"
            for cell_id in sources
            if cell_id.startswith(own_prefix) and cell_id not in self.expected
        ]
        seen = [
            token
            for token in sources.get(self.shared_cell, "").split()
            if token.rstrip("0123456789") == self.name
        ]
        if seen != self.shared_tokens:
            problems.append(
                f"shared cell: expected {len(self.shared_tokens)} tokens in order, "
                f"found {len(seen)}"
            )
        return problems


def state_vector(doc: Doc) -> dict[int, int]:
    """How many edits of each writer a document holds, whatever order they came in."""
    decoder = Decoder(doc.get_state())
    writers = decoder.read_var_uint()
    return {decoder.read_var_uint(): decoder.read_var_uint() for _ in range(writers)}


def converged(*peers: NotebookPeer) -> bool:
    """True when every peer holds the same edits and shows the same notebook."""
    first = peers[0]
    return all(
        state_vector(peer.doc) == state_vector(first.doc)
        and peer.notebook.get() == first.notebook.get()
        for peer in peers[1:]
    )


def disk_cells(base_url: str, token: str, path: str) -> dict[str, str]:
    """Cell id to source of the notebook file as the server last saved it."""
    response = httpx.get(
        f"{base_url.rstrip('/')}/api/contents/{quote(path)}",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    response.raise_for_status()
    return {
        str(saved["id"]): "".join(saved["source"])
        for saved in response.json()["content"]["cells"]
    }
