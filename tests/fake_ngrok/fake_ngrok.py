#!/usr/bin/env python3
"""A stand-in for the ngrok agent, so the end-to-end tests run with no ngrok cloud.

It answers the same command line that ngrok/start.sh gives the real agent, reads the
same config files, refuses to start without an authtoken, serves the same
/api/tunnels JSON on the configured web_addr, and forwards HTTP and websockets from
its "public" port to the upstream, adding X-Forwarded-* headers as ngrok's edge does.
It enforces a traffic policy's basic-auth action; other actions are only validated.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml
from aiohttp import (
    ClientConnectionError,
    ClientSession,
    ClientTimeout,
    DummyCookieJar,
    WSMsgType,
    web,
)

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
KNOWN_POLICY_ACTIONS = {
    "basic-auth",
    "oauth",
    "restrict-ips",
    "custom-response",
    "deny",
}


class AgentLog:
    """logfmt lines, to the --log file (or stdout), like the real agent's."""

    def __init__(self, target: str) -> None:
        self.target = target

    def write(self, level: str, msg: str, **fields: Any) -> None:
        parts = [f"t={time.strftime('%Y-%m-%dT%H:%M:%S%z')}", f"lvl={level}"]
        parts.append(f"msg={json.dumps(msg)}")
        parts += [f"{key}={json.dumps(str(value))}" for key, value in fields.items()]
        line = " ".join(parts) + "\n"
        if self.target in ("stdout", "stderr", ""):
            getattr(sys, self.target or "stdout").write(line)
            return
        with open(self.target, "a") as handle:
            handle.write(line)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ngrok")
    parser.add_argument("--config", action="append", default=[])
    parser.add_argument("--log", default="false")
    parser.add_argument("--log-format", default="term")
    parser.add_argument("--log-level", default="info")
    sub = parser.add_subparsers(dest="command", required=True)
    http = sub.add_parser("http")
    http.add_argument("upstream")
    http.add_argument("--url", default="")
    http.add_argument("--traffic-policy-file", default="")
    # Global flags are accepted after the subcommand too, as the real CLI does.
    http.add_argument("--config", action="append", dest="config_late", default=[])
    http.add_argument("--log", dest="log_late")
    http.add_argument("--log-format", dest="log_format_late")
    args = parser.parse_args(argv)
    args.config += args.config_late
    args.log = args.log_late or args.log
    return args


