"""A headless Chromium driven over the DevTools protocol, for checks in a real page."""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from support.stack import wait_until

# Nothing but the page under test: no updates, sync, field trials or first-run tabs.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-port=0",
    "--window-size=1280,900",
)
# Runs before any script of the page, whatever its policy says, so every blocked
# script or handler is counted in the page itself.
COUNT_VIOLATIONS = """
window.__pairlabViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__pairlabViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Page:
    """One tab, reached through the browser's DevTools websocket."""

    def __init__(self, socket: ClientConnection, session_id: str) -> None:
        self.socket = socket
        self.session_id = session_id
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self.ids) + 1_000_000
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params}
        if self.session_id:
            message["sessionId"] = self.session_id
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv(timeout=60))
            if reply.get("id") != call_id:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise AssertionError(f"DevTools {method} failed: {reply['error']}")
            return reply["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True
        )
        return result["result"].get("value")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", url=url)

    def screenshot(self, path: Path) -> Path:
        shot = self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def console_errors(self) -> list[str]:
        texts = []
        for event in self.events:
            if event.get("method") == "Log.entryAdded":
                entry = event["params"]["entry"]
                if entry["level"] == "error":
                    texts.append(entry["text"])
            elif event.get("method") == "Runtime.exceptionThrown":
                details = event["params"]["exceptionDetails"]
                texts.append(details.get("exception", {}).get("description", ""))
        return texts


@contextmanager
def open_page(*, timeout: float = 30) -> Iterator[Page]:
    """A fresh headless Chromium with a fresh profile; gone after the block."""
    executable = chromium_path()
    if executable is None:
        raise AssertionError("chromium is not installed: apt-get install chromium")
    # Chromium's helper processes may still write to the profile as it exits.
    with tempfile.TemporaryDirectory(
        prefix="pairlab-chromium-", ignore_cleanup_errors=True
    ) as profile:
        process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            active = Path(profile) / "DevToolsActivePort"
            lines = wait_until(
                lambda: active.exists() and active.read_text().split(),
                timeout=timeout,
                what="Chromium's DevTools port",
            )
            with connect(
                f"ws://127.0.0.1:{lines[0]}{lines[1]}", max_size=None
            ) as socket:
                page = _attach(socket)
                yield page
        finally:
            process.terminate()
            process.wait(timeout=10)


def _attach(socket: ClientConnection) -> Page:
    browser = Page(socket, session_id="")
    target = browser.send("Target.createTarget", url="about:blank")
    attached = browser.send(
        "Target.attachToTarget", targetId=target["targetId"], flatten=True
    )
    page = Page(socket, attached["sessionId"])
    for domain in ("Page", "Runtime", "Log"):
        page.send(f"{domain}.enable")
    page.send("Page.addScriptToEvaluateOnNewDocument", source=COUNT_VIOLATIONS)
    return page
