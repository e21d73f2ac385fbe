"""A step of a run against the log: take the inbox, replay, append, report what to wait for.

This is what the step Lambda does per invocation: load the history, turn waiting inbox items
into outcome events, replay, and append those plus the step's new events in one conditional
write. A lost race (:class:`LogConflict`) changes nothing: the caller steps again from the
history the winner wrote.

The sticky cache: after a step whose append landed, the replay (its suspended coroutine) is
kept, keyed by run. The next step of that run on this warm container reads only the history's
tail; when the tail is empty (nobody else appended) it resumes the kept coroutine with just the
inbox, instead of replaying from event 1. Anything unexpected (a tail, a failed append, an
error) drops the kept replay and the step replays in full, so the cache can make a step
cheaper but never different.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime import codec, manifest
from runtime.aws.dynamodb import expires_at
from runtime.clock import Clock
from runtime.durable import events as ev
from runtime.durable.events import Event
from runtime.durable.inline import InlineRunner, inline_limit
from runtime.durable.replay import Replay
from runtime.durable.sticky import StickyCache
from runtime.errors import INVALID, NOT_FOUND, CodecError, UnitError
from runtime.workflows.log import EventLog, spent_floor

#: Generations one step may start and step in a row (continue-as-new) before it hands over.
MAX_GENERATIONS_PER_STEP = 10

#: A step Lambda's timeout when none is given (the workflow host's default step_timeout).
DEFAULT_STEP_SECONDS = 60.0

#: ``on_append(run_id, events, host)``.
OnAppend = Callable[[str, list[Event], str], None]


def _queued_activity(event: Event) -> bool:
    """An ``ActivityScheduled`` the activity queue runs (not an inline attempt)."""
    return event.type == ev.ACTIVITY_SCHEDULED and not event.fields.get("inline")


#: Runs kept in memory per step container; the least recently stepped is dropped first.
STICKY_RUNS = 256
#: Times a step that ended its run is done again because news came meanwhile, before it ends
#: the run anyway (a sender that never stops would otherwise keep it from ever ending).
MAX_REDOS = 3


def started_event(registry: manifest.Registry, workflow_id: str, input_: Any, now: float) -> Event:
    """The first event of a new run of ``workflow_id``, once the id and the input check out.

    Raises:
        UnitError: NOT_FOUND for an unknown id, INVALID for another kind of entry or an input
            the codec refuses.
    """
    entry = registry.find(workflow_id)
    if entry is None:
        raise UnitError(NOT_FOUND, f"no workflow '{workflow_id}'")
    if not isinstance(entry, manifest.WorkflowEntry):
        raise UnitError(INVALID, f"{workflow_id} is a {entry.kind}, not a workflow.lua")
    try:
        wire = codec.to_json_value(input_)
    except CodecError as exc:
        raise UnitError(INVALID, f"workflow input: {exc.message}") from None
    ev.check_size("the workflow input", wire)
    return Event(ev.WORKFLOW_STARTED, now, {"input": wire})


def post_signal(
    log: EventLog, run_id: str, topic: str, payload: Any, sender: str | None, now: float
) -> None:
    """Leave a message in the run's inbox (a ``SignalReceived`` at its next step)."""
    try:
        fields = {"topic": topic, "payload": codec.to_json_value(payload), "from": sender}
    except CodecError as exc:
        raise UnitError(INVALID, f"signal payload: {exc.message}") from None
    ev.check_size("the signal payload", fields["payload"])
    log.post(run_id, ev.SIGNAL_RECEIVED, fields, now)


