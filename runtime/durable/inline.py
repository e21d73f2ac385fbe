"""Activities run inline, in the step, the way a durable-functions step runs in its invocation.

The step hands :class:`InlineRunner` the ``ActivityScheduled`` events its replay left open
(just issued, or recorded by a step that died before their outcome); the runner runs them
concurrently on the step's own engine (never inside replayed code: the workflow's coroutine is
suspended meanwhile), and returns their outcome events for the step to append (the checkpoint)
before the code goes on.

Which calls run inline is decided once, when the command is first recorded
(:func:`inline_limit`): not a ``remote`` function, not ``activity.local = false``, and an
attempt that fits in a step Lambda's time. The mark is in the event, so a replay and a step
after a crash agree on it.
"""

from __future__ import annotations

from typing import Any

from runtime import codec
from runtime.durable import attempts
from runtime.durable.events import Event
from runtime.engine import LocalCall

#: Seconds of a step's time kept back from inline attempts: the checkpoint, the park and the
#: Lambda's own shutdown need them.
STEP_MARGIN = 5.0


def inline_limit(engine: Any, scheduled: Event, step_seconds: float) -> float | None:
    """The seconds an inline attempt of ``scheduled`` may take, or None when it must be queued:
    it was queued by its options or its function's (``queued`` in the event), its function is
    remote, or its longest run does not fit in a step of ``step_seconds``."""
    if scheduled.fields.get("queued"):
        return None
    if engine.is_remote(engine.function_entry(scheduled.fields["id"])):
        return None
    longest = _longest(engine, scheduled)
    return longest if longest <= step_seconds - STEP_MARGIN else None


def _longest(engine: Any, scheduled: Event) -> float:
    """The seconds an attempt may run: its timeout, else its function's."""
    limit = scheduled.fields.get("timeout")
    if limit is not None:
        return float(limit)
    entry = engine.function_entry(scheduled.fields["id"])
    return float(entry.timeout or entry.deploy.timeout)


class InlineRunner:
    """Runs a step's inline attempts on the step's engine."""

    def __init__(self, engine: Any, *, log_failures: bool = True) -> None:
        self.engine = engine
        #: Whether a failed attempt logs its WARNING line (a workflow's activity, retried by
        #: its policy; not a loop-style process's call, whose error is its code's to handle).
        self.log_failures = log_failures
        #: Attempts this runner ran (the bench and the harness count them).
        self.attempts = 0

    def fits(self, scheduled: Event, deadline: float | None) -> bool:
        """Whether the attempt's longest run ends before the step's ``deadline``."""
        if deadline is None:
            return True
        left = deadline - STEP_MARGIN - self.engine.clock.now()
        return _longest(self.engine, scheduled) <= left

    def run(self, run_id: str, scheduled: list[Event], deadline: float | None) -> list[Event]:
        """Run the attempts concurrently; their outcome events, in command order, timed when
        the last one ended. An attempt past its own deadline, or the step's, fails TIMEOUT."""
        clock = self.engine.clock
        now = clock.now()
        step_left = None if deadline is None else deadline - STEP_MARGIN - now
        calls: list[LocalCall] = []
        limits: list[float | None] = []
        for event in scheduled:
            fields = event.fields
            limit = (
                None
                if fields.get("timeout") is None
                else event.time + float(fields["timeout"]) - now
            )
            if step_left is not None:
                limit = step_left if limit is None else min(limit, step_left)
            key = attempts.key(run_id, event.seq)
            calls.append(
                LocalCall(
                    fields["id"],
                    codec.from_json_value(fields.get("args", [])),
                    attempts.context(run_id, key, int(fields.get("attempt", 1))),
                    None if limit is None else max(0.0, limit),
                )
            )
            limits.append(limit)
        results = self.engine.call_all(
            [c for c, lim in zip(calls, limits, strict=True) if lim is None or lim > 0]
        )
        self.attempts += len(scheduled)
        done = clock.now()
        out: list[Event] = []
        ran = iter(results)
        for event, limit in zip(scheduled, limits, strict=True):
            name = event.fields["id"]
            if limit is not None and limit <= 0:
                value, error = None, attempts.expired(name)
            else:
                value, error = next(ran)
            event_type, fields = attempts.outcome(
                name,
                event.cmd,
                value,
                error,
                limit,
                run_id=run_id,
                attempt=int(event.fields.get("attempt", 1)),
                logged=self.log_failures,
            )
            out.append(Event(event_type, done, fields))
        return out
