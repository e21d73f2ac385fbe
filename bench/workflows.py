"""Workflows: what a step costs as the history grows (sticky cache vs full replay), and what one
activity costs, inline and queued (``bench/activities.py``: AWS calls by operation, capacity
units, SQS requests, Lambda invocations and CPU, state transitions, dollars per million).

python -m bench.workflows
"""

from __future__ import annotations

import time
from pathlib import Path

from bench import activities
from bench.timing import Figure, print_figures
from runtime import manifest
from runtime.clock import ManualClock
from runtime.engine import Engine
from runtime.workflows import events as ev
from runtime.workflows.replay import Replay

FLOWS = Path(__file__).resolve().parent.parent / "tests" / "apps" / "flows"
#: History lengths compared (each activity adds 2 events).
SHORT, LONG = 10, 1000
#: Steps averaged at each length.
STEPS = 20


def _outcomes(engine: Engine, scheduled: list[ev.Event], now: float) -> list[ev.Event]:
    return [
        ev.Event(ev.ACTIVITY_COMPLETED, now, {"cmd": a.cmd, "value": 2 * a.fields["args"][0]})
        for a in scheduled
    ]


def _step_times(engine: Engine, around: int) -> tuple[float, float]:
    """Mean seconds per step near history length ``around``: resuming a kept replay, and
    replaying the whole history from a cold start."""
    now = engine.clock.now()
    history = [ev.Event(ev.WORKFLOW_STARTED, now, {"input": {"n": 100_000}}, seq=1)]
    replay = Replay(engine, "app:loop", "bench", history)
    pending: list[ev.Event] = []
    sticky, full = 0.0, 0.0
    while len(replay.history) < around + 2 * STEPS:
        measuring = len(replay.history) >= around
        if measuring:
            cold = Replay(engine, "app:loop", "bench", replay.history + pending)
            start = time.perf_counter()
            cold.run(now)
            full += time.perf_counter() - start
        start = time.perf_counter()
        result = replay.resume(pending, now)
        if measuring:
            sticky += time.perf_counter() - start
        pending = _outcomes(engine, result.new_activities, now)
    replay.close()
    return sticky / STEPS, full / STEPS


def run() -> list[Figure]:
    engine = Engine(manifest.load_app(FLOWS), clock=ManualClock())
    try:
        short_sticky, short_full = _step_times(engine, SHORT)
        long_sticky, long_full = _step_times(engine, LONG)
    finally:
        engine.close()
    return [
        Figure("workflow step at 10 events, sticky cache", short_sticky * 1e6, "µs"),
        Figure("workflow step at 1,000 events, sticky cache", long_sticky * 1e6, "µs"),
        Figure(
            "sticky step, 1,000 vs 10 events",
            long_sticky / short_sticky,
            "x",
            "goal at most 1.5",
        ),
        Figure("workflow step at 10 events, full replay", short_full * 1e6, "µs"),
        Figure("workflow step at 1,000 events, full replay", long_full * 1e6, "µs"),
        Figure("full replay step, 1,000 vs 10 events", long_full / short_full, "x"),
        *activities.run(),
    ]


if __name__ == "__main__":
    print_figures(run())
