"""Execution log kept by the server: each cell run through a kernel socket, and by whom.

The server sees every execute_request on its way to a kernel and every execute_reply
on its way back, and knows which logged-in person holds the websocket. Recording
here, not in the kernel, means code the candidate runs cannot forge or reattribute
an entry that goes through the server while it is being recorded.

It is not a complete record. The kernel listens on ZMQ ports inside the container,
and the candidate's code runs as the same user as the server, so it can read the
kernel's connection file and send code to a kernel directly; such runs never pass
the server and are not in this log (they are in the notebook only if that code
writes them there). The time box stops all of the candidate's processes and
restarts the kernels at the deadline, so this ends then, but not before.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from jupyter_server.services.kernels.connection.base import (
    deserialize_binary_message,
    deserialize_msg_from_ws_v1,
)
from jupyter_server.services.kernels.connection.channels import (
    ZMQChannelsWebsocketConnection,
)
from traitlets import Unicode

DEFAULT_EXECUTION_LOG = "/var/lib/pairlab/executions.jsonl"
V1_PROTOCOL = "v1.kernel.websocket.jupyter.org"
# A reply that never comes (kernel killed mid-run) must not grow memory for hours.
MAX_PENDING = 500


@dataclass(kw_only=True)
class Execution:
    """One execute_request, completed by its execute_reply."""

    msg_id: str
    username: str
    kernel_id: str
    cell_id: str | None
    code: str
    requested_at: str
    started_at: str | None = None
    finished_at: str | None = None
    status: str | None = None
    error: str | None = None
    execution_count: int | None = None


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds")
    return str(value) if value else None


def append_entry(path: Path, entry: Execution) -> None:
    """Append one finished execution as a JSON line, flushed to disk at once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log_file:
        log_file.write(json.dumps(asdict(entry), ensure_ascii=False) + "\n")
        log_file.flush()
        os.fsync(log_file.fileno())


def read_entries(path: Path) -> list[dict[str, Any]]:
    """Every entry of an execution log, oldest first; a torn last line is skipped."""
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries


class ExecutionLoggingConnection(ZMQChannelsWebsocketConnection):
    """The standard kernel websocket connection, plus an execution log."""

    execution_log = Unicode(
        DEFAULT_EXECUTION_LOG,
        config=True,
        help="JSON-lines file that gets one line per finished cell execution.",
    )

    # Shared by all connections: after a reconnect, the reply that the server
    # buffered meanwhile is replayed through the new connection, not the old one.
    _pending: ClassVar[dict[str, Execution]] = {}

    def handle_incoming_message(self, incoming_msg: Any) -> None:
        try:
            self._note_request(incoming_msg)
        except Exception:
            # A log entry is never worth breaking the candidate's kernel connection.
            self.log.exception("Could not read a message for the execution log")
        super().handle_incoming_message(incoming_msg)

    def handle_outgoing_message(self, stream: Any, outgoing_msg: list[Any]) -> None:
        channel = stream if isinstance(stream, str) else getattr(stream, "channel", "")
        if channel == "shell" and self._pending:
            try:
                self._note_reply(outgoing_msg)
            except Exception:
                self.log.exception("Could not read a reply for the execution log")
        super().handle_outgoing_message(stream, outgoing_msg)

    def _incoming_parts(self, ws_msg: Any) -> tuple[str, dict, dict, dict]:
        if self.subprotocol == V1_PROTOCOL:
            channel, parts = deserialize_msg_from_ws_v1(ws_msg)
            if channel != "shell":
                return channel, {}, {}, {}
            header, _, metadata, content = (self.session.unpack(p) for p in parts[:4])
            return channel, header, metadata, content
        if isinstance(ws_msg, bytes):
            msg = deserialize_binary_message(ws_msg)
        else:
            msg = json.loads(ws_msg)
        return (
            msg.get("channel") or "shell",
            msg.get("header") or {},
            msg.get("metadata") or {},
            msg.get("content") or {},
        )

    def _note_request(self, ws_msg: Any) -> None:
        channel, header, metadata, content = self._incoming_parts(ws_msg)
        if channel != "shell" or header.get("msg_type") != "execute_request":
            return
        if content.get("silent"):
            return
        while len(self._pending) >= MAX_PENDING:
            self._pending.pop(next(iter(self._pending)))
        user = self.websocket_handler.current_user
        self._pending[header["msg_id"]] = Execution(
            msg_id=header["msg_id"],
            username=getattr(user, "username", "unknown"),
            kernel_id=self.kernel_id,
            # JupyterLab names the cell it runs; other clients may not.
            cell_id=metadata.get("cellId"),
            code=content.get("code", ""),
            requested_at=_iso(datetime.now(UTC)) or "",
        )

    def _note_reply(self, msg_list: list[Any]) -> None:
        _, fed = self.session.feed_identities(msg_list)
        parent = self.session.unpack(fed[2])
        entry = self._pending.pop(parent.get("msg_id", ""), None)
        if entry is None:
            return
        header = self.session.unpack(fed[1])
        if header.get("msg_type") != "execute_reply":
            self._pending[entry.msg_id] = entry
            return
        metadata = self.session.unpack(fed[3])
        content = self.session.unpack(fed[4])

        entry.started_at = _iso(metadata.get("started")) or entry.requested_at
        entry.finished_at = _iso(header.get("date")) or _iso(datetime.now(UTC))
        entry.status = content.get("status")
        entry.execution_count = content.get("execution_count")
        if entry.status == "error":
            entry.error = f"{content.get('ename')}: {content.get('evalue')}"
        self._record(entry)

    def on_kernel_restarted(self) -> None:
        self._record_unanswered("the kernel died and was restarted")
        super().on_kernel_restarted()

    def on_restart_failed(self) -> None:
        self._record_unanswered("the kernel died and could not be restarted")
        super().on_restart_failed()

    def _record_unanswered(self, reason: str) -> None:
        # A kernel killed mid-run (out of memory, most often) never replies; its
        # runs still belong in the log, as the moment the candidate lost the kernel.
        for msg_id, entry in list(self._pending.items()):
            if entry.kernel_id != self.kernel_id:
                continue
            del self._pending[msg_id]
            entry.started_at = entry.requested_at
            entry.finished_at = _iso(datetime.now(UTC))
            entry.status = "no reply"
            entry.error = reason
            self._record(entry)

    def _record(self, entry: Execution) -> None:
        started = time.perf_counter()
        try:
            append_entry(Path(self.execution_log), entry)
        except OSError:
            # A full disk must not break the kernel connection; say so loudly.
            self.log.exception("Could not write the execution log")
            return
        self.log.info(
            "Recorded run %s of cell %s by %s: %s (written in %.1f ms)",
            entry.execution_count,
            entry.cell_id,
            entry.username,
            entry.status,
            (time.perf_counter() - started) * 1000,
        )

    @classmethod
    def open_for(cls, usernames: set[str]) -> list[ZMQChannelsWebsocketConnection]:
        """The open kernel connections of these people."""
        return [
            connection
            for connection in list(ZMQChannelsWebsocketConnection._open_sockets)
            if getattr(connection.websocket_handler.current_user, "username", None)
            in usernames
        ]
