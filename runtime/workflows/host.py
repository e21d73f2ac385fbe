"""What a workflow host's three Lambdas do, without the Lambda event plumbing.

- :meth:`WorkflowHost.step` (the step Lambda, the driver's ``Step`` state): roll over an old
  execution, step the run (retrying a lost append race), carry out the commands the step
  appended (activities to the queue, children started), report the end to a parent, and reply
  with what the driver does next (:func:`runtime.workflows.asl.step_output`).
- :meth:`WorkflowHost.wake` (the wake Lambda, the driver's ``Park`` state): store the task
  token, then wake at once if news is already waiting.
- :meth:`WorkflowHost.run_activity` (the activity Lambda, one SQS message): run the function,
  record its outcome once per idempotency key, wake the run.

Crash-safety, step by step: the log append is conditional (a retried or concurrent step loses
and replays the winner's history); commands are carried out after the append, and the run's
``dispatched`` mark moves only after they were, so a step that died in between is followed by
one that carries them out (an activity may then be sent twice: its outcome is recorded once,
and the function gets the idempotency key to make its own effects idempotent).
"""

from __future__ import annotations

import logging
from typing import Any

from runtime import codec
from runtime.errors import INTERNAL, TIMEOUT, UnitError
from runtime.processes.context import DirectContext
from runtime.workflows import asl
from runtime.workflows import events as ev
from runtime.workflows.client import Workflows
from runtime.workflows.driver import ActivityQueues
from runtime.workflows.events import Event
from runtime.workflows.log import LogConflict
from runtime.workflows.step import StepOutput, WorkflowStepper

log = logging.getLogger(__name__)

#: Appends a step may lose in a row before it gives up (the driver's Retry steps again).
MAX_CONFLICTS = 5

#: Where a fault can be injected into a step (the crash-safety tests kill the step there).
STEP_FAULT_POINTS = ("before_append", "after_append", "after_dispatch")


class StepCrash(Exception):
    """Raised at a fault point: stands for the step Lambda dying there."""


