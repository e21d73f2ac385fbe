"""What a workflow host's two Lambdas do, without the Lambda event plumbing.

- :meth:`WorkflowHost.step` (the step Lambda, the driver's ``Wake`` task): step the run
  (retrying a lost append race; inline activities run and are checkpointed inside), carry out
  the commands the step appended (queued activities to the queue, children started, messages
  sent), report the end to a parent, and end the task: park (store its token; the task's
  timeout is the next timer), go on (SendTaskSuccess to itself), or end the execution
  (SendTaskFailure with an ending error the ASL's Catch routes). See
  :mod:`runtime.workflows.asl`.
- :meth:`WorkflowHost.run_activity` (the activity Lambda, one SQS message): run a queued
  attempt, record its outcome once per idempotency key, wake the run.

Crash-safety, step by step: the log append is conditional (a retried or concurrent step loses
and replays the winner's history); an inline attempt's outcome is appended before the code
sees it, so a step that dies before that checkpoint runs the attempt again (same idempotency
key) and one that dies after finds it in the history; commands are carried out after the
append, and the run's ``dispatched`` mark moves only after they were, so a step that died in
between is followed by one that carries them out (an activity may then be sent twice: its
outcome is recorded once, and the function gets the idempotency key to make its own effects
idempotent). The token is stored before the step looks at the inbox one last time, and every
waker posts before it reads the token, so news is never left unwoken.
"""

from __future__ import annotations

import logging
from typing import Any

from runtime import codec
from runtime.durable import attempts
from runtime.durable import events as ev
from runtime.durable.events import Event
from runtime.errors import UnitError
from runtime.processes.context import DirectContext
from runtime.workflows import asl
from runtime.workflows.client import Workflows
from runtime.workflows.driver import ActivityQueues
from runtime.workflows.log import LogConflict
from runtime.workflows.step import DEFAULT_STEP_SECONDS, StepOutput, WorkflowStepper

log = logging.getLogger(__name__)

#: Appends a step may lose in a row before it gives up (the driver's Retry steps again).
MAX_CONFLICTS = 5

#: A timer due this many seconds or more before the current task's timeout ends makes the
#: step re-arm (a new Wake with the shorter timeout) rather than park on a wait that ends late.
REARM_SLACK = 1.0

#: Where a fault can be injected into a step (the crash-safety tests kill the step there):
#: before its append, after an inline checkpoint, after its last append, after carrying out
#: its commands, after storing its token.
STEP_FAULT_POINTS = (
    "before_append",
    "after_checkpoint",
    "after_append",
    "after_dispatch",
    "after_park",
)


class StepCrash(Exception):
    """Raised at a fault point: stands for the step Lambda dying there."""


