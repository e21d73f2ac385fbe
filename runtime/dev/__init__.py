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
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from runtime.dev.logs import LogHub
from runtime.dev.samples import route_line, sample_requests
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
            stack.wait_for_services()  # the samples may reach a service by its name
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
    """The ``try:`` lines: the sample requests the app's endpoints and functions declare
    (``meta.dev.try``, :mod:`runtime.dev.samples`), as curl commands against the stack."""
    samples, _, _ = sample_requests(stack.cloud.registry, stack.url)
    return [sample.line() for sample in samples]


def print_banner(stack: DevStack, out: TextIO) -> None:
    """The start message: where things are, what to curl (the app's declared samples), the
    routes that declare none, and why a declared sample is not shown."""
    samples, problems, undeclared = sample_requests(stack.cloud.registry, stack.url)
    lines = [
        f"units dev: {stack.app} on {stack.url}",
        f"  viewer     {stack.url}{VIEWER}",
        f"  AWS APIs   {stack.cloud.endpoint_url} (moto: SQS, DynamoDB, Step Functions, Lambda;"
        " region us-east-1, any credentials)",
    ]
    if samples:
        lines += ["  try:", *(f"    {sample.line()}" for sample in samples)]
    if undeclared:
        lines.append(
            "  routes:"
            if samples
            else "  routes (an entry's meta.dev.try gives ready"
            " curl lines here; see the README's Quick start):"
        )
        lines += [f"    {route_line(entry, stack.url)}" for entry in undeclared]
    lines += [f"  not shown: {problem}" for problem in problems]
    lines.append("  Lua and _index.yaml changes reload by themselves; Ctrl-C stops.")
    out.write("\n".join(lines) + "\n")
    out.flush()


__all__ = ["DevStack", "PortInUse", "main"]
