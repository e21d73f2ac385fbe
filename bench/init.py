"""Lambda init: importing ``handlers/api.py`` (manifest load + sandbox + compile) against
importing a bare Powertools handler, each in a fresh interpreter as a cold Lambda would."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.timing import Figure

ROOT = Path(__file__).resolve().parent.parent
RUNS = 7

_IMPORT = """
import time
start = time.perf_counter()
import {module}
{touch}
print(time.perf_counter() - start)
"""


def _import_seconds(module: str, touch: str = "") -> float:
    env = dict(os.environ, UNITS_APP=str(ROOT / "examples" / "hello"), PYTHONWARNINGS="ignore")
    samples = []
    for _ in range(RUNS):
        done = subprocess.run(
            [sys.executable, "-c", _IMPORT.format(module=module, touch=touch)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def run() -> list[Figure]:
    bare = _import_seconds("bench.python_hello")
    kit = _import_seconds("handlers.api")
    # The first request compiles the entries it touches; count it as part of the cold start.
    cold = _import_seconds(
        "handlers.api",
        "from runtime.apigw_events import http_event\n"
        "handlers.api.API.resolve(http_event('GET', '/hello/ada'))",
    )
    return [
        Figure(
            "import of a bare Powertools API handler",
            bare * 1000,
            "ms",
            f"median of {RUNS} fresh interpreters",
        ),
        Figure("import of handlers/api.py (manifest, sandbox)", kit * 1000, "ms"),
        Figure("  ratio to the bare handler", kit / bare, "x"),
        Figure(
            "import + first request (compiles hello.lua, greet.lua, text.lua)", cold * 1000, "ms"
        ),
        Figure("  ratio to the bare handler", cold / bare, "x"),
    ]
