"""The dev server: HTTP on localhost, turned into API Gateway HTTP API (v2) events.

Every request outside ``/_units`` becomes the event API Gateway would send (payload format 2.0)
and goes through the same :class:`~runtime.http_api.HttpApi` the API Lambda runs; its reply is
written back as API Gateway would write it. ``/_units/api/`` is the management API
(:mod:`runtime.dev.management`) and ``/_units/`` the viewer's static files.

Routes are not authorized here: an ``auth: iam`` or ``jwt`` route answers as ``none`` would
(API Gateway checks auth before the Lambda runs; there is no API Gateway on this machine).
"""

from __future__ import annotations

import base64
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from runtime.apigw_events import http_event
from runtime.dev.logs import SYSTEM_UNIT
from runtime.dev.management import PREFIX, ManagementApi
from runtime.errors import INTERNAL, NOT_FOUND

if TYPE_CHECKING:
    from runtime.dev.stack import DevStack

STATIC_DIR = Path(__file__).parent / "static"
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}
VIEWER = "/_units/"


class PortInUse(OSError):
    """The dev server's port is taken."""


class DevServer(ThreadingHTTPServer):
    """A threaded HTTP server bound to one :class:`DevStack`."""

    daemon_threads = True
    # Fail on a port someone listens on (SO_REUSEADDR still lets a just-closed port be reused).
    allow_reuse_address = True

    def __init__(self, host: str, port: int, stack: DevStack) -> None:
        self.stack = stack
        self.management = ManagementApi(stack)
        try:
            super().__init__((host, port), _Handler)
        except OSError as exc:
            if exc.errno in (98, 48, 10048):  # EADDRINUSE on Linux, macOS, Windows
                raise PortInUse(
                    exc.errno,
                    f"port {port} on {host} is in use: stop what listens there or pick another "
                    f"port (units dev --port N)",
                ) from None
            raise


class _Handler(BaseHTTPRequestHandler):
    server: DevServer
    # Keep-alive: a client sending many requests reuses its connection.
    protocol_version = "HTTP/1.1"
    # Headers and body are two writes: without TCP_NODELAY, Nagle's algorithm holds the body
    # until the client's delayed ACK (40 ms on Linux) for every keep-alive request.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass  # access lines go to the stack's log (API requests only)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        try:
            if url.path.startswith(PREFIX):
                reply = self.server.management.handle(self.command, url.path, url.query, body)
                self._send_json(reply.status, reply.body)
            elif url.path == VIEWER.rstrip("/"):
                self._send(302, {"Location": VIEWER}, b"")
            elif url.path.startswith(VIEWER):
                self._send_static(url.path[len(VIEWER) :] or "index.html")
            else:
                self._send_api(url.path, url.query, body)
        except Exception as exc:  # a bug here must answer, not hang the client
            self.server.stack.hub.emit(
                SYSTEM_UNIT, "error", f"{self.command} {url.path}: {exc!r}", {}
            )
            self._send_json(500, {"error": {"kind": INTERNAL, "message": repr(exc)}})

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    # -- the app's API --------------------------------------------------------------------------
    def _send_api(self, path: str, query: str, body: bytes) -> None:
        started = time.perf_counter()
        headers: dict[str, str] = {}
        for key, value in self.headers.items():  # repeated headers: comma-joined, as API GW does
            key = key.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        event = http_event(self.command, path, body=_event_body(body), headers=headers, query=query)
        if "cookie" in headers:
            event["cookies"] = [c.strip() for c in headers["cookie"].split(";") if c.strip()]
        stack = self.server.stack
        reply = stack.resolve(event)
        status = int(reply.get("statusCode", 200))
        out_headers = dict(reply.get("headers") or {})
        for key, values in (reply.get("multiValueHeaders") or {}).items():
            out_headers[key] = ", ".join(values)
        raw = reply.get("body") or ""
        data = base64.b64decode(raw) if reply.get("isBase64Encoded") else raw.encode()
        self._send(status, out_headers, data, cookies=reply.get("cookies") or [])
        elapsed = (time.perf_counter() - started) * 1000
        stack.hub.emit("http", "info", f"{self.command} {self.path} {status} {elapsed:.1f}ms")

    # -- the viewer -----------------------------------------------------------------------------
    def _send_static(self, name: str) -> None:
        # Only the files shipped in static/ by name: no paths, so nothing else is reachable.
        path = STATIC_DIR / name
        if "/" in name or path.suffix not in _CONTENT_TYPES or not path.is_file():
            self._send_json(404, {"error": {"kind": NOT_FOUND, "message": f"no {name}"}})
            return
        headers = {"Content-Type": _CONTENT_TYPES[path.suffix], "Cache-Control": "no-cache"}
        self._send(200, headers, path.read_bytes())

    # -- writing --------------------------------------------------------------------------------
    def _send_json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self._send(status, {"Content-Type": "application/json"}, data)

    def _send(
        self, status: int, headers: dict[str, str], data: bytes, cookies: list[str] = ()
    ) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, str(value))
        for cookie in cookies:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def _event_body(body: bytes) -> bytes | str | None:
    """API Gateway passes text bodies as they are and binary ones base64-encoded."""
    if not body:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body