def merge_configs(paths: list[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {"agent": {}}
    for path in paths:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if loaded.get("version") not in (2, 3, "2", "3"):
            raise SystemExit(f"ERROR: {path}: unsupported config version")
        merged["agent"].update(loaded.get("agent") or {})
    return merged


def load_policy(path: str) -> list[str]:
    """Return the basic-auth credentials a policy demands (empty: none)."""
    if not path:
        return []
    policy = yaml.safe_load(Path(path).read_text()) or {}
    credentials: list[str] = []
    for rule in policy.get("on_http_request") or []:
        for action in rule.get("actions") or []:
            kind = action.get("type")
            if kind not in KNOWN_POLICY_ACTIONS:
                raise SystemExit(f"ERROR: traffic policy: unknown action type {kind!r}")
            if kind == "basic-auth":
                credentials += action.get("config", {}).get("credentials", [])
    return credentials


def authorized(request: web.Request, credentials: list[str]) -> bool:
    if not credentials:
        return True
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        return False
    try:
        given = base64.b64decode(header[6:]).decode()
    except ValueError:
        return False
    return any(hmac.compare_digest(given, allowed) for allowed in credentials)


def build_edge(upstream: str, credentials: list[str], log: AgentLog) -> web.Application:
    app = web.Application()
    session_holder: dict[str, ClientSession] = {}

    async def open_session(_: web.Application) -> None:
        # No cookie jar: each visitor's cookies pass through untouched, and one
        # visitor's login must never be replayed for the next.
        session_holder["session"] = ClientSession(
            timeout=ClientTimeout(total=None, sock_connect=10),
            auto_decompress=False,
            cookie_jar=DummyCookieJar(),
        )

    async def close_session(_: web.Application) -> None:
        await session_holder["session"].close()

    def forwarded_headers(request: web.Request) -> dict[str, str]:
        headers = {
            key: value
            for key, value in request.headers.items()
            if key.lower() not in HOP_BY_HOP
        }
        if credentials:
            # The edge consumed the basic-auth header; Jupyter never sees it.
            headers.pop("Authorization", None)
        headers["Host"] = request.host
        headers["X-Forwarded-For"] = request.remote or ""
        headers["X-Forwarded-Proto"] = request.scheme
        headers["X-Forwarded-Host"] = request.host
        return headers

    async def handle(request: web.Request) -> web.StreamResponse:
        if not authorized(request, credentials):
            return web.Response(
                status=401,
                text="Unauthorized\n",
                headers={"WWW-Authenticate": 'Basic realm="ngrok"'},
            )
        session = session_holder["session"]
        target = upstream.rstrip("/") + request.rel_url.raw_path_qs
        headers = forwarded_headers(request)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await relay_websocket(request, session, target, headers)
        body = await request.read()
        try:
            return await relay_http(request, session, target, headers, body)
        except ClientConnectionError as error:
            # As ngrok's edge does while the upstream restarts: a short 502, no trace.
            log.write("warn", "upstream unreachable", err=str(error))
            return web.Response(status=502, text="upstream unreachable\n")

    async def relay_http(
        request: web.Request,
        session: ClientSession,
        target: str,
        headers: dict[str, str],
        body: bytes,
    ) -> web.StreamResponse:
        async with session.request(
            request.method, target, headers=headers, data=body, allow_redirects=False
        ) as upstream_response:
            response = web.StreamResponse(status=upstream_response.status)
            for key, value in upstream_response.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    response.headers.add(key, value)
            await response.prepare(request)
            async for chunk in upstream_response.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    async def relay_websocket(
        request: web.Request,
        session: ClientSession,
        target: str,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        for key in (
            "Sec-WebSocket-Key",
            "Sec-WebSocket-Version",
            "Sec-WebSocket-Extensions",
        ):
            headers.pop(key, None)
        protocols = [
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        ]
        headers.pop("Sec-WebSocket-Protocol", None)
        try:
            upstream_ws = await session.ws_connect(
                target.replace("http", "ws", 1),
                headers=headers,
                protocols=protocols,
                max_msg_size=0,
                autoping=True,
            )
        except Exception as error:  # the upstream refused: pass its refusal on
            status = getattr(error, "status", 502)
            return web.Response(status=status, text=f"upstream refused: {status}\n")
        client_ws = web.WebSocketResponse(
            protocols=[upstream_ws.protocol] if upstream_ws.protocol else (),
            max_msg_size=0,
        )
        await client_ws.prepare(request)

        async def pump(source: Any, sink: Any) -> None:
            async for message in source:
                if message.type == WSMsgType.BINARY:
                    await sink.send_bytes(message.data)
                elif message.type == WSMsgType.TEXT:
                    await sink.send_str(message.data)
                else:
                    break
            # Pass the close code on, as ngrok's edge does: apps signal with it.
            # 1005 and 1006 only describe a close and may not be sent in one.
            code = source.close_code
            await sink.close(code=1000 if code in (None, 1005, 1006) else code)

        await asyncio.gather(
            pump(client_ws, upstream_ws),
            pump(upstream_ws, client_ws),
            return_exceptions=True,
        )
        return client_ws

    app.on_startup.append(open_session)
    app.on_cleanup.append(close_session)
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def build_api(tunnel: dict[str, Any]) -> web.Application:
    app = web.Application()

    async def tunnels(_: web.Request) -> web.Response:
        return web.json_response({"tunnels": [tunnel], "uri": "/api/tunnels"})

    async def one_tunnel(request: web.Request) -> web.Response:
        if request.match_info["name"] != tunnel["name"]:
            return web.json_response(
                {"error_code": 100, "status_code": 404}, status=404
            )
        return web.json_response(tunnel)

    app.router.add_get("/api/tunnels", tunnels)
    app.router.add_get("/api/tunnels/{name}", one_tunnel)
    return app


async def serve(args: argparse.Namespace, config: dict[str, Any]) -> None:
    log = AgentLog(args.log)
    credentials = load_policy(args.traffic_policy_file)
    public_url = args.url or os.environ.get("FAKE_NGROK_PUBLIC_URL", "")
    if not public_url:
        raise SystemExit("ERROR: the fake agent needs FAKE_NGROK_PUBLIC_URL")
    listen = os.environ.get("FAKE_NGROK_LISTEN", "0.0.0.0:8080")
    web_addr = str(config["agent"].get("web_addr", "127.0.0.1:4040"))
    tunnel = {
        "name": "command_line",
        "ID": uuid.uuid4().hex,
        "uri": "/api/tunnels/command_line",
        "public_url": public_url,
        "proto": public_url.split(":", 1)[0],
        "config": {"addr": args.upstream, "inspect": True},
        "metrics": {"conns": {"count": 0}, "http": {"count": 0}},
    }

    runners = []
    for app, address in (
        (build_edge(args.upstream, credentials, log), listen),
        (build_api(tunnel), web_addr),
    ):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = address.rsplit(":", 1)
        await web.TCPSite(runner, host, int(port)).start()
        runners.append(runner)
    log.write(
        "info",
        "started tunnel",
        obj="tunnels",
        name="command_line",
        addr=args.upstream,
        url=public_url,
    )
    await asyncio.Event().wait()


def authentication_error(token: str) -> str | None:
    """What ngrok's cloud would say of this token, or None if it would accept it."""
    if not token:
        return (
            "authentication failed: Usage of ngrok requires a verified account "
            "and authtoken. ERR_NGROK_4018"
        )
    valid = os.environ.get("FAKE_NGROK_VALID_TOKEN", "")
    if valid and not hmac.compare_digest(token, valid):
        return (
            "authentication failed: The authtoken you specified does not look like "
            "a proper ngrok tunnel authtoken. ERR_NGROK_105"
        )
    return None


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    config = merge_configs(args.config)
    token = str(
        config["agent"].get("authtoken") or os.environ.get("NGROK_AUTHTOKEN", "")
    )
    refusal = authentication_error(token)
    if refusal:
        AgentLog(args.log).write("eror", "session closing", err=refusal)
        print(f"ERROR:  {refusal}", file=sys.stderr)
        return 1
    asyncio.run(serve(args, config))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