class WorkflowHost:
    """The step, wake and activity operations of one workflow host."""

    def __init__(
        self,
        engine: Any,
        workflows: Workflows,
        activities: ActivityQueues,
        *,
        stepper: WorkflowStepper | None = None,
        fault: Any = None,
    ) -> None:
        self.engine = engine
        self.workflows = workflows
        self.log = workflows.log
        self.activities = activities
        self.stepper = stepper or WorkflowStepper(engine, workflows.log, engine.clock)
        self._fault = fault or (lambda point, run_id: False)

    # -- the step Lambda ------------------------------------------------------------------------
    def step(self, step_input: asl.StepInput) -> asl.StepOutput:
        run_id = step_input["run_id"]
        now = self.engine.clock.now()
        if asl.should_roll_over(step_input["steps"], asl.execution_age(step_input["started"], now)):
            self.stepper.forget(run_id)
            arn = self.workflows.driver.start_next(step_input)
            return asl.step_output(step_input, "rollover", next_execution=arn)
        # The run's first step ever: its first execution's first invocation.
        first = step_input["steps"] == 1 and asl.is_first_execution(step_input["execution"])
        out = self._step_with_retries(run_id, first)
        try:
            self._dispatch(run_id, out)
        except BaseException:
            # The kept replay vouches that this run's commands were carried out; now they
            # may not have been, so the next step reads the dispatch mark.
            self.stepper.forget(run_id)
            raise
        if out.kind == "step":
            return asl.step_output(step_input, "step")
        if out.kind == "park":
            return asl.step_output(step_input, "park", timeout=asl.park_timeout(out.timeout))
        outcome = {"result": out.result} if out.kind == "done" else {"error": out.error}
        self.workflows.report_to_parent(run_id, out.status, outcome)
        if out.kind == "done":
            return asl.step_output(step_input, "done")
        error = out.error or {}
        return asl.step_output(
            step_input,
            "failed",
            error=f"Workflow.{error.get('kind', INTERNAL)}",
            cause=str(error.get("message", "")),
        )

    def _step_with_retries(self, run_id: str, first: bool = False) -> StepOutput:
        for _ in range(MAX_CONFLICTS):
            if self._fault("before_append", run_id):
                raise StepCrash(f"step of {run_id} killed before its append")
            try:
                out = self.stepper.step(run_id, first=first)
            except LogConflict:
                self.stepper.stats.conflicts += 1
                continue
            if self._fault("after_append", run_id):
                self.stepper.forget(run_id)  # a dead container keeps nothing
                raise StepCrash(f"step of {run_id} killed after its append")
            return out
        raise LogConflict(f"{run_id}: lost {MAX_CONFLICTS} appends in a row")

    def _dispatch(self, run_id: str, out: StepOutput) -> None:
        """Carry out the commands appended after the run's ``dispatched`` mark."""
        last_seq, host = out.last_seq, out.host
        if out.sticky:
            # This container's previous step of the run carried out everything before this
            # step's events: no mark to read, and none to move when nothing is to be done.
            if not any(e.type in ev.DISPATCHED for e in out.events):
                return
            mark = last_seq - out.appended
        else:
            mark = self.log.dispatched(run_id)
        if mark >= last_seq:
            return
        # Usually the mark is where this step's events begin, and they are in hand; after a
        # step that died before moving the mark, the ones it appended are read back.
        if mark >= last_seq - out.appended:
            events = out.events
        else:
            events = self.log.load(run_id, after=mark)
        todo = [e for e in events if e.type in ev.DISPATCHED and mark < e.seq <= last_seq]
        activities = [e for e in todo if e.type == ev.ACTIVITY_SCHEDULED]
        if activities:
            self.activities.dispatch(host, run_id, activities)
        for event in todo:
            if event.type == ev.CHILD_STARTED:
                self._start_child(run_id, event)
            elif event.type == ev.MESSAGE_SENT:
                self._send(run_id, host, event)
        if self._fault("after_dispatch", run_id):
            raise StepCrash(f"step of {run_id} killed after sending its commands")
        self.log.mark_dispatched(run_id, last_seq)

    def _start_child(self, run_id: str, event: Event) -> None:
        fields = event.fields
        try:
            self.workflows.start(
                fields["id"],
                codec.from_json_value(fields.get("input")),
                host=fields.get("host") or None,
                parent=run_id,
                parent_cmd=event.cmd,
                parent_seq=event.seq,
                run_id=fields["run_id"],
            )
        except UnitError as exc:
            # The child cannot start (unknown id or host): the parent hears it as the
            # child's failure, once.
            error = exc.to_dict()
            key = f"child:{fields['run_id']}"
            self.log.post_once(
                run_id,
                key,
                ev.CHILD_FAILED,
                {
                    "cmd": event.cmd,
                    "command_seq": event.seq,
                    "child": fields["run_id"],
                    "error": error,
                },
                self.engine.clock.now(),
            )

    def _send(self, run_id: str, host: str, event: Event) -> None:
        fields = event.fields
        to, topic = str(fields["to"]), str(fields["topic"])
        payload = codec.from_json_value(fields.get("payload"))
        sender = f"{host}/{run_id}"
        if self.workflows.owns(to):
            try:
                self.workflows.signal(to, topic, payload, sender=sender)
            except UnitError as exc:  # an ended or unknown run: like a message to a dead pid
                log.warning("workflow %s: message to %s dropped: %s", run_id, to, exc.message)
            return
        system = self.engine.processes
        if system is None:
            log.warning("workflow %s: message to %s dropped: no process hosts", run_id, to)
            return
        # The id is the command's: a re-dispatch after a crash is dropped by SQS deduplication.
        context = DirectContext(system, self.workflows)
        context.pid = sender
        context.new_id = lambda: f"{run_id}:{event.seq}"  # type: ignore[method-assign]
        try:
            context.send(to, topic, payload)
        except UnitError as exc:
            log.warning("workflow %s: message to %s dropped: %s", run_id, to, exc.message)

    # -- the wake Lambda ------------------------------------------------------------------------
    def wake(self, wake_input: asl.WakeInput) -> dict[str, Any]:
        """Store the token, then wake at once if the inbox already has news (posted while the
        run was between its step and this wait: the poster found no token to wake)."""
        run_id = wake_input["run_id"]
        self.log.set_token(run_id, wake_input["token"])
        if self.log.has_inbox(run_id):
            self.workflows.notify(run_id)
            return {"woken": True}
        return {"woken": False}

    # -- the activity Lambda --------------------------------------------------------------------
    def run_activity(self, message: dict[str, Any]) -> bool:
        """Run one activity attempt and record its outcome; False when an outcome under its
        idempotency key was recorded before (a redelivery: the function is not run again)."""
        run_id, key = message["run_id"], message["key"]
        fresh = not self.log.posted(run_id, key)
        if fresh:
            event_type, fields = self._outcome(message)
            # The command's event: an outcome for an earlier generation of the run's history
            # (before a continue-as-new) is told apart by it and dropped.
            fields["command_seq"] = int(message["seq"])
            now = self.engine.clock.now()
            fresh = self.log.post_once(run_id, key, event_type, fields, now)
        # Also on a redelivery: the attempt that posted may have died before waking the run,
        # which would then sleep until its next timer (or for good, with none).
        self.workflows.notify(run_id)
        return fresh

    def _outcome(self, message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Run the attempt: ``ActivityCompleted`` with its value, or ``ActivityFailed``."""
        run_id, name, cmd = message["run_id"], message["id"], int(message["cmd"])
        context = {
            "idempotency_key": message["key"],
            "run_id": run_id,
            "attempt": message.get("attempt", 1),
        }
        deadline = message.get("deadline")
        # The attempt's deadline counts from when it was scheduled: time spent in the queue is
        # spent, and an attempt that arrives late is not run at all.
        left = None if deadline is None else float(deadline) - self.engine.clock.now()
        try:
            if left is not None and left <= 0:
                raise UnitError(TIMEOUT, f"activity {name} expired in the queue")
            args = codec.from_json_value(message.get("args", []))
            value = codec.to_json_value(self.engine.call(name, args, context=context, timeout=left))
        except UnitError as exc:
            error = exc.to_dict()
            if exc.kind == TIMEOUT and left is not None and left > 0:
                error["message"] = f"activity {name} did not answer within {left:g}s"
            return ev.ACTIVITY_FAILED, {"cmd": cmd, "error": error}
        try:
            ev.check_size(f"the result of activity {name}", value)
        except UnitError as exc:
            # The same call would return the same value: no retry can help.
            return ev.ACTIVITY_FAILED, {"cmd": cmd, "error": {**exc.to_dict(), "final": True}}
        return ev.ACTIVITY_COMPLETED, {"cmd": cmd, "value": value}
