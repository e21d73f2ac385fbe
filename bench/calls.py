"""Function calls: the kit's invoke path and ``funcs.call`` against a bare lupa call."""

from __future__ import annotations

from pathlib import Path

import lupa.lua54 as lua54

from bench.timing import Figure, side_by_side
from runtime import manifest
from runtime.engine import Engine

APP = Path(__file__).resolve().parent / "app"
LOOP = 2_000


def run() -> list[Figure]:
    engine = Engine(manifest.load_app(APP))
    bare_runtime = lua54.LuaRuntime(register_eval=False, register_builtins=False)
    bare_add = bare_runtime.eval("function(a, b) return a + b end")
    results = side_by_side(
        {
            "bare": lambda: bare_add(1, 2),
            "invoke": lambda: engine.call("bench:add", [1, 2]),
            # One invocation making LOOP calls; divided by LOOP below.
            "funcs_loop": lambda: engine.call("bench:call_loop", [LOOP, "bench:add"]),
            "plain_loop": lambda: engine.call("bench:call_loop", [LOOP]),
        },
        calls=200,
    )
    bare = results["bare"]
    funcs_call = (results["funcs_loop"] - results["plain_loop"]) / LOOP
    cold = _cold_call_us()
    return [
        Figure("bare lupa call of add(a, b) from Python", bare, "µs"),
        Figure("Engine.call('bench:add') (the function Lambda's path)", results["invoke"], "µs"),
        Figure("  ratio to the bare lupa call", results["invoke"] / bare, "x"),
        Figure(
            "warm funcs.call round trip inside Lua",
            funcs_call,
            "µs",
            "a loop of funcs.call minus the same loop of plain calls",
        ),
        Figure("  ratio to the bare lupa call", funcs_call / bare, "x"),
        Figure("cold first call (new engine: sandbox, compile, call)", cold, "µs"),
        Figure("  cold / warm Engine.call", cold / results["invoke"], "x"),
    ]


def _cold_call_us() -> float:
    import time

    registry = manifest.load_app(APP)
    best = float("inf")
    for _ in range(20):
        start = time.perf_counter()
        Engine(registry).call("bench:add", [1, 2])
        best = min(best, (time.perf_counter() - start) * 1e6)
    return best