@dataclass
class StepOutput:
    """What the driver needs: ``park`` (with the seconds to the next timer, or None), ``done``
    or ``failed``; the events this step appended (the commands among them to carry out), and
    the run's end once it has one."""

    kind: str
    timeout: float | None = None
    activities: list[Event] = field(default_factory=list)
    #: Every event this step appended, in order.
    events: list[Event] = field(default_factory=list)
    #: The sequence number of the history's last event after this step.
    last_seq: int = 0
    host: str = ""
    #: running, or the ending's status (completed, failed, terminated) with result or error.
    status: str = "running"
    result: Any = None
    error: dict[str, Any] | None = None
    #: Resumed from a replay this container kept: its previous step of the run was this
    #: container's, and that step's commands were carried out (a failure would have dropped it).
    sticky: bool = False
    #: "park" and "step": when the run's next durable timer is due (None: it waits for news).
    next_timer: float | None = None
    #: A step that loaded the history: the events before its own, and the run's dispatch
    #: mark as the index had it (None: not read).
    before: list[Event] = field(default_factory=list)
    dispatched: int | None = None
    #: "park": where the inbox is read from after this step, and the ids there it read (news
    #: is anything else from there on).
    inbox_from: str | None = None
    inbox_known: frozenset[str] = frozenset()

    @property
    def appended(self) -> int:
        return len(self.events)


@dataclass
class StepStats:
    """Counters of a stepper (the step handler turns them into metrics)."""

    steps: int = 0
    sticky_hits: int = 0
    sticky_misses: int = 0
    conflicts: int = 0


@dataclass
class _Seen:
    """What the history already holds, for telling new inbox items from ones already in it:
    the inbox ids it took in, and the commands it has outcomes for. Kept with a kept replay and
    updated per step, so a step does not rescan the history."""

    inbox_ids: set[str] = field(default_factory=set)
    settled: set[int] = field(default_factory=set)
    #: The queued activities without an outcome yet: command -> its event's number.
    open: dict[int, int] = field(default_factory=dict)
    #: The number the next event will have.
    next_seq: int = 1
    #: After the last step: where its next one reads the inbox from, and the ids the last one
    #: read there. One value, set at once: a wake that only parks reads it from another thread
    #: (the harness's) while a step of the run may be updating the rest.
    watch: tuple[str | None, frozenset[str]] = (None, frozenset())

    def add(self, events: list[Event]) -> None:
        for event in events:
            if "inbox" in event.fields:
                self.inbox_ids.add(event.fields["inbox"])
            self.inbox_ids.update(event.fields.get("inbox_taken", ()))
            if event.type in ev.OUTCOMES:
                self.settled.add(event.cmd)
                self.open.pop(event.cmd, None)
            elif _queued_activity(event) and event.cmd not in self.settled:
                self.open[event.cmd] = event.seq
            self.next_seq = max(self.next_seq, event.seq + 1)

    def floor(self) -> str:
        """Where the inbox is read from: the outcome of the oldest open queued activity (the
        ones before it stay in the inbox once taken, see :func:`spent_floor`)."""
        return spent_floor(min(self.open.values(), default=self.next_seq))


@dataclass
class _Kept:
    replay: Replay
    workflow: str
    host: str
    seen: _Seen

    def close(self) -> None:
        self.replay.close()

    @property
    def last_seq(self) -> int:
        return self.replay.base + len(self.replay.history)