class WorkflowHost:
    """The step and activity operations of one workflow host."""

    def __init__(
        self,
        engine: Any,
        workflows: Workflows,
        activities: ActivityQueues,
        *,
        stepper: WorkflowStepper | None = None,
        fault: Any = None,
        step_seconds: float = DEFAULT_STEP_SECONDS,
    ) -> None:
        self.engine = engine
        self.workflows = workflows
        self.log = workflows.log
        self.activities = activities
        self._fault = fault or (lambda point, run_id: False)
        self.stepper = stepper or WorkflowStepper(
            engine, workflows.log, engine.clock, step_seconds=step_seconds
        )
        self.stepper.on_append = self._checkpointed
        self.step_seconds = step_seconds

    # -- the step Lambda ------------------------------------------------------------------------
    def step(self, step_input: asl.StepInput, remaining: float | None = None) -> dict[str, Any]:
        """Step the run and end this wake's task; ``remaining``: the seconds the Lambda has
        left (None: the host's step timeout). Returns a report: ``kind`` (park, rearm, step,
        done, failed, rollover) and ``due`` (the next timer, for park)."""
        step_input = asl.check_step_input(step_input)
        run_id = step_input["run_id"]
        begun = self.engine.clock.now()
        if asl.wants_park_only(step_input):
            # The step before asked for this wait's timeout: it ends when the timer is due.
            return self._park(step_input, begun + step_input["timeout"], begun)
        deadline = begun + (self.step_seconds if remaining is None else remaining)
        out = self._step_with_retries(run_id, deadline)
        try:
            mark = self._dispatch(run_id, out)
        except BaseException:
            # The kept replay vouches that this run's commands were carried out; now they
            # may not have been, so the next step reads the dispatch mark.
            self.stepper.forget(run_id)
            raise
        driver = self.workflows.driver
        token = step_input["token"]
        if out.kind == "park":
            # The dispatch mark moves with the token (one write), unless the step does not
            # park after all.
            return self._park(step_input, out.next_timer, begun, mark, out)
        if mark is not None:
            self.log.mark_dispatched(run_id, mark)
        if out.kind == "step":
            driver.wake(token, self._next_wait(run_id, out.next_timer))
            return {"kind": "step", "due": out.next_timer}
        outcome = {"result": out.result} if out.kind == "done" else {"error": out.error}
        self.workflows.report_to_parent(run_id, out.status, outcome)
        if out.kind == "done":
            driver.end(token, asl.COMPLETED_ERROR)
            return {"kind": "done"}
        driver.end(token, *asl.end_error(out.error))
        return {"kind": "failed", "error": out.error}

    def _next_wait(self, run_id: str, due: float | None, *, rearm: bool = False) -> asl.TaskState:
        until = None if due is None else due - self.engine.clock.now()
        return asl.task_state(run_id, asl.wait_seconds(until), rearm=rearm)

    def _park(
        self,
        step_input: asl.StepInput,
        due: float | None,
        begun: float,
        mark: int | None = None,
        out: StepOutput | None = None,
    ) -> dict[str, Any]:
        """Store the token (the run waits for news or its timer) and the dispatch ``mark``,
        unless the timer is due before this task's timeout ends (re-arm) or the execution is
        old (roll over)."""
        run_id, token = step_input["run_id"], step_input["token"]
        driver = self.workflows.driver
        now = self.engine.clock.now()
        rearm = due is not None and due < begun + step_input["timeout"] - REARM_SLACK
        if mark is not None and (rearm or (due is not None and due <= now)):
            self.log.mark_dispatched(run_id, mark)
        if due is not None and due <= now:
            driver.wake(token, self._next_wait(run_id, due))  # already due: step again
            return {"kind": "step", "due": due}
        if rearm:
            driver.wake(token, self._next_wait(run_id, due, rearm=True))
            return {"kind": "rearm", "due": due}
        generation = asl.generation_of(step_input["execution"])
        parks = self.log.park(
            run_id, token, asl.iso_seconds(step_input["entered"]), due, generation, mark
        )
        if parks is None:
            if self.log.generation(run_id) > generation:
                # A later execution drives the run (a rollover that died before ending this
                # one): this one ends.
                self.stepper.forget(run_id)
                driver.end(token, asl.ROLLED_OVER_ERROR)
                return {"kind": "rollover"}
            return {"kind": "park", "due": due}  # a newer wait of this execution holds it
        if self._fault("after_park", run_id):
            raise StepCrash(f"step of {run_id} killed after storing its token")
        age = now - asl.iso_seconds(step_input["started"])
        if asl.should_roll_over(parks, age):
            self.stepper.forget(run_id)
            driver.start_next(step_input, self._next_wait(run_id, due)["timeout"])
            driver.end(token, asl.ROLLED_OVER_ERROR)
            return {"kind": "rollover"}
        if out is not None:
            start, known = out.inbox_from, out.inbox_known
        else:  # a wake that only parks: what this container knows of the run
            start, known = self.stepper.inbox_news(run_id)
        if self.log.has_inbox(run_id, start, known):
            # News posted while the run stepped found no token (or the last one): wake now.
            self.workflows.notify(run_id)
        return {"kind": "park", "due": due}

    def _step_with_retries(self, run_id: str, deadline: float | None) -> StepOutput:
        for _ in range(MAX_CONFLICTS):
            if self._fault("before_append", run_id):
                raise StepCrash(f"step of {run_id} killed before its append")
            try:
                out = self.stepper.step(run_id, deadline=deadline)
            except LogConflict:
                self.stepper.stats.conflicts += 1
                continue
            if self._fault("after_append", run_id):
                self.stepper.forget(run_id)  # a dead container keeps nothing
                raise StepCrash(f"step of {run_id} killed after its append")
            return out
        raise LogConflict(f"{run_id}: lost {MAX_CONFLICTS} appends in a row")

    def _checkpointed(self, run_id: str, events: list[Event], host: str) -> None:
        """After each inline checkpoint (the stepper's ``on_append``)."""
        if self._fault("after_checkpoint", run_id):
            raise StepCrash(f"step of {run_id} killed after an inline checkpoint")

    def _dispatch(self, run_id: str, out: StepOutput) -> int | None:
        """Carry out the commands appended after the run's ``dispatched`` mark; returns where
        the mark moves to once stored (None: nothing was carried out, it stays)."""
        last_seq, host = out.last_seq, out.host
        if out.sticky:
            # This container's previous step of the run carried out everything before this
            # step's events: no mark to read, and none to move when nothing is to be done.
            if not any(_carried_out(e) for e in out.events):
                return None
            mark = last_seq - out.appended
        else:
            mark = self.log.dispatched(run_id) if out.dispatched is None else out.dispatched
        if mark >= last_seq:
            return None
        # Usually the mark is where this step's events begin, and they are in hand; after a
        # step that died before moving the mark, the ones it appended are read back (or
        # taken from the history the step loaded).
        if mark >= last_seq - out.appended:
            events = out.events
        elif out.before and out.before[0].seq <= mark + 1:
            events = out.before + out.events
        else:
            events = self.log.load(run_id, after=mark)
        todo = [e for e in events if _carried_out(e) and mark < e.seq <= last_seq]
        if not todo:
            return None  # only inline attempts and timers: nothing to carry out
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
        return last_seq

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

    # -- the activity Lambda --------------------------------------------------------------------
    def run_activity(self, message: dict[str, Any]) -> bool:
        """Run one queued attempt and record its outcome; False when an outcome under its
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
        name, cmd = message["id"], int(message["cmd"])
        who = {"run_id": message["run_id"], "attempt": int(message.get("attempt", 1))}
        context = attempts.context(message["run_id"], message["key"], who["attempt"])
        deadline = message.get("deadline")
        # The attempt's deadline counts from when it was scheduled: time spent in the queue is
        # spent, and an attempt that arrives late is not run at all.
        left = None if deadline is None else float(deadline) - self.engine.clock.now()
        if left is not None and left <= 0:
            return attempts.outcome(name, cmd, None, attempts.expired(name), left, **who)
        try:
            args = codec.from_json_value(message.get("args", []))
            value, error = self.engine.call(name, args, context=context, timeout=left), None
        except UnitError as exc:
            value, error = None, exc
        return attempts.outcome(name, cmd, value, error, left, **who)


def _carried_out(event: Event) -> bool:
    """A command the step carries out after its append (not an inline attempt: it ran)."""
    return event.type in ev.DISPATCHED and not event.fields.get("inline")
