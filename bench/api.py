"""An API request through ``handlers/api.py`` against the same handler in Python on Powertools."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from bench.timing import Figure, side_by_side
from runtime.apigw_events import http_event

HELLO = Path(__file__).resolve().parent.parent / "examples" / "hello"


class _Context:
    function_name = "bench"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench-request"


def run() -> list[Figure]:
    os.environ["UNITS_APP"] = str(HELLO)
    kit = importlib.import_module("handlers.api")
    python = importlib.import_module("bench.python_hello")
    event = http_event("GET", "/hello/ada")
    context: Any = _Context()
    expected = '{"greeting":"Hello, Ada!"}'
    for module in (kit, python):
        reply = module.handler(event, context)
        assert reply["statusCode"] == 200 and reply["body"] == expected, reply
    results = side_by_side(
        {
            "python": lambda: python.handler(event, context),
            "kit": lambda: kit.handler(event, context),
        },
        calls=300,
    )
    return [
        Figure("GET /hello/ada, Python handler on Powertools", results["python"], "µs"),
        Figure(
            "GET /hello/ada, Lua handler through handlers/api.py",
            results["kit"],
            "µs",
            "hello.lua: http.request, funcs.call to greet.lua (a library import), logger",
        ),
        Figure("  ratio kit / Python (goal ≤ 1.3)", results["kit"] / results["python"], "x"),
    ]
