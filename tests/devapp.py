"""The app and the HTTP client the dev stack's tests (test_dev_stack, test_viewer) share."""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.conftest import write_app

INDEX = """
version: "1.0"
namespace: app
entries:
  - name: greet
    kind: function.lua
    source: file://greet.lua
    modules: [logger]
  - name: hello
    kind: function.lua
    source: file://hello.lua
    modules: [http, funcs]
  - name: hello.get
    kind: http.endpoint
    method: GET
    path: /hello/{name}
    func: app:hello
    auth: none

  - name: workers
    kind: process.host
  - name: counter
    kind: process.lua
    source: file://counter.lua
  - name: napper
    kind: process.lua
    source: file://napper.lua
    method: main
    modules: [time]

  - name: flows
    kind: workflow.host
  - name: nap
    kind: workflow.lua
    source: file://nap.lua
    modules: [funcs, time, logger]
  - name: waiter
    kind: workflow.lua
    source: file://waiter.lua
    modules: [funcs, time]
"""

GREET = """
local logger = require("logger")
return { handler = function(name)
  logger.info("greeting", { name = name })
  return "Hello, " .. name .. "!"
end }
"""

FILES = {
    # A loop-style process that sleeps an hour before it reads its inbox.
    "napper.lua": """
local time = require("time")
return function()
  time.sleep("1h")
  process.inbox():receive()
end
""",
    "greet.lua": GREET,
    "hello.lua": """
        local http = require("http")
        local funcs = require("funcs")
        return { handler = function()
          local req, res = http.request(), http.response()
          local text = funcs.call("app:greet", req:param("name"))
          res:set_header("x-unit", "hello")
          res:write_json({ greeting = text, q = req:query("q") })
        end }
    """,
    "counter.lua": """
        local counter = {}
        function counter.init(start) return { n = start or 0 } end
        function counter.handle(state, msg)
          if msg:topic() == "inc" then state.n = state.n + msg:payload():data() end
          if msg:topic() == "boom" then error("boom at " .. state.n) end
          return state
        end
        return counter
    """,
    # A durable timer of one second (Step Functions' wait timeout, in wall time), then an activity.
    "nap.lua": """
        local funcs = require("funcs")
        local time = require("time")
        local logger = require("logger")
        return { main = function(input)
          logger.info("napping", { name = input.name })
          time.sleep("1s")
          return { text = funcs.call("app:greet", input.name) }
        end }
    """,
    # An activity, then a wait for the signal "go".
    "waiter.lua": """
        local funcs = require("funcs")
        local time = require("time")
        return { main = function(input)
          local text = funcs.call("app:greet", input.name)
          local go = process.listen("go"):receive()
          return { text = text, go = go }
        end }
    """,
}


def write_dev_app(root: Path) -> Path:
    return write_app(root, INDEX, FILES)


def edit(path: Path, text: str) -> None:
    """Rewrite ``path`` and move its mtime forward, so a poll sees the change even when the
    size is the same and the file system's clock is coarse."""
    before = path.stat().st_mtime_ns
    path.write_text(text, encoding="utf-8")
    later = max(path.stat().st_mtime_ns, before + 1_000_000_000)
    os.utime(path, ns=(later, later))


def wait_for(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll ``check`` until it returns something truthy (returned), or fail after ``timeout``
    wall seconds saying ``what`` did not happen. For background threads only."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout}s (last: {last!r})")


class Client:
    """A small HTTP client for the dev server (one connection per request)."""

    def __init__(self, base_url: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        status, _, raw = self.request(method, path, data)
        return status, json.loads(raw) if raw else None

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """A management API call that must succeed; its JSON answer."""
        status, answer = self.json(method, "/_units/api/" + path, body)
        assert status == 200, (status, answer)
        return answer
