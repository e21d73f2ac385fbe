"""`units dev`: time to the first served request, and the local API's requests per second.

- Startup: ``units dev APP`` in a fresh process (the console script, as a user types it) until
  its first answer to ``GET /hello/ada`` (hello) or ``GET /_units/api/status`` (orders: moto's
  Step Functions interpreter is the heavy part); then Ctrl-C (SIGINT), timed to exit 0.
- Throughput: ``GET /hello/ada`` over one keep-alive connection to that dev server (another
  process: the client here, the server there, as with curl) against the same request put
  through :class:`~runtime.http_api.HttpApi` in this process (no HTTP, no event building).

python -m bench.dev_stack
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.timing import Figure, per_call_us, print_figures
from runtime import manifest
from runtime.apigw_events import http_event
from runtime.engine import Engine
from runtime.http_api import HttpApi

ROOT = Path(__file__).resolve().parent.parent
HELLO = ROOT / "examples" / "hello"
ORDERS = ROOT / "examples" / "orders"
#: Seconds a dev server gets to answer before the run counts as failed.
START_DEADLINE = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _units() -> list[str]:
    script = Path(sys.executable).parent / "units"
    return [str(script)] if script.exists() else [shutil.which("units") or "units"]


def _get(port: int, path: str, conn: http.client.HTTPConnection | None = None) -> int:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        if own:
            conn.close()


class DevProcess:
    """``units dev APP --port P`` in a child process."""

    def __init__(self, app: Path) -> None:
        self.port = _free_port()
        self.started = time.perf_counter()
        env = {**os.environ, "NO_COLOR": "1"}
        self.proc = subprocess.Popen(
            [*_units(), "dev", str(app), "--port", str(self.port)],
            stdout=subprocess.DEVNULL,  # one line per request: not what is measured here
            stderr=subprocess.PIPE,
            env=env,
        )

    def first_answer(self, path: str) -> float:
        """Seconds from the start of the process to the first 200 on ``path``."""
        deadline = self.started + START_DEADLINE
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"units dev exited: {self.proc.stderr.read().decode()}")
            try:
                if _get(self.port, path) == 200:
                    return time.perf_counter() - self.started
            except OSError:
                pass
            time.sleep(0.01)
        raise RuntimeError(f"units dev did not answer {path} within {START_DEADLINE}s")

    def stop(self) -> tuple[float, int]:
        """Ctrl-C: seconds to exit, and the exit code."""
        started = time.perf_counter()
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=30)
        self.proc.stderr.close()
        return time.perf_counter() - started, code


def _startup(app: Path, path: str, runs: int) -> tuple[float, float, int]:
    """Best of ``runs``: seconds to the first answer and to exit after Ctrl-C; worst exit code."""
    best_start, best_stop, worst_code = float("inf"), float("inf"), 0
    for _ in range(runs):
        dev = DevProcess(app)
        try:
            best_start = min(best_start, dev.first_answer(path))
        finally:
            stopped, code = dev.stop()
        best_stop, worst_code = min(best_stop, stopped), max(worst_code, abs(code))
    return best_start, best_stop, worst_code


def _throughput(calls: int = 500, repeats: int = 5) -> tuple[float, float]:
    """Best requests per second through the dev server, and through HttpApi in-process."""
    event = http_event("GET", "/hello/ada")
    engine = Engine(manifest.load_app(HELLO), log_sink=lambda *_: None)
    api = HttpApi(engine)
    dev = DevProcess(HELLO)
    try:
        dev.first_answer("/hello/ada")
        conn = http.client.HTTPConnection("127.0.0.1", dev.port, timeout=10)

        def over_http() -> None:
            assert _get(dev.port, "/hello/ada", conn) == 200

        def in_process() -> None:
            assert api.resolve(event, None)["statusCode"] == 200

        for fn in (over_http, in_process):  # warm both
            per_call_us(fn, 50)
        best = {"http": float("inf"), "direct": float("inf")}
        for _ in range(repeats):  # interleaved, so both see the same machine
            best["http"] = min(best["http"], per_call_us(over_http, calls))
            best["direct"] = min(best["direct"], per_call_us(in_process, calls))
        conn.close()
    finally:
        dev.stop()
        engine.close()
    return 1e6 / best["http"], 1e6 / best["direct"]


def run() -> list[Figure]:
    hello_start, hello_stop, hello_code = _startup(HELLO, "/hello/ada", runs=3)
    orders_start, _, orders_code = _startup(ORDERS, "/_units/api/status", runs=2)
    over_http, in_process = _throughput()
    return [
        Figure(
            "`units dev examples/hello`: start to first served GET /hello/ada",
            hello_start,
            "s",
            "goal < 3 s; a fresh process: imports, moto, the engine, the server (best of 3)",
        ),
        Figure(
            "`units dev examples/orders`: start to first served request",
            orders_start,
            "s",
            "+ a workflow host: moto's Step Functions interpreter imports moto.batch and "
            "moto.ec2 (best of 2)",
        ),
        Figure(
            "Ctrl-C to exit (hello)",
            hello_stop,
            "s",
            f"exit codes: hello {hello_code}, orders {orders_code} (0 = clean stop)",
        ),
        Figure(
            "GET /hello/ada through the dev server (keep-alive, one client)",
            over_http,
            "req/s",
            "HTTP parsing, the API Gateway v2 event, HttpApi, the access log line",
        ),
        Figure("GET /hello/ada through HttpApi in-process", in_process, "req/s"),
        Figure("  ratio in-process / dev server", in_process / over_http, "x"),
    ]


if __name__ == "__main__":
    print_figures(run())
