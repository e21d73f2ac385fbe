"""A step of a run against the log: take the inbox, replay, append, report what to wait for.

This is what the step Lambda does per invocation (the handler will be a few lines over it):
load the history, turn waiting inbox items into outcome events, replay, and append those plus
the step's new events in one conditional write. A lost race (:class:`LogConflict`) changes
nothing: the caller steps again from the history the winner wrote.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from runtime import codec, manifest
from runtime.clock import Clock
from runtime.errors import INVALID, NOT_FOUND, CodecError, UnitError
from runtime.workflows import events as ev
from runtime.workflows.events import Event
from runtime.workflows.log import EventLog
from runtime.workflows.replay import Replay


@dataclass
class StepOutput:
    """What the driver needs: ``park`` (with the seconds to the next timer, or None), ``done``
    or ``failed``; and the activities this step scheduled, to dispatch."""

    kind: str
    timeout: float | None = None
    activities: list[Event] = field(default_factory=list)
    appended: int = 0


class WorkflowStepper:
    """Starts runs and steps them."""

    def __init__(self, engine: Any, log: EventLog, clock: Clock) -> None:
        self.engine = engine
        self.log = log
        self.clock = clock

    def start(self, workflow_id: str, input_: Any, run_id: str | None = None) -> str:
        """Create a run (its first event); the first step is the caller's to schedule."""
        entry = self.engine.registry.find(workflow_id)
        if entry is None:
            raise UnitError(NOT_FOUND, f"no workflow '{workflow_id}'")
        if not isinstance(entry, manifest.WorkflowEntry):
            raise UnitError(INVALID, f"{workflow_id} is a {entry.kind}, not a workflow.lua")
        try:
            wire = codec.to_json_value(input_)
        except CodecError as exc:
            raise UnitError(INVALID, f"workflow input: {exc.message}") from None
        run_id = run_id or str(uuid.uuid4())
        started = Event(ev.WORKFLOW_STARTED, self.clock.now(), {"input": wire})
        self.log.create_run(run_id, workflow_id, started)
        return run_id

    def step(self, run_id: str) -> StepOutput:
        """One step; raises :class:`~runtime.workflows.log.LogConflict` on a lost race."""
        info = self.log.describe(run_id)
        history = self.log.load(run_id)
        if history and history[-1].type in ev.ENDINGS:
            return StepOutput("done" if history[-1].type == ev.WORKFLOW_COMPLETED else "failed")
        now = max(self.clock.now(), history[-1].time)
        pending, consumed = self._take_inbox(run_id, history, now)
        replay = Replay(self.engine, info["workflow"], run_id, history + pending)
        result = replay.run(now)
        new = pending + result.new_events
        for i, event in enumerate(new, start=len(history) + 1):
            event.seq = i
        self.log.append(run_id, new)
        self.log.discard(run_id, consumed)
        if result.status == "running":
            timeout = None if result.next_timer is None else max(0.0, result.next_timer - now)
            return StepOutput("park", timeout, result.new_activities, len(new))
        outcome = (
            {"result": result.result} if result.status == "completed" else {"error": result.error}
        )
        self.log.close_run(run_id, result.status, now, outcome)
        kind = "done" if result.status == "completed" else "failed"
        return StepOutput(kind, None, result.new_activities, len(new))

    def signal(self, run_id: str, topic: str, payload: Any, sender: str | None = None) -> None:
        """Leave a message for the run (it becomes a ``SignalReceived`` at its next step)."""
        info = self.log.describe(run_id)
        if info["status"] != "running":
            raise UnitError(INVALID, f"run {run_id} has ended ({info['status']}): no signals")
        try:
            fields = {"topic": topic, "payload": codec.to_json_value(payload), "from": sender}
        except CodecError as exc:
            raise UnitError(INVALID, f"signal payload: {exc.message}") from None
        self.log.post(run_id, ev.SIGNAL_RECEIVED, fields, self.clock.now())

    def _take_inbox(
        self, run_id: str, history: list[Event], now: float
    ) -> tuple[list[Event], list[str]]:
        """Outcome events for the inbox items not yet in the history; a second outcome for the
        same command (a redelivered activity) is consumed and dropped: the first one counts."""
        in_history = {e.fields.get("inbox") for e in history if "inbox" in e.fields}
        settled = {e.cmd for e in history if e.type in ev.OUTCOMES}
        pending: list[Event] = []
        consumed: list[str] = []
        for item_id, event_type, fields in self.log.inbox(run_id):
            consumed.append(item_id)
            cmd = int(fields["cmd"]) if "cmd" in fields else None
            if item_id in in_history or (cmd is not None and cmd in settled):
                continue
            if cmd is not None:
                settled.add(cmd)
            pending.append(Event(event_type, now, {**fields, "inbox": item_id}))
        return pending, consumed
