"""A small Jupyter client for the tests: REST calls and kernel execution by websocket.

It talks to the server exactly as a browser behind the tunnel would: through the
public URL, authenticated by one person's token.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from websockets.sync.client import connect


@dataclass
class Execution:
    """What one cell printed and returned."""

    stdout: str = ""
    stderr: str = ""
    result: str | None = None
    error: str | None = None
    status: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)


class JupyterClient:
    """One person's session with the server at base_url."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def start_kernel(self) -> Kernel:
        response = self.http.post("/api/kernels", json={"name": "python3"})
        response.raise_for_status()
        return Kernel(self, response.json()["id"])


class Kernel:
    """A kernel reached over its channels websocket."""

    def __init__(self, client: JupyterClient, kernel_id: str) -> None:
        self.client = client
        self.kernel_id = kernel_id
        self.session = uuid.uuid4().hex
        url = client.base_url.replace("http", "ws", 1)
        self._closing = ExitStack()
        self.socket = self._closing.enter_context(
            connect(
                f"{url}/api/kernels/{kernel_id}/channels?session_id={self.session}",
                additional_headers={"Authorization": f"token {client.token}"},
                max_size=None,
                open_timeout=30,
            )
        )

    def _message(self, msg_type: str, content: dict[str, Any]) -> dict[str, Any]:
        return {
            "header": {
                "msg_id": uuid.uuid4().hex,
                "msg_type": msg_type,
                "username": "tests",
                "session": self.session,
                "date": datetime.now(UTC).isoformat(),
                "version": "5.3",
            },
            "parent_header": {},
            "metadata": {},
            "content": content,
            "channel": "shell",
            "buffers": [],
        }

    def submit(self, code: str, *, cell_id: str | None = None) -> str:
        """Send code to execute without waiting for it; return the request's id.

        With cell_id, the request names its cell in the metadata, as JupyterLab does.
        """
        request = self._message(
            "execute_request",
            {
                "code": code,
                "silent": False,
                "store_history": True,
                "user_expressions": {},
                "allow_stdin": False,
                "stop_on_error": True,
            },
        )
        if cell_id is not None:
            request["metadata"]["cellId"] = cell_id
        self.socket.send(json.dumps(request))
        return request["header"]["msg_id"]

    def run(
        self, code: str, *, timeout: float = 60, cell_id: str | None = None
    ) -> Execution:
        """Execute code and collect its outputs until the kernel is idle again."""
        msg_id = self.submit(code, cell_id=cell_id)
        execution = Execution()
        replied = idle = False
        deadline = time.monotonic() + timeout
        while not (replied and idle):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"the kernel did not finish within {timeout}s: {code!r}"
                )
            message = json.loads(self.socket.recv(timeout=remaining))
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                if content["name"] == "stdout":
                    execution.stdout += content["text"]
                else:
                    execution.stderr += content["text"]
            elif kind == "execute_result":
                execution.result = content["data"].get("text/plain")
            elif kind == "error":
                execution.error = f"{content['ename']}: {content['evalue']}"
            elif kind == "execute_reply":
                execution.status = content["status"]
                replied = True
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
            if kind in ("stream", "execute_result", "error", "display_data"):
                execution.outputs.append({"msg_type": kind, **content})
        return execution

    def wait_for_state(self, states: set[str], *, timeout: float) -> str:
        """Wait for a kernel status in states, from any request or from the server.

        The server itself reports "restarting" and "dead", with no parent request,
        when the kernel process dies under it; this is what the notebook UI shows.
        """
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            message = json.loads(self.socket.recv(timeout=remaining))
            if message["msg_type"] == "status":
                state = message["content"]["execution_state"]
                if state in states:
                    return state
        raise TimeoutError(f"the kernel reported none of {states} within {timeout}s")

    def close(self) -> None:
        """Close this connection only; the kernel runs on for everyone else."""
        self._closing.close()

    def shutdown(self) -> None:
        self.close()
        self.client.http.delete(f"/api/kernels/{self.kernel_id}")
