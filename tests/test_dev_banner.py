"""The banner of `units dev`: its `try:` lines are the app's declared sample requests
(``meta.dev.try``, runtime/dev/samples.py), and each one succeeds against the running stack, for
every example in examples/.

Each example runs as a user runs it (``units dev APP`` in a subprocess, on a free port); each
``try:`` line is read as curl reads it (the flags the banner writes, nothing else) and sent.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import queue
import shlex
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import runtime.dev
from runtime import manifest
from runtime.dev import DevStack
from runtime.dev.samples import sample_requests
from tests.conftest import EXAMPLES, ROOT, write_app
from tests.devapp import Client, wait_for
from tests.test_example_integrations import price_api

EXAMPLE_DIRS = sorted(p.parent.name for p in EXAMPLES.glob("*/_index.yaml"))
#: Wall seconds `units dev` may take to print its banner (about 4 s for examples/orders).
BANNER_DEADLINE = 60.0


def curl(line: str) -> tuple[int, bytes]:
    """Send the request a banner line says, as curl would: ``-X``, ``-H``, ``-d`` and the URL
    (``-d`` without ``-X`` is a POST; without a content-type header, a form's). Anything else
    in the line fails the test: the banner must not write what this does not check."""
    words = shlex.split(line, comments=True)
    assert words[0] == "curl", line
    method, headers, body, url = None, {}, None, None
    rest = iter(words[1:])
    for word in rest:
        if word == "-X":
            method = next(rest)
        elif word == "-H":
            name, _, value = next(rest).partition(":")
            headers[name.strip().lower()] = value.strip()
        elif word == "-d":
            body = next(rest).encode()
        elif not word.startswith("-") and url is None:
            url = word
        else:
            raise AssertionError(f"a word curl would read and this does not: {word!r} in {line}")
    assert url is not None, line
    if body is not None:
        headers.setdefault("content-type", "application/x-www-form-urlencoded")
    method = method or ("POST" if body is not None else "GET")
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request(method, target, body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


@contextmanager
def units_dev(app: Path, env: dict[str, str]) -> Iterator[list[str]]:
    """``units dev APP --port 0`` running; yields its banner's lines."""
    process = subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "dev", str(app), "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for text in process.stdout:  # type: ignore[union-attr]
            lines.put(text.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    banner: list[str] = []
    try:
        while not banner or "Ctrl-C stops" not in banner[-1]:
            try:
                text = lines.get(timeout=BANNER_DEADLINE)
            except queue.Empty:
                raise AssertionError(f"no banner within {BANNER_DEADLINE}s: {banner}") from None
            assert text is not None, f"units dev ended before its banner: {banner}"
            banner.append(text)
        yield banner
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def try_lines(banner: list[str]) -> list[str]:
    start = banner.index("  try:") + 1
    found = []
    for text in banner[start:]:
        if not text.startswith("    "):
            break
        found.append(text.strip())
    return found


@pytest.mark.parametrize("example", EXAMPLE_DIRS)
def test_every_try_line_of_every_example_succeeds_against_units_dev(example: str) -> None:
    with price_api() as prices:
        # examples/integrations asks a price API (its banner line says so): a local one.
        env = {"UNITS_ENV_PRICE_API": prices, "UNITS_HTTP_CLIENT_PRIVATE_IP": "127.0.0.1/32"}
        with units_dev(EXAMPLES / example, env) as banner:
            # Every declared sample fits its entry (a route whose request needs what an
            # earlier answer says, examples/echo's GET /echo/{id}, is listed as a route).
            assert not [t for t in banner if "not shown" in t], banner
            lines = try_lines(banner)
            assert lines, banner
            runs = []
            for line in lines:
                status, body = curl(line)
                assert 200 <= status < 300, f"{line}\n-> {status} {body[:500]!r}"
                answer = json.loads(body) if body else None
                if "/_units/api/invoke" in line:
                    assert "value" in answer, body
                if isinstance(answer, dict) and "workflow" in answer:
                    runs.append(answer["workflow"].rpartition("/")[2])
            # A run a line starts gets past its first activity: its input is one it accepts
            # (a bad one would retry that activity for ever).
            client = Client(banner[0].rsplit(" ", 1)[1])
            for run_id in runs:
                events = wait_for(lambda r=run_id: _completed(client, r), f"{run_id} working")
                assert "ActivityFailed" not in events, events


def _completed(client: Client, run_id: str) -> list[str] | None:
    history = client.api("GET", f"workflows/{run_id}")["history"]
    types = [e["type"] for e in history]
    return types if "ActivityCompleted" in types or "ActivityFailed" in types else None


# -- what the banner says of samples that do not fit, and of routes without one ----------------
INDEX = """
version: "1.0"
namespace: app
entries:
  - name: f
    kind: function.lua
    source: file://f.lua
    modules: [http]
  - name: bare
    kind: http.endpoint
    method: GET
    path: /bare/{id}
    func: f
    auth: none
  - name: wrong
    kind: http.endpoint
    method: PUT
    path: /items/{id}
    func: f
    auth: none
    meta:
      dev:
        try:
          - {params: {name: x}}
          - {params: {id: "a b"}, body: {n: 1}, headers: {x: y}}
          - {params: {id: "a b"}, query: {q: "1&2"}, body: [1]}
"""


def test_samples_that_do_not_fit_their_entry_are_named_and_bare_routes_listed(
    tmp_path: Path,
) -> None:
    app = write_app(tmp_path / "app", INDEX, {"f.lua": "return { handler = function() end }"})
    registry = manifest.load_app(app)
    samples, problems, undeclared = sample_requests(registry, "http://h:1")
    assert [s.line() for s in samples] == [
        "curl -X PUT 'http://h:1/items/a%20b?q=1%262' -H 'content-type: application/json' -d '[1]'"
    ]
    assert problems == [
        "_index.yaml: entry 'app:wrong' meta.dev.try[0]: params: no value for id "
        "(path /items/{id})",
        "_index.yaml: entry 'app:wrong' meta.dev.try[1]: unknown field 'headers' "
        "(a sample has: body, note, params, query)",
    ]
    assert [e.id for e in undeclared] == ["app:bare"]
    with DevStack(app, port=0) as stack:
        out = io.StringIO()
        runtime.dev.print_banner(stack, out)
    text = out.getvalue()
    assert "  routes (an entry's meta.dev.try gives ready curl lines" not in text  # has samples
    assert f"GET    {stack.url}/bare/{{id}}" in text
    assert "  not shown: _index.yaml: entry 'app:wrong' meta.dev.try[0]" in text