class WorkflowStepper:
    """Starts runs and steps them."""

    def __init__(
        self,
        engine: Any,
        log: EventLog,
        clock: Clock,
        *,
        sticky_runs: int = STICKY_RUNS,
        step_seconds: float = DEFAULT_STEP_SECONDS,
        inline: bool = True,
        on_append: OnAppend | None = None,
    ) -> None:
        self.engine = engine
        self.log = log
        self.clock = clock
        #: A step Lambda's timeout: an attempt that could not end within one runs queued.
        self.step_seconds = step_seconds
        #: False queues every activity (as before inline attempts existed).
        self.inline_enabled = inline
        self.inline = InlineRunner(engine)
        #: Called after each checkpoint of inline attempts, with the events it appended.
        self.on_append = on_append
        self.stats = StepStats()
        self._kept: StickyCache[_Kept] = StickyCache(sticky_runs)
        self._continuing = 0

    def start(
        self,
        workflow_id: str,
        input_: Any,
        run_id: str | None = None,
        *,
        host: str = "",
        parent: str | None = None,
    ) -> str:
        """Create a run (its first event); the first step is the caller's to schedule."""
        started = started_event(self.engine.registry, workflow_id, input_, self.clock.now())
        run_id = run_id or str(uuid.uuid4())
        self.log.create_run(run_id, workflow_id, started, host=host, parent=parent)
        return run_id

    def step(
        self,
        run_id: str,
        *,
        first: bool | None = None,
        deadline: float | None = None,
        _redo: int = 0,
    ) -> StepOutput:
        """One step; raises :class:`~runtime.workflows.log.LogConflict` on a lost race.

        ``first``: no step of this run has run its code before, so what the inbox holds is
        delivered before the code first runs; None reads it from the run's index (a history
        of one event, and the run never parked). ``deadline`` (this stepper's clock): when the
        step Lambda's time is up; inline attempts that would not end before it are left for
        the next step (the output's kind is then "step": go on at once)."""
        self.stats.steps += 1
        kept = self._kept.take(run_id)
        if kept is not None and self.log.load(run_id, after=kept.last_seq):
            kept.replay.close()  # someone else appended (a terminate, a concurrent step)
            kept = None
        if kept is not None:
            self.stats.sticky_hits += 1
            history = kept.replay.history
            workflow, host, seen = kept.workflow, kept.host, kept.seen
            first = False
            before: list[Event] = []
            mark: int | None = None
        else:
            self.stats.sticky_misses += 1
            info = self.log.describe(run_id)
            workflow, host = info["workflow"], info["host"]
            history = self.log.load(run_id, after=info["base"])  # this generation's events
            seen = _Seen()
            seen.add(history)
            if first is None:
                first = len(history) == 1 and not info.get("ran")
            before, mark = list(history), info.get("dispatched")
        last = history[-1]
        if last.type in ev.ENDINGS:
            if kept is not None:
                kept.replay.close()
            out = self._ended(last, host)
            if kept is None and info["status"] == "running":
                # The step that ended it died before marking the index: mark it now.
                outcome = {"result": out.result} if out.kind == "done" else {"error": out.error}
                expires = expires_at(self.engine.registry, host, last.time)
                self.log.close_run(run_id, out.status, last.time, outcome, expires=expires)
            return out
        now = max(self.clock.now(), last.time)
        first_seq = max(1, history[0].seq)
        floor = seen.floor()
        pending, consumed = self._take_inbox(run_id, seen, now, first_seq)
        read = list(consumed)  # `consumed` empties once discarded; activities' outcomes stay
        if pending and first and kept is None and len(history) == 1:
            pending[0].fields[ev.AT_START] = True  # the code has not run yet: it sees these
        replay = kept.replay if kept else Replay(self.engine, workflow, run_id, history, host)
        # Taken before the resume: a kept replay's history is this same list.
        next_seq = first_seq + len(history)
        appended: list[Event] = []
        go_on = False
        try:
            result = replay.resume(pending, now)
            used = pending[: len(pending) - result.unused]
            new = used + result.new_events
            # Inline attempts: run, checkpoint (their outcomes appended with what came
            # before them), and let the code go on with the outcomes, until it waits for
            # something else.
            while result.status == "running" and self.inline_enabled:
                todo, go_on = self._inline_todo(replay, result.new_events, deadline)
                if not todo:
                    break
                # Numbered first: an attempt's idempotency key is its event's number.
                for i, event in enumerate(new, start=next_seq):
                    event.seq = i
                outcomes = self.inline.run(run_id, todo, deadline)
                batch = new + outcomes
                for i, event in enumerate(outcomes, start=next_seq + len(new)):
                    event.seq = i
                self.log.append(run_id, batch)
                if not appended:
                    self.log.discard(run_id, consumed)
                    consumed = []
                appended += batch
                next_seq += len(batch)
                if self.on_append is not None:
                    self.on_append(run_id, batch, host)
                now = max(now, outcomes[-1].time)
                result = replay.resume(outcomes, now)
                new = list(result.new_events)
            ending = result.status in ("completed", "failed") and _redo < MAX_REDOS
            if ending and self._arrived_since(run_id, read, floor):
                # News came while the code ran to its end: a run never ends holding a message
                # it did not get (as Temporal refuses to close one), so the step is done again
                # with it, from the history as it is now.
                replay.close()
                return self.step(
                    run_id, first=first and not appended, deadline=deadline, _redo=_redo + 1
                )
            for i, event in enumerate(new, start=next_seq):
                event.seq = i
            if result.status == "continued":
                out = self._continue(
                    run_id, replay, result, new, consumed, pending[len(used) :], deadline
                )
                out.events[:0] = appended
                return out
            if new or not appended:
                self.log.append(run_id, new)
        except BaseException:
            replay.close()
            raise
        self.log.discard(run_id, consumed)
        new = appended + new
        last_seq = new[-1].seq if new else next_seq - 1
        queued = [e for e in new if _queued_activity(e)]
        if result.status == "running":
            seen.add(new)
            seen.watch = (seen.floor(), frozenset(read))
            self._kept.keep(run_id, _Kept(replay, workflow, host, seen))
            timeout = None if result.next_timer is None else max(0.0, result.next_timer - now)
            return StepOutput(
                "step" if go_on else "park",
                timeout,
                queued,
                new,
                last_seq,
                host,
                sticky=bool(kept),
                next_timer=result.next_timer,
                before=before,
                dispatched=mark,
                # The range the next step reads (it only moves up: a new command's number is
                # after every other's), and what this step read there: not news.
                inbox_from=seen.watch[0],
                inbox_known=seen.watch[1],
            )
        replay.close()
        outcome = (
            {"result": result.result} if result.status == "completed" else {"error": result.error}
        )
        expires = expires_at(self.engine.registry, host, now)
        self.log.close_run(run_id, result.status, now, outcome, expires=expires)
        kind = "done" if result.status == "completed" else "failed"
        return StepOutput(
            kind,
            None,
            queued,
            new,
            last_seq,
            host,
            result.status,
            result.result,
            result.error,
            sticky=bool(kept),
            before=before,
            dispatched=mark,
        )

    def _inline_todo(
        self, replay: Replay, new_events: list[Event], deadline: float | None
    ) -> tuple[list[Event], bool]:
        """Mark the new activity attempts that run inline, then pick the open ones that fit
        in what is left of the step; also whether some were left for a fresh step."""
        for event in new_events:
            if event.type != ev.ACTIVITY_SCHEDULED or "inline" in event.fields:
                continue
            if inline_limit(self.engine, event, self.step_seconds) is not None:
                replay.mark_inline(event)
        open_ = replay.open_inline()
        fit = [e for e in open_ if self.inline.fits(e, deadline)]
        return fit, len(fit) < len(open_)

    def _continue(
        self,
        run_id: str,
        replay: Replay,
        result: Any,
        new: list[Event],
        consumed: list[str],
        unused: list[Event],
        deadline: float | None = None,
    ) -> StepOutput:
        """End this generation of the run's history and start the next in the same append
        (same run id, so its address, name and parent stay), then step the new generation.

        Inbox items the old generation did not take (signals after the call) stay for the new
        one; outcomes of the old generation's commands are dropped when they arrive."""
        ended = new[-1]
        generation = int(replay.history[0].fields.get("generation", 1)) + 1
        keep = {e.fields["inbox"] for e in unused}
        taken = [item for item in consumed if item not in keep]
        fields: dict[str, Any] = {"input": result.result, "generation": generation}
        carried = replay.unread_signals()
        if carried:
            fields[ev.CARRIED] = carried
        if taken:
            # The new generation's history does not hold the old one's: should this step die
            # before deleting these from the inbox, the next must still know they were taken.
            fields["inbox_taken"] = taken
        started = Event(ev.WORKFLOW_STARTED, ended.time, fields, seq=ended.seq + 1)
        self.log.append(run_id, [*new, started], base=ended.seq)
        replay.close()
        self.log.discard(run_id, taken)
        appended = [*new, started]
        activities = [e for e in new if _queued_activity(e)]
        if self._continuing >= MAX_GENERATIONS_PER_STEP:
            # Generations that keep continuing at once (inline work, or a runaway loop): the
            # driver steps the next in a fresh invocation (one transition per this many).
            return StepOutput("step", 0.0, activities, appended, started.seq, replay.context.host)
        self._continuing += 1
        try:
            out = self.step(run_id, first=True, deadline=deadline)  # the next one, right away
        finally:
            self._continuing -= 1
        out.events[:0] = appended
        out.activities[:0] = activities
        return out

    def inbox_news(self, run_id: str) -> tuple[str | None, frozenset[str]]:
        """Where news for ``run_id`` would be in its inbox and what is there already, as far
        as this stepper knows: its kept replay's (the range its next step reads, the ids its
        last step read there); ``(None, {})`` when it keeps none (the whole inbox, where an
        activity's outcome stays once taken: a wake for it may be for nothing). A kept
        replay gone stale (another container stepped since) starts no later than the true
        range: its oldest open command is the same or older."""
        kept = self._kept.peek(run_id)
        return (None, frozenset()) if kept is None else kept.seen.watch

    def forget(self, run_id: str) -> None:
        """Drop the kept replay of ``run_id``, if any."""
        self._kept.forget(run_id)

    def close(self) -> None:
        """Drop every kept replay."""
        self._kept.clear()

    def signal(self, run_id: str, topic: str, payload: Any, sender: str | None = None) -> None:
        """Leave a message for the run (it becomes a ``SignalReceived`` at its next step)."""
        info = self.log.describe(run_id)
        if info["status"] != "running":
            raise UnitError(INVALID, f"run {run_id} has ended ({info['status']}): no signals")
        post_signal(self.log, run_id, topic, payload, sender, self.clock.now())

    def _ended(self, last: Event, host: str) -> StepOutput:
        status = ev.STATUS_OF_ENDING[last.type]
        if last.type == ev.WORKFLOW_COMPLETED:
            result = last.fields.get("result")
            return StepOutput("done", last_seq=last.seq, host=host, status=status, result=result)
        error = last.fields.get("error") or ev.terminated_error(
            str(last.fields.get("reason", "terminated"))
        )
        return StepOutput("failed", last_seq=last.seq, host=host, status=status, error=error)

    def _arrived_since(self, run_id: str, consumed: list[str], floor: str) -> bool:
        taken = set(consumed)
        return any(item_id not in taken for item_id, _, _ in self.log.inbox(run_id, floor))

    def _take_inbox(
        self, run_id: str, seen: _Seen, now: float, first_seq: int
    ) -> tuple[list[Event], list[str]]:
        """Outcome events for the inbox items not yet in the history; a second outcome for the
        same command (a redelivered activity) is consumed and dropped: the first one counts,
        and so is an outcome of a command of an earlier generation (its ``command_seq`` is before
        ``first_seq``, the first event of this one)."""
        taken: set[int] = set()  # this step's outcomes; `seen` learns them once they land
        pending: list[Event] = []
        consumed: list[str] = []
        for item_id, event_type, fields in self.log.inbox(run_id, seen.floor()):
            consumed.append(item_id)
            cmd = int(fields["cmd"]) if "cmd" in fields else None
            earlier = int(fields.get("command_seq", first_seq)) < first_seq
            if item_id in seen.inbox_ids or cmd in seen.settled or cmd in taken or earlier:
                continue
            if cmd is not None:
                taken.add(cmd)
            pending.append(Event(event_type, now, {**fields, "inbox": item_id}))
        if len(pending) > 1:
            pending[0].fields[ev.BATCH] = len(pending)
        return pending, consumed
