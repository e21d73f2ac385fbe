"""``units dev APP``: the whole stack on this machine, no AWS account.

An embedded moto server (SQS, DynamoDB, Step Functions, Lambda) with the same resources the CDK
stack creates from the same manifest, the process workers and activity handlers fed by pump
threads as Lambda's event sources would feed them, the workflow driver's state machine executed
by moto on the wall clock (durable timers fire when due), and the HTTP API on
``http://127.0.0.1:PORT`` speaking the API Gateway v2 event format to the same handler code.
Lua and manifest changes reload without a restart; ``/_units/`` is a viewer of processes and
workflow runs, ``/_units/api/`` the management API it and the CLI use.

Modules: :mod:`.stack` (assembly and lifecycle), :mod:`.cloud` (the harness's LocalCloud on the
wall clock, served), :mod:`.server` (HTTP to API Gateway events), :mod:`.management` (the JSON
API), :mod:`.pumps` (event sources), :mod:`.watch` (reload), :mod:`.logs` (the log buffer and
terminal), :mod:`.gate` (requests vs reloads).
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from runtime import manifest
from runtime.dev.logs import LogHub
from runtime.dev.server import VIEWER, PortInUse
from runtime.dev.stack import DevStack

EXIT_OK, EXIT_ERROR = 0, 1


def main(app: Path, port: int = 8787, host: str = "127.0.0.1") -> int:
    """Run the dev stack for ``app`` in the foreground until Ctrl-C (SIGINT) or SIGTERM.

    Returns the exit code: 0 after a clean stop, 1 when the port is taken, the app does not
    load or moto is not installed (the message is on stderr).
    """
    stop = threading.Event()
    # Before starting: a Ctrl-C while the stack comes up stops it cleanly once it is up.
    restore = _on_signals(stop)
    try:
        stack = DevStack(app, port=port, host=host, hub=LogHub(sys.stdout))
        try:
            stack.start()
        except PortInUse as exc:
            print(f"units dev: {exc.strerror}", file=sys.stderr)
            return EXIT_ERROR
        except ValueError as exc:
            print(f"units dev: {exc}", file=sys.stderr)
            return EXIT_ERROR
        except ModuleNotFoundError as exc:
            if exc.name != "moto" and not (exc.name or "").startswith("moto."):
                raise
            print(
                "units dev: the local stack runs on moto, which is not installed here: "
                "pip install 'compute-units[dev]' (or: pip install 'moto[server]')",
                file=sys.stderr,
            )
            return EXIT_ERROR
        try:
            print_banner(stack, sys.stdout)
            while not stop.wait(0.5):  # a timed wait: signals are handled between waits
                pass
            print("units dev: stopping", file=sys.stdout, flush=True)
        finally:
            stack.stop()  # a second Ctrl-C meanwhile only sets the event again
    finally:
        restore()
    return EXIT_OK


def _on_signals(stop: threading.Event) -> Callable[[], None]:
    """Route SIGINT and SIGTERM to ``stop``; returns the undo. Signal handlers can only be set
    from the main thread: elsewhere (a test) the caller stops the stack itself."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    saved = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        saved[sig] = signal.signal(sig, lambda *_: stop.set())

    def restore() -> None:
        for sig, handler in saved.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, handler)

    return restore


def curl_examples(stack: DevStack) -> list[str]:
    """What to try first: each HTTP endpoint (a ``{param}`` filled with its own name), then a
    function that no endpoint serves, through the management API."""
    registry = stack.cloud.registry
    endpoints = registry.of_kind(manifest.EndpointEntry)
    lines = []
    for endpoint in endpoints:
        url = stack.url + re.sub(r"\{(\w+)(?:\.\.\.)?\}", r"\1", endpoint.path)
        if endpoint.method == "GET":
            lines.append(f"curl {url}")
        elif endpoint.method in ("HEAD", "DELETE"):
            lines.append(f"curl -X {endpoint.method} {url}")
        else:
            json_body = "-H 'content-type: application/json' -d '{}'"
            lines.append(f"curl -X {endpoint.method} {url} {json_body}")
    bound = {e.func for e in endpoints}
    functions = [f.id for f in registry.of_kind(manifest.FunctionEntry) if f.id not in bound]
    if functions:
        body = json.dumps({"id": functions[0], "args": []})
        lines.append(f"curl {stack.url}/_units/api/invoke -d '{body}'")
    return lines


def print_banner(stack: DevStack, out: TextIO) -> None:
    """The start message: where things are and what to curl."""
    lines = [
        f"units dev: {stack.app} on {stack.url}",
        f"  viewer     {stack.url}{VIEWER}",
        f"  AWS APIs   {stack.cloud.endpoint_url} (moto: SQS, DynamoDB, Step Functions, Lambda;"
        " region us-east-1, any credentials)",
        "  try:",
        *(f"    {line}" for line in curl_examples(stack)),
        "  Lua and _index.yaml changes reload by themselves; Ctrl-C stops.",
    ]
    out.write("\n".join(lines) + "\n")
    out.flush()


__all__ = ["DevStack", "PortInUse", "main"]
