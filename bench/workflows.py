"""Workflows: what a step costs as the history grows (sticky cache vs full replay), and what one
activity costs, inline and queued (``bench/activities.py``: AWS calls by operation, capacity
units, SQS requests, Lambda invocations and CPU, state transitions, dollars per million).

python -m bench.workflows
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from bench import activities
from bench.timing import Figure, print_figures
from runtime import manifest
from runtime.clock import ManualClock
from runtime.durable import events as ev
from runtime.durable.replay import Replay
from runtime.engine import Engine

FLOWS = Path(__file__).resolve().parent.parent / "tests" / "apps" / "flows"
#: History lengths compared (each activity adds 2 events).
SHORT, LONG = 10, 1000
#: Steps measured at each length per round, and rounds (the lengths alternate between rounds,
#: so a busy patch of the machine hits both); the figures are medians.
STEPS = 20
ROUNDS = 5


def _outcomes(engine: Engine, scheduled: list[ev.Event], now: float) -> list[ev.Event]:
    return [
        ev.Event(ev.ACTIVITY_COMPLETED, now, {"cmd": a.cmd, "value": 2 * a.fields["args"][0]})
        for a in scheduled
    ]


def _step_times(engine: Engine, around: int) -> tuple[list[float], list[float]]:
    """Seconds of each of STEPS steps from history length ``around`` on: resuming a kept replay
    (the sticky cache), and replaying the same history from a cold start.

    Two passes, not interleaved: a full replay of 1,000 events between two sticky steps (27 ms
    of fresh Lua and Python objects) evicts the kept replay from the CPU caches, which made the
    sticky step at 1,000 events look 1.4-1.9x slower than at 10 when measured interleaved; a
    warm container stepping a run it keeps does no such replay in between."""
    now = engine.clock.now()
    history = [ev.Event(ev.WORKFLOW_STARTED, now, {"input": {"n": 100_000}}, seq=1)]
    replay = Replay(engine, "app:loop", "bench", history)
    pending: list[ev.Event] = []
    sticky: list[float] = []
    measured: list[list[ev.Event]] = []  # the history each sticky step resumed, for the cold ones
    while len(replay.history) < around + 2 * STEPS:
        measuring = len(replay.history) >= around
        if measuring:
            measured.append(replay.history + pending)
        start = time.perf_counter()
        result = replay.resume(pending, now)
        if measuring:
            sticky.append(time.perf_counter() - start)
        pending = _outcomes(engine, result.new_activities, now)
    replay.close()
    full: list[float] = []
    for events in measured:
        cold = Replay(engine, "app:loop", "bench", events)
        start = time.perf_counter()
        cold.run(now)
        full.append(time.perf_counter() - start)
        cold.close()
    return sticky, full


def _medians(engine: Engine) -> dict[tuple[int, str], float]:
    """Median seconds per step by (length, "sticky" or "full"): the median over ROUNDS of each
    round's median."""
    rounds: dict[tuple[int, str], list[float]] = {}
    for _ in range(ROUNDS):
        for around in (SHORT, LONG):
            sticky, full = _step_times(engine, around)
            rounds.setdefault((around, "sticky"), []).append(statistics.median(sticky))
            rounds.setdefault((around, "full"), []).append(statistics.median(full))
    return {key: statistics.median(values) for key, values in rounds.items()}


def run() -> list[Figure]:
    engine = Engine(manifest.load_app(FLOWS), clock=ManualClock())
    try:
        _step_times(engine, SHORT)  # warm: compile, first-call imports
        medians = _medians(engine)
    finally:
        engine.close()
    short_sticky, short_full = medians[SHORT, "sticky"], medians[SHORT, "full"]
    long_sticky, long_full = medians[LONG, "sticky"], medians[LONG, "full"]
    how = f"median of {ROUNDS} rounds x {STEPS} steps, lengths alternating"
    return [
        Figure("workflow step at 10 events, sticky cache", short_sticky * 1e6, "µs", how),
        Figure("workflow step at 1,000 events, sticky cache", long_sticky * 1e6, "µs", how),
        Figure(
            "sticky step, 1,000 vs 10 events",
            long_sticky / short_sticky,
            "x",
            "goal at most 1.5; the replay engine alone (no AWS call)",
        ),
        Figure("workflow step at 10 events, full replay", short_full * 1e6, "µs", how),
        Figure("workflow step at 1,000 events, full replay", long_full * 1e6, "µs", how),
        Figure("full replay step, 1,000 vs 10 events", long_full / short_full, "x"),
        *activities.run(),
    ]


if __name__ == "__main__":
    print_figures(run())
