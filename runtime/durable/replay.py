"""Replaying a durable coroutine against its journal: one step of a workflow run, or one
batch of a loop-style process (both drivers use this one replay).

The code runs from the start in a fresh coroutine on a :class:`WorkflowScheduler`. Every call
that touches the world becomes a numbered command: ``funcs.call``/``funcs.async`` an activity,
``time.sleep``/``time.after`` a durable timer. A command the history already records is matched
(same kind, same activity id, or a :class:`NonDeterminism` naming both and the Lua line), and its
outcome is delivered when the replay reaches that outcome in the history, so concurrent code
(``channel.select`` over futures and timers) takes the same path every time. Past the end of the
history the step records what is new: commands issued, timers that are due, the end of the run.
``time.now()`` is the time of the event being replayed and ``uuid`` draws from a per-run
generator, so both replay exactly without being recorded.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runtime import codec, manifest
from runtime.clock import ManualClock
from runtime.durable import events as ev
from runtime.durable.events import Event
from runtime.durable.retries import activity_options, next_delay
from runtime.engine import Invocation
from runtime.errors import INTERNAL, INVALID, TIMEOUT, CodecError, UnitError
from runtime.scheduler import Scheduler, Task
from runtime.tracebacks import trim_traceback


class NonDeterminism(UnitError):
    """The code no longer does what its history says it did: the run is parked, not changed."""

    def __init__(self, message: str) -> None:
        super().__init__(INTERNAL, f"non-determinism: {message}")


@dataclass
class WorkflowContext:
    """What a workflow task carries (``Task.data``): its clock and its random generator."""

    run_id: str
    workflow_clock: ManualClock
    workflow_rng: random.Random
    replay: Any = None
    host: str = ""


@dataclass
class _Command:
    cmd: int
    type: str
    key: str
    fields: dict[str, Any]
    where: str
    on_outcome: Callable[[Event], None]
    recorded: bool = False
    done: bool = False
    #: An activity attempt's deadline: when it was recorded plus its timeout.
    deadline: float | None = None
    #: An activity attempt the step runs itself (its event says so) rather than queues.
    inline: bool = False
    #: The command's event, once recorded (its ``seq`` is the attempt's idempotency key).
    event: Event | None = None
    #: The activity call an attempt or a retry timer belongs to.
    activity: _Activity | None = None
    #: A ``time.after`` timer: a weak Lua table holding its channel object, and its channel
    #: (see :meth:`Replay._drop_unreachable`).
    watch: Any = None
    channel: Any = None
    #: The run no longer waits for it (a stopped timer, a canceled activity's attempt or
    #: retry timer). A dropped command not yet recorded is never recorded.
    dropped: bool = False
    #: Its ``TimerCanceled`` / ``ActivityCanceled`` is in the history (replayed or appended).
    drop_recorded: bool = False

    def record(self, at: float) -> None:
        """The command is in the history as of ``at`` (replayed, or appended by this step)."""
        self.recorded = True
        timeout = self.fields.get("timeout")
        if timeout is not None:
            self.deadline = at + float(timeout)


class _TimerHandle:
    """What ``add_timer`` returns: cancelling it (``timer:stop()``, ``timer:reset()``, a
    stopped task's sleep) makes the firing a no-op and drops the timer from what the run
    waits for."""

    def __init__(self, replay: Replay) -> None:
        self._replay = replay
        self._cancelled = False
        self.command: _Command | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @cancelled.setter
    def cancelled(self, value: bool) -> None:
        if value and not self._cancelled and self.command is not None:
            self._replay.drop(self.command, ev.TIMER_CANCELED, "stopped")
        self._cancelled = value

    def watch(self, channel: Any, lua_channel: Any) -> None:
        """The timer delivers into ``channel``, which the code reaches only through
        ``lua_channel`` (a ``time.after``): once that is garbage the timer is dropped."""
        if self.command is not None:
            self.command.watch = self._replay.weak_ref(lua_channel)
            self.command.channel = channel


class WorkflowScheduler(Scheduler):
    """A scheduler whose timers are durable commands instead of clock deadlines."""

    def __init__(self, state: Any, clock: ManualClock, replay: Replay) -> None:
        super().__init__(state, clock)
        self.replay = replay

    def add_timer(self, delay: float, action: Callable[[], None]) -> Any:  # type: ignore[override]
        handle = _TimerHandle(self.replay)
        fire_at = self.clock.now() + max(0.0, delay)

        def fired(_event: Event) -> None:
            if not handle.cancelled:
                action()

        handle.command = self.replay.command(ev.TIMER_STARTED, "timer", {"fire_at": fire_at}, fired)
        return handle


@dataclass
class StepResult:
    """What one step produced: events to append, and what the run now waits for."""

    new_events: list[Event]
    status: str  # running | completed | failed | continued (result: the next input)
    next_timer: float | None = None
    result: Any = None
    error: dict[str, Any] | None = None
    new_activities: list[Event] = field(default_factory=list)
    #: Of the events given to :meth:`Replay.resume`, how many at the end were not replayed
    #: because the code continued as new first (they belong to the next generation).
    unused: int = 0


class Replay:
    """One step of one run: replay ``history``, then record what is new at ``now``."""

    def __init__(
        self, engine: Any, entry_id: str, run_id: str, history: list[Event], host: str = ""
    ) -> None:
        if not history or history[0].type not in ev.STARTS:
            raise UnitError(INVALID, f"run {run_id}: a history starts with {ev.WORKFLOW_STARTED}")
        self.engine = engine
        self.entry_id = entry_id
        self.run_id = run_id
        self.history = list(history)
        #: The sequence number before this generation's first event (0 until a run has
        #: continued as new): ids derived from commands include it, so generations differ.
        self.base = max(0, history[0].seq - 1)
        self.commands: dict[int, _Command] = {}
        # Kept apart so a step's cost does not grow with the history: commands not yet matched
        # or recorded, timers not yet fired, activity attempts with a deadline not yet settled.
        self._unrecorded: list[_Command] = []
        self._open_timers: dict[int, _Command] = {}
        self._open_deadlines: dict[int, _Command] = {}
        self._open_inline: dict[int, _Command] = {}
        self._next_cmd = 1
        seed_text = run_id if not self.base else f"{run_id}/{self.base}"
        seed = int.from_bytes(hashlib.sha256(seed_text.encode()).digest()[:8], "big")
        self.context = WorkflowContext(run_id, ManualClock(history[0].time), random.Random(seed))
        self.context.replay = self
        self.context.host = host
        self.scheduler: WorkflowScheduler | None = None
        self.task: Task | None = None
        self._budget: Any = None
        # Signals by topic (None: the inbox); those that came before anyone listened wait here.
        self._inboxes: dict[str | None, Any] = {}
        #: Per channel id: does it deliver Message objects (the inbox, listen with
        #: {message = true}) or the raw payload (listen's default, as in Wippy)?
        self._as_message: dict[int, bool] = {}
        #: Per channel id, the fields of each signal put in it (for unread_signals).
        self._delivered: dict[int, list[dict[str, Any]]] = {}
        self._waiting: list[Event] = []
        # process.events(): CANCEL requests (and EXITs of monitored children).
        self._events_channel: Any = None
        self._events_waiting: list[Any] = []
        # workflow.version: change id -> the version this run recorded (or takes now).
        self._versions: dict[str, int] = {
            str(e.fields["change_id"]): int(e.fields["version"])
            for e in history
            if e.type == ev.VERSION_MARKER
        }
        self._new_markers: list[Event] = []
        # Random bytes the code drew (crypto), in draw order, and how many it has drawn so far.
        self._randoms: list[tuple[str, bytes]] = [
            (str(e.fields["what"]), base64.b64decode(e.fields["bytes"]))
            for e in sorted(
                (e for e in history if e.type == ev.RANDOM_RECORDED),
                key=lambda e: int(e.fields["index"]),
            )
        ]
        self._random_draws = 0
        # Commands dropped since the last live point (their cancel events are recorded there),
        # and activities whose future the code canceled (their cancel takes effect there).
        self._dropped: list[tuple[_Command, str, str | None]] = []
        self._cancel_requests: list[_Activity] = []
        # Lua helpers (made in _begin): a weak reference to a value, a full collection.
        self._weak_ref: Any = None
        self._collect: Any = None
        #: Past the recorded history: what the code does now is new, not replayed.
        self.live = False
        #: Running code a previous step already ran (its log lines are not written again).
        self.replaying = False
        #: ``workflow.continue_as_new(input)`` (or ``process.upgrade``) was called: the input
        #: of the next generation.
        self.continue_with: Any = None
        self._continued = False
        #: A loop-style process's ``process.*`` (set by its driver); None in a workflow.
        self.process_context: Any = None
        #: Handlers of input events only a driver knows (a process's EXIT, LINK_DOWN...).
        self.input_handlers: dict[str, Callable[[Event], None]] = {}
        #: ``funcs.call`` is a plain call (a loop-style process): one attempt, run by the
        #: driver before the code goes on, its error delivered as it is.
        self.plain_calls = False
        #: Ended from outside the code (:meth:`kill`): the error it ends with.
        self._killed: dict[str, Any] | None = None
        # Recorded calls (CallRecorded), in call order, and how many the code has made.
        self._records: list[tuple[str, dict[str, Any]]] = [
            (str(e.fields["what"]), e.fields)
            for e in sorted(
                (e for e in history if e.type == ev.CALL_RECORDED),
                key=lambda e: int(e.fields["index"]),
            )
        ]
        self._record_draws = 0

    # -- commands (called from the scheduler's operations) ------------------------------------
    def command(
        self, type_: str, key: str, fields: dict[str, Any], on_outcome: Callable[[Event], None]
    ) -> _Command:
        """Register the next command the code issued."""
        task = self.scheduler.current if self.scheduler else None
        where = self._where(task) if task is not None else ""
        command = _Command(self._next_cmd, type_, key, fields, where, on_outcome)
        self.commands[command.cmd] = command
        self._unrecorded.append(command)
        if type_ == ev.TIMER_STARTED:
            self._open_timers[command.cmd] = command
        self._next_cmd += 1
        return command

    def _where(self, task: Task) -> str:
        raw = self.engine.state.k["where"](task.lua)
        trace = trim_traceback(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else "")
        frames = [
            line.strip()
            for line in trace.splitlines()
            if line.strip() and line.strip() != "stack traceback:"
        ]
        # "sequence.lua:10: in function <sequence.lua:6>" -> "sequence.lua:10"
        return frames[0].split(": in ")[0] if frames else "?"

    # -- the step -----------------------------------------------------------------------------
    def run(self, now: float) -> StepResult:
        """Replay the history, then record what is new as of ``now``; keeps nothing."""
        try:
            return self.resume([], now)
        finally:
            self.close()

    def resume(self, events: list[Event], now: float) -> StepResult:
        """Replay ``events`` (on first use: the whole history, then ``events``), then record
        what is new as of ``now``.

        A replay kept after a step (the sticky cache) is resumed with only the events that
        came since, typically the step's inbox: the coroutine is already where the last step
        left it, so a step costs the same at event 10 and at event 10,000. The caller must
        drop the replay (:meth:`close`) if the step's append does not land.
        """
        engine = self.engine
        first = self.task is None
        if first:
            self._begin()
        else:
            self.history.extend(events)
        assert self.scheduler is not None and self.task is not None
        # Each step gets the whole instruction budget and CPU time again, as each call does.
        self.engine.state.k["reset_budget"](self._budget)
        invocation = Invocation(
            self.entry_id, {"run_id": self.run_id}, fields={"run_id": self.run_id}
        )
        # Each step may allocate the memory a function call may, above what is held now.
        engine.state.limit_memory(engine.limits.memory_bytes)
        try:
            return self._resume(events, now, first, invocation)
        finally:
            engine.state.unlimit_memory()

    def _resume(
        self, events: list[Event], now: float, first: bool, invocation: Invocation
    ) -> StepResult:
        engine = self.engine
        assert self.scheduler is not None
        with engine.running(self.scheduler, invocation):
            if first:
                # The code up to its first wait ran in the run's first step already, unless
                # this is that step. What that step held came before it (a start and a signal
                # at once: the code's first look sees the signal).
                self.replaying = len(self.history) > 1
                self.history.extend(events)
                todo = self.history[1:]
                recorded = len(todo) - len(events)
                early = 0
                if todo and todo[0].fields.get(ev.AT_START):
                    early = max(1, int(todo[0].fields.get(ev.BATCH, 1)))
                    for event in todo[:early]:
                        self.context.workflow_clock.set(event.time)
                        self._replay(event, run=False)
                self.scheduler.run_ready()
                todo = todo[early:]
                recorded -= early
            else:
                todo = events
                recorded = 0
            unused = 0
            # What one step took from its inbox (signals, outcomes, cancels) is delivered all
            # at once before the code runs on, so a non-blocking select sees every item; the
            # batch's first event says how many are in it, and a replay delivers them alike.
            batch_left = 0
            for i, event in enumerate(todo):
                self.replaying = i < recorded
                if self._killed is not None:
                    if i < recorded:
                        raise NonDeterminism(
                            f"the process ended, but the history goes on with {event.type} "
                            f"#{event.seq}"
                        )
                    unused = len(todo) - i
                    del self.history[len(self.history) - unused :]
                    break
                if self._continued:
                    if i < recorded:
                        raise NonDeterminism(
                            f"the code continued as new, but the history goes on with "
                            f"{event.type} #{event.seq}"
                        )
                    unused = len(todo) - i
                    del self.history[len(self.history) - unused :]
                    break
                if event.type in ev.ENDINGS:
                    raise UnitError(INVALID, f"run {self.run_id} has already ended")
                self.context.workflow_clock.set(event.time)
                if batch_left == 0:
                    batch_left = max(1, int(event.fields.get(ev.BATCH, 1)))
                batch_left -= 1
                self._replay(event, run=batch_left == 0)
            self.live, self.replaying = True, False
            self.context.workflow_clock.set(max(now, self.context.workflow_clock.now()))
            result = self._record_new(now)
        result.unused = unused
        self.history.extend(result.new_events)
        return result

    def mark_inline(self, scheduled: Event) -> None:
        """Make the new ``ActivityScheduled`` event an inline attempt (before it is appended:
        the mark is part of the history)."""
        command = self.commands[scheduled.cmd]
        scheduled.fields["inline"] = True
        command.inline = True
        self._open_inline[command.cmd] = command

    def open_inline(self) -> list[Event]:
        """The inline attempts recorded and not settled, in command order: the step runs them
        (a step that died before their outcome leaves them open for the next)."""
        return [c.event for _, c in sorted(self._open_inline.items()) if c.event is not None]

    @property
    def finished(self) -> bool:
        """Whether ``main`` has returned or failed, or it was killed (nothing to resume)."""
        return self._killed is not None or (self.task is not None and self.task.done)

    def kill(self, error: dict[str, Any]) -> None:
        """End the coroutine from outside its code (a terminate, a LINK_DOWN it does not
        trap): it is never resumed, and the step ends with ``error``. Called while an input
        event is delivered, so a replay kills it at the same point."""
        if self._killed is None:
            self._killed = dict(error)

    def recorded(self, what: str, call: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The outcome (``{"value": ...}`` or ``{"error": {...}}``) of a call that depends on
        the world: made and recorded (``CallRecorded``) the first time, the recorded one on
        every replay.

        Raises:
            NonDeterminism: the history recorded another call at this point.
        """
        index = self._record_draws
        if index < len(self._records):
            recorded_what, fields = self._records[index]
            if recorded_what != what:
                raise NonDeterminism(
                    f"recorded call #{index + 1}: the history has {recorded_what}, the code "
                    f"now calls {what}"
                )
            self._record_draws += 1
            return {k: v for k, v in fields.items() if k in ("value", "error")}
        outcome = call()
        self._records.append((what, outcome))
        self._record_draws += 1
        now = self.context.workflow_clock.now()
        self._new_markers.append(
            Event(ev.CALL_RECORDED, now, {"index": index, "what": what, **outcome})
        )
        return outcome

    def close(self) -> None:
        """Release the coroutine and everything the run's code made."""
        if self.scheduler is not None:
            self.scheduler.close()

    def _begin(self) -> None:
        engine = self.engine
        state = engine.state
        scheduler = WorkflowScheduler(state, self.context.workflow_clock, self)
        self.scheduler = scheduler
        self._install_activity_ops(scheduler)
        entry = engine.registry.get(self.entry_id)
        loop = isinstance(entry, manifest.ProcessEntry) and bool(entry.method)
        if not isinstance(entry, manifest.WorkflowEntry) and not loop:
            raise UnitError(INVALID, f"{self.entry_id} is not a workflow.lua")
        main = engine.entry_runtime(self.entry_id).method(entry.method)
        started = self.history[0]
        if "args" in started.fields:  # a process's main(...) takes its spawn arguments
            args = tuple(
                engine.codec.to_lua(codec.from_json_value(a), f"args[{i}]")
                for i, a in enumerate(started.fields["args"] or [], 1)
            )
        else:
            args = (
                engine.codec.to_lua(codec.from_json_value(started.fields.get("input")), "input"),
            )
        self._weak_ref = state.lua.eval("function(v) return setmetatable({v}, {__mode = 'v'}) end")
        self._collect = state.lua.eval("function() collectgarbage('collect') end")
        self._budget = engine.new_budget()
        self.task = scheduler.spawn(
            main, args, budget=self._budget, name=self.run_id, data=self.context
        )
        state.set(self.task.lua, b"durable", True)
        # Signals the previous generation held but never read come first, each once.
        for fields in started.fields.get(ev.CARRIED, ()):
            self._signal(Event(ev.SIGNAL_RECEIVED, started.time, dict(fields)))

    # -- signals ------------------------------------------------------------------------------
    def inbox_channel(self, topic: str | None, as_message: bool = True) -> int:
        """The channel of ``process.inbox()`` (topic None; Message objects) or
        ``process.listen(topic, {message = as_message})`` (raw payloads unless asked)."""
        channel = self._inboxes.get(topic)
        if channel is None:
            assert self.scheduler is not None
            channel = self.scheduler.new_channel(1 << 30)
            self._inboxes[topic] = channel
            self._as_message[channel.id] = as_message if topic is not None else True
            waiting, self._waiting = self._waiting, []
            for event in waiting:
                self._signal(event)
        return channel.id

    def unread_signals(self) -> list[dict[str, Any]]:
        """The signals this generation was given and its code never received, oldest first
        (those waiting for a listener, and those still in a channel's buffer): what a
        continue-as-new carries to the next generation."""
        unread = [e.fields for e in self._waiting]
        for channel in self._inboxes.values():
            delivered = self._delivered.get(channel.id, [])
            left = len(channel.buffer)
            if left:
                unread.extend(delivered[-left:])
        skip = ("inbox", ev.BATCH)
        return [{k: v for k, v in fields.items() if k not in skip} for fields in unread]

    def unlisten(self, channel_id: int) -> bool:
        """``process.unlisten(ch)``: signals of that topic go to the inbox again."""
        for topic, channel in list(self._inboxes.items()):
            if topic is not None and channel.id == channel_id:
                del self._inboxes[topic]
                assert self.scheduler is not None
                self.scheduler.close_channel(channel)
                return True
        return False

    def events_channel(self) -> int:
        """The channel of ``process.events()`` in a workflow: CANCEL, EXIT of children."""
        if self._events_channel is None:
            assert self.scheduler is not None
            self._events_channel = self.scheduler.new_channel(1 << 30)
            waiting, self._events_waiting = self._events_waiting, []
            for value in waiting:
                self.post_lua_event(value)
        return self._events_channel.id

    def post_event(self, fields: dict[str, Any]) -> None:
        """An event for ``process.events()`` (kept until the code asks for the channel)."""
        self.post_lua_event(
            self.engine.codec.to_lua({k: v for k, v in fields.items() if v is not None})
        )

    def post_lua_event(self, value: Any) -> None:
        """:meth:`post_event` of a Lua value the driver made (an EXIT with an error object)."""
        if self._events_channel is None:
            self._events_waiting.append(value)
            return
        assert self.scheduler is not None
        self.scheduler.offer(self._events_channel, value)

    def version(self, change_id: str, low: int, high: int) -> int:
        """``workflow.version``: the version recorded for ``change_id``; a run that reaches
        the call for the first time takes ``high`` (recorded), a run whose history predates
        the call (replaying, no marker) takes ``low``."""
        if low > high:
            raise UnitError(INVALID, f"workflow.version: min {low} is above max {high}")
        if change_id in self._versions:
            version = self._versions[change_id]
            if not low <= version <= high:
                raise NonDeterminism(
                    f"workflow.version('{change_id}'): this run recorded version {version}, "
                    f"outside the code's supported range [{low}, {high}]"
                )
            return version
        version = high if self.live else low
        self._versions[change_id] = version
        if self.live:
            now = self.context.workflow_clock.now()
            marker = Event(ev.VERSION_MARKER, now, {"change_id": change_id, "version": version})
            self._new_markers.append(marker)
        return version

    def random_bytes(self, size: int, what: str) -> bytes:
        """``size`` random bytes for ``what`` (``crypto.random.bytes``, an AES-GCM nonce...):
        from the OS and recorded (a ``RandomRecorded`` event) the first time the run draws
        them, the recorded ones on every replay, so keys, tokens and ciphertexts made from
        them come out the same.

        Raises:
            UnitError: INVALID when the bytes are too many for a history event.
            NonDeterminism: the history recorded a draw of another size or for another call.
        """
        index = self._random_draws
        if index < len(self._randoms):
            recorded_what, data = self._randoms[index]
            if len(data) != size or recorded_what != what:
                raise NonDeterminism(
                    f"random draw #{index + 1}: the history has {len(data)} bytes for "
                    f"{recorded_what}, the code now draws {size} for {what}"
                )
            self._random_draws += 1
            return data
        data = os.urandom(size)
        text = base64.b64encode(data).decode()
        ev.check_size(f"{what}: {size} random bytes", text)
        self._randoms.append((what, data))
        self._random_draws += 1
        now = self.context.workflow_clock.now()
        fields = {"index": index, "size": size, "what": what, "bytes": text}
        self._new_markers.append(Event(ev.RANDOM_RECORDED, now, fields))
        return data

    def child(
        self,
        workflow_id: str,
        host: str | None,
        input_: Any,
        deliver: Callable[[Any, Any], None] | None,
        monitor: bool = False,
    ) -> str:
        """A child run (recorded, started by the step after the append); ``deliver(value,
        err)`` gets its end. Returns the child's run id, derived from this run and the
        command, so a replay names the same child."""
        ev.check_size(f"the input of child workflow {workflow_id}", input_)
        cmd = self._next_cmd
        name = f"{self.run_id}/{cmd}" if not self.base else f"{self.run_id}/{self.base}/{cmd}"
        child_id = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
        state = self.engine.state

        def outcome(event: Event) -> None:
            if event.type == ev.CHILD_COMPLETED:
                value = codec.from_json_value(event.fields.get("result"))
                if deliver is not None:
                    deliver(self.engine.codec.to_lua(value), None)
                if monitor:
                    self.post_event({"kind": "EXIT", "from": child_id, "result": value})
                return
            error = event.fields.get("error") or {}
            kind, message = str(error.get("kind", INTERNAL)), str(error.get("message", ""))
            if deliver is not None:
                deliver(None, state.new_error(kind, f"child workflow {workflow_id}: {message}"))
            if monitor:
                self.post_event({"kind": "EXIT", "from": child_id, "error": error})

        # A child runs on its parent's host unless the code names another.
        fields = {
            "id": workflow_id,
            "host": host or self.context.host or None,
            "input": input_,
            "run_id": child_id,
        }
        self.command(ev.CHILD_STARTED, workflow_id, fields, outcome)
        return child_id

    def send(self, to: str, topic: str, payload: Any) -> None:
        """``process.send`` from the run: recorded, carried out by the step after the append."""
        ev.check_size("the message payload", payload)
        fields = {"to": to, "topic": topic, "payload": payload}
        command = self.command(ev.MESSAGE_SENT, to, fields, lambda _event: None)
        command.done = True  # nothing comes back

    def _signal(self, event: Event) -> None:
        topic = str(event.fields.get("topic", ""))
        channel = self._inboxes.get(topic) or self._inboxes.get(None)
        if channel is None:
            self._waiting.append(event)
            return
        state = self.engine.state
        data = self.engine.codec.to_lua(codec.from_json_value(event.fields.get("payload")))
        if self._as_message.get(channel.id, True):
            sender = event.fields.get("from")
            data = state.k["new_message"](topic.encode(), sender.encode() if sender else None, data)
        assert self.scheduler is not None
        self.scheduler.offer(channel, data)
        self._delivered.setdefault(channel.id, []).append(event.fields)

    def _replay(self, event: Event, run: bool = True) -> None:
        """Deliver one event of the history; ``run``: then let the code run on (not until
        the last event of a batch: see :meth:`_resume`)."""
        handler = self.input_handlers.get(event.type)
        if handler is not None:
            handler(event)
            if run and not self.finished:
                self.scheduler.run_ready()  # type: ignore[union-attr]
            return
        if event.type in ev.MESSAGES:
            self._signal(event)
            if run:
                self.scheduler.run_ready()  # type: ignore[union-attr]
            return
        if event.type == ev.CANCEL_REQUESTED:
            self.post_event(
                {
                    "kind": "CANCEL",
                    "from": event.fields.get("from"),
                    "reason": event.fields.get("reason"),
                }
            )
            if run:
                self.scheduler.run_ready()  # type: ignore[union-attr]
            return
        if event.type in (ev.VERSION_MARKER, ev.RANDOM_RECORDED, ev.CALL_RECORDED, ev.INBOX_UNREAD):
            return
        if event.type in ev.DROPS:
            self._replay_drop(event)
            return
        command = self.commands.get(event.cmd)
        if event.type in ev.COMMANDS:
            if command is None:
                raise NonDeterminism(
                    f"the history has {event.type} #{event.cmd} ({_describe(event)}) but the "
                    f"code did not issue a command #{event.cmd}"
                )
            if command.type != event.type or command.key != _key(event):
                raise NonDeterminism(
                    f"command #{event.cmd}: the history has {_describe(event)}, the code now "
                    f"issues {_describe_command(command)} at {command.where}"
                )
            command.event = event
            if event.fields.get("inline"):
                command.inline = True
                self._open_inline[command.cmd] = command
            self._recorded(command, event.time)
        elif event.type in ev.OUTCOMES:
            if command is None or not command.recorded:
                raise NonDeterminism(f"{event.type} #{event.cmd} has no matching command")
            self._settle(command, event, run=run)

    def _record_new(self, now: float) -> StepResult:
        new: list[Event] = self._new_markers
        self._new_markers = []
        activities: list[Event] = []
        scheduler = self.scheduler
        assert scheduler is not None and self.task is not None
        while True:
            new.extend(self._new_markers)
            self._new_markers = []
            self._cancel_activities()
            unrecorded, self._unrecorded = self._unrecorded, []
            for command in sorted(unrecorded, key=lambda c: c.cmd):
                if command.recorded or command.dropped:
                    # Dropped before it was ever recorded (an attempt whose future was
                    # canceled, a timer stopped in the step that started it): nothing to
                    # send, nothing to wait for; a replay drops it at the same point.
                    continue
                event = Event(command.type, now, {"cmd": command.cmd, **command.fields})
                command.event = event
                self._recorded(command, now)
                new.append(event)
                if command.type == ev.ACTIVITY_SCHEDULED:
                    activities.append(event)
                    if self.plain_calls:
                        self.mark_inline(event)
            if self._killed is not None:
                break
            if not self.task.done and not self._continued:
                # (A run that has ended waits for nothing: no cancel events before its end.)
                self._drop_unreachable()
                new.extend(self._drop_events(now))
            due = self._due(now)
            if not due or self.task.done or self._continued:
                break
            for _, command in due:
                outcome = self._lapse(command, now)
                new.append(outcome)
                self._settle(command, outcome)
        return self._finish(new, activities, now)

    # -- dropped commands ---------------------------------------------------------------------
    def weak_ref(self, value: Any) -> Any:
        """A Lua table holding ``value`` weakly (``[1]`` is nil once it is collected)."""
        return self._weak_ref(value)

    def drop(self, command: _Command, event_type: str, reason: str | None = None) -> None:
        """The run stops waiting for ``command`` (it keeps no outcome: a late one is dropped);
        its ``event_type`` event is recorded at the next live point unless the history has
        it."""
        if command.dropped or command.done:
            return
        command.dropped = True
        self._open_timers.pop(command.cmd, None)
        self._open_deadlines.pop(command.cmd, None)
        self._open_inline.pop(command.cmd, None)
        self._dropped.append((command, event_type, reason))

    def _drop_events(self, now: float) -> list[Event]:
        """The cancel events of commands dropped since the last live point, for those that
        are recorded and have neither an outcome nor their cancel in the history yet."""
        dropped, self._dropped = self._dropped, []
        out = []
        for command, event_type, reason in dropped:
            if not command.recorded or command.done or command.drop_recorded:
                continue
            fields: dict[str, Any] = {"cmd": command.cmd}
            if command.activity is not None:
                fields["id"] = command.activity.id
            if reason is not None:
                fields["reason"] = reason
            command.drop_recorded = True
            out.append(Event(event_type, now, fields))
        return out

    def _cancel_activities(self) -> None:
        """Carry out the cancels the code asked for since the last live point: the activity
        schedules nothing more and the run stops waiting for what it was waiting on.

        Only here (and where a replay meets the recorded ``ActivityCanceled``), not when the
        code cancels: a history recorded before cancels were recorded goes on retrying after
        the cancel, and its replay must issue those same commands."""
        requests, self._cancel_requests = self._cancel_requests, []
        for activity in requests:
            if activity.canceled:
                continue
            activity.canceled = True
            if activity.open is not None:
                self.drop(activity.open, ev.ACTIVITY_CANCELED)
                activity.open = None

    def _drop_unreachable(self) -> None:
        """Drop each ``time.after`` timer whose channel the code can no longer reach (the
        Lua object is collected) and no task waits on: nobody can ever receive what it
        would deliver. A full collection first, so the decision does not depend on when Lua
        last collected; it is recorded (``TimerCanceled``), so a replay does not decide
        again."""
        watched = [c for c in self._open_timers.values() if c.watch is not None]
        if not watched:
            return
        self._collect()
        for command in sorted(watched, key=lambda c: c.cmd):
            waited_on = any(not waiter.fired for waiter, _ in command.channel.receivers)
            if command.watch[1] is None and not waited_on:
                self.drop(command, ev.TIMER_CANCELED, "unreachable")

    def _replay_drop(self, event: Event) -> None:
        """A recorded ``TimerCanceled`` / ``ActivityCanceled``: drop the command now."""
        command = self.commands.get(event.cmd)
        if command is None or not command.recorded:
            raise NonDeterminism(f"{event.type} #{event.cmd} has no matching command")
        if event.type == ev.ACTIVITY_CANCELED:
            activity = command.activity
            if activity is None or not activity.cancel_requested:
                raise NonDeterminism(
                    f"the history cancels activity {event.fields.get('id', command.key)} (command "
                    f"#{event.cmd}), but the code did not cancel its future"
                )
            activity.canceled = True
            activity.open = None
        elif event.fields.get("reason") == "stopped" and not command.dropped:
            raise NonDeterminism(
                f"the history has timer #{event.cmd} stopped, but the code did not stop it"
            )
        self.drop(command, event.type)
        command.drop_recorded = True

    def _recorded(self, command: _Command, at: float) -> None:
        command.record(at)
        if command.deadline is not None:
            self._open_deadlines[command.cmd] = command

    def _settle(self, command: _Command, outcome: Event, run: bool = True) -> None:
        command.done = True
        command.watch = command.channel = None
        self._open_timers.pop(command.cmd, None)
        self._open_deadlines.pop(command.cmd, None)
        self._open_inline.pop(command.cmd, None)
        command.on_outcome(outcome)
        if run:
            self.scheduler.run_ready()  # type: ignore[union-attr]

    def _due(self, now: float) -> list[tuple[float, _Command]]:
        """Timers due and activity attempts past their deadline at ``now``, in time order."""
        due = [(c.fields["fire_at"], c) for c in self._open_timers.values()]
        due += [(c.deadline, c) for c in self._open_deadlines.values()]  # type: ignore[misc]
        return sorted(
            ((at, c) for at, c in due if at <= now), key=lambda item: (item[0], item[1].cmd)
        )

    @staticmethod
    def _lapse(command: _Command, now: float) -> Event:
        """The outcome the step records for a due command: a timer fired, or an activity
        attempt that did not answer in time (a late answer is then dropped from the inbox)."""
        if command.type == ev.TIMER_STARTED:
            return Event(ev.TIMER_FIRED, now, {"cmd": command.cmd})
        timeout = float(command.fields["timeout"])
        message = f"activity {command.key} did not answer within {timeout:g}s"
        error = {"kind": TIMEOUT, "message": message}
        return Event(ev.ACTIVITY_FAILED, now, {"cmd": command.cmd, "error": error})

    def _finish(self, new: list[Event], activities: list[Event], now: float) -> StepResult:
        new.extend(self._new_markers)
        self._new_markers = []
        task = self.task
        assert task is not None
        if self._killed is not None:
            error = self._killed
            new.append(Event(self._ending(failed=True), now, {"error": error}))
            return StepResult(new, "failed", error=error, new_activities=activities)
        if self._continued:
            if self.process_context is not None:
                new.append(Event(ev.PROCESS_UPGRADED, now, dict(self.continue_with)))
            else:
                new.append(Event(ev.WORKFLOW_CONTINUED, now, {"input": self.continue_with}))
            return StepResult(
                new, "continued", result=self.continue_with, new_activities=activities
            )
        if not task.done:
            timers = [c.fields["fire_at"] for c in self._open_timers.values()]
            timers += [c.deadline for c in self._open_deadlines.values()]  # type: ignore[misc]
            return StepResult(
                new, "running", min(timers) if timers else None, new_activities=activities
            )
        if task.failed:
            error = self.engine.error_from_task(task, self.entry_id).to_dict()
            new.append(Event(self._ending(failed=True), now, {"error": error}))
            return StepResult(new, "failed", error=error, new_activities=activities)
        values = task.values
        if len(values) > 1 and values[1] is not None:
            error = self.engine.error_from_value(values[1]).to_dict()
            new.append(Event(self._ending(failed=True), now, {"error": error}))
            return StepResult(new, "failed", error=error, new_activities=activities)
        try:
            result = codec.to_json_value(
                self.engine.codec.to_python(values[0] if values else None, "result")
            )
            ev.check_size("the workflow's result", result)
        except UnitError as exc:  # a CodecError, or the size check
            what = "the workflow's result: " if isinstance(exc, CodecError) else ""
            message = f"{what}{exc.message}"
            error = {"kind": INVALID, "message": message}
            new.append(Event(self._ending(failed=True), now, {"error": error}))
            return StepResult(new, "failed", error=error, new_activities=activities)
        new.append(Event(self._ending(failed=False), now, {"result": result}))
        return StepResult(new, "completed", result=result, new_activities=activities)

    def _ending(self, failed: bool) -> str:
        if self.process_context is not None:
            return ev.PROCESS_CRASHED if failed else ev.PROCESS_EXITED
        return ev.WORKFLOW_FAILED if failed else ev.WORKFLOW_COMPLETED

    def upgrade(self, entry_id: str, args: list[Any]) -> None:
        """``process.upgrade``: this generation ends with the step; the next runs ``entry_id``
        with ``args`` (codec JSON values)."""
        ev.check_size("the arguments of process.upgrade", args)
        self.continue_with = {"entry": entry_id, "args": args}
        self._continued = True

    # -- activities -----------------------------------------------------------------------------
    def _install_activity_ops(self, scheduler: WorkflowScheduler) -> None:
        engine, state = self.engine, self.engine.state

        def schedule(
            raw_id: bytes,
            args: Any,
            timeout: float | None,
            raw_options: Any,
            deliver: Callable[[Any, Any], None],
        ) -> UnitError | _Activity:
            entry_id = raw_id.decode("utf-8", "replace")
            if self.plain_calls:
                return plain(entry_id, args, timeout, deliver)
            try:
                entry = engine.function_entry(entry_id)
                options = (
                    engine.codec.to_python(raw_options, "options")
                    if raw_options is not None
                    else None
                )
                chosen = activity_options(
                    engine.registry,
                    self.entry_id,
                    entry_id,
                    options if isinstance(options, dict) else None,
                    timeout,
                )
            except (UnitError, CodecError) as exc:
                return exc if isinstance(exc, UnitError) else UnitError(INVALID, exc.message)
            policy, timeout = chosen.policy, chosen.timeout
            unpacked = state.k["unpack_args"](args)
            count, *values = unpacked if isinstance(unpacked, tuple) else (unpacked,)
            py_args = [
                codec.to_json_value(engine.codec.to_python(v, f"args[{i}]"))
                for i, v in enumerate(values[:count], 1)
            ]
            try:
                ev.check_size(f"the arguments of activity {entry_id}", py_args)
            except UnitError as exc:
                return exc
            limit = timeout if timeout is not None else entry.timeout
            queued = chosen.local is False or engine.is_remote(entry)
            activity = _Activity(entry_id, py_args, policy, limit, queued)
            self._attempt(activity, 1, deliver)
            return activity

        def plain(
            entry_id: str, args: Any, timeout: float | None, deliver: Callable[[Any, Any], None]
        ) -> UnitError | _Activity:
            try:
                engine.function_entry(entry_id)
                py_args = lua_args(args, entry_id)
            except CodecError as exc:
                return UnitError(INVALID, exc.message)
            except UnitError as exc:
                return exc
            activity = _Activity(entry_id, py_args, _ONE_ATTEMPT, timeout, plain=True)
            self._attempt(activity, 1, deliver)
            return activity

        def lua_args(args: Any, entry_id: str) -> list[Any]:
            unpacked = state.k["unpack_args"](args)
            count, *values = unpacked if isinstance(unpacked, tuple) else (unpacked,)
            py_args = [
                codec.to_json_value(engine.codec.to_python(v, f"args[{i}]"))
                for i, v in enumerate(values[:count], 1)
            ]
            ev.check_size(f"the arguments of {entry_id}", py_args)
            return py_args

        def op_call(
            task: Task, raw_id: bytes, args: Any, ctx: Any, timeout: Any, retry: Any = None
        ) -> Any:
            refused = schedule(
                raw_id, args, timeout, retry, lambda v, e: scheduler.wake(task, (v, e))
            )
            if isinstance(refused, UnitError):
                return True, (None, state.error_value(refused))
            return False, ()

        def op_async(
            task: Task, raw_id: bytes, args: Any, ctx: Any, timeout: Any, retry: Any = None
        ) -> Any:
            fut = scheduler.new_future()
            scheduled = schedule(
                raw_id, args, timeout, retry, lambda v, e: scheduler.settle_future(fut, v, e)
            )
            if isinstance(scheduled, UnitError):
                scheduler.settle_future(fut, None, state.error_value(scheduled))
            else:
                activity = scheduled

                def cancel(error: Any) -> None:
                    # future:cancel() before the outcome: the code sees CANCELED at once; the
                    # activity stops at the next live point (see _cancel_activities).
                    scheduler.settle_future(fut, None, error)
                    activity.cancel_requested = True
                    self._cancel_requests.append(activity)

                fut.abandon = cancel
            return True, (fut.id, fut.channel.id)

        def op_child(task: Task, raw_id: bytes, raw_host: Any, input_: Any) -> Any:
            try:
                wire = codec.to_json_value(engine.codec.to_python(input_, "input"))
            except CodecError as exc:
                return True, (None, state.new_error(INVALID, f"workflow.exec: {exc.message}"))
            host = raw_host.decode("utf-8", "replace") if raw_host is not None else None
            workflow_id = raw_id.decode("utf-8", "replace")
            self.child(workflow_id, host, wire, lambda v, e: scheduler.wake(task, (v, e)))
            return False, ()

        def op_continue(task: Task, input_: Any) -> Any:
            try:
                wire = codec.to_json_value(engine.codec.to_python(input_, "input"))
                ev.check_size("the input of the next generation", wire)
            except UnitError as exc:  # a CodecError, or the size check
                message = f"workflow.continue_as_new: {exc.message}"
                return True, (None, state.new_error(INVALID, message))
            self.continue_with, self._continued = wire, True
            return False, ()  # never resumed: this generation ends with the step

        def op_upgrade(task: Task, raw_id: Any, args: Any) -> Any:
            entry_id = raw_id.decode("utf-8", "replace") if raw_id is not None else self.entry_id
            try:
                entry = engine.registry.find(entry_id)
                if not isinstance(entry, manifest.ProcessEntry) or not entry.method:
                    raise UnitError(
                        INVALID,
                        f"process.upgrade: '{entry_id}' is not a loop-style process.lua "
                        "(a process entry with method: main)",
                    )
                unpacked = state.k["unpack_args"](args)
                count, *values = unpacked if isinstance(unpacked, tuple) else (unpacked,)
                wire = [
                    codec.to_json_value(engine.codec.to_python(v, f"args[{i}]"))
                    for i, v in enumerate(values[:count], 1)
                ]
                self.upgrade(entry_id, wire)
            except CodecError as exc:
                return True, (None, state.new_error(INVALID, f"process.upgrade: {exc.message}"))
            except UnitError as exc:
                return True, (None, state.error_value(exc))
            return False, ()  # never resumed: the next generation runs the new code

        scheduler.ops[b"upgrade"] = op_upgrade
        scheduler.ops[b"call"] = op_call
        scheduler.ops[b"continue"] = op_continue
        scheduler.ops[b"async"] = op_async
        scheduler.ops[b"child"] = op_child

    def _attempt(
        self, activity: _Activity, attempt: int, deliver: Callable[[Any, Any], None]
    ) -> None:
        """Schedule one attempt; a retryable failure (a ``TIMEOUT`` past the attempt's
        deadline included) schedules a durable timer, then the next attempt. Both are commands
        issued while an outcome is delivered, so a replay issues them at the same point of the
        history."""
        engine, state = self.engine, self.engine.state

        def outcome(event: Event) -> None:
            activity.open = None
            if activity.canceled:
                return  # a late answer to an attempt of a canceled activity
            if event.type == ev.ACTIVITY_COMPLETED:
                value = engine.codec.to_lua(codec.from_json_value(event.fields.get("value")))
                deliver(value, None)
                return
            error = event.fields.get("error") or {}
            failure = UnitError.from_dict(error)
            if activity.plain:
                deliver(None, state.error_value(failure))  # a call's own error, as in Wippy
                return
            final = bool(error.get("final"))  # e.g. a result too large for the log
            delay = (
                None
                if final
                else next_delay(activity.policy, attempt, failure.kind, failure.retryable)
            )
            if delay is None:
                # What the workflow sees is the activity's own error, with the details Wippy
                # adds to an activity's failure (which activity, why it was not retried).
                spent = bool(activity.policy.maximum_attempts) and (
                    attempt >= activity.policy.maximum_attempts
                )
                failure.details = {
                    **failure.details,
                    "_wrapper": "activity",
                    "_activity_id": activity.id,
                    "_attempts": attempt,
                    "_retry_state": "MaximumAttemptsReached" if spent else "NonRetryableFailure",
                }
                deliver(None, state.error_value(failure))
                return
            fire_at = self.context.workflow_clock.now() + delay

            def retry(_fired: Event) -> None:
                activity.open = None
                if not activity.canceled:
                    self._attempt(activity, attempt + 1, deliver)

            timer = self.command(
                ev.TIMER_STARTED, "timer", {"fire_at": fire_at, "retry_of": event.cmd}, retry
            )
            timer.activity, activity.open = activity, timer

        fields: dict[str, Any] = {"id": activity.id, "args": activity.args, "attempt": attempt}
        if activity.timeout is not None:
            fields["timeout"] = activity.timeout
        if activity.queued:
            fields["queued"] = True
        command = self.command(ev.ACTIVITY_SCHEDULED, activity.id, fields, outcome)
        command.activity, activity.open = activity, command


@dataclass(eq=False)
class _Activity:
    """One activity call, the same for each of its attempts."""

    id: str
    args: list[Any]
    policy: Any
    #: Seconds an attempt may take from being scheduled to its outcome (None: no limit).
    timeout: float | None
    #: Never inline: a remote function, or ``activity.local = false``.
    queued: bool = False
    #: What it waits on now: the attempt in flight or the timer before the next one.
    open: _Command | None = None
    #: The code canceled its future; ``canceled``: the cancel is in effect (recorded).
    cancel_requested: bool = False
    canceled: bool = False
    #: A plain call of a loop-style process (one attempt, its error as it is).
    plain: bool = False


#: A plain call's policy: one attempt, never retried.
_ONE_ATTEMPT = manifest.RetryPolicy(maximum_attempts=1)


_KEY_FIELD = {
    ev.ACTIVITY_SCHEDULED: "id",
    ev.CHILD_STARTED: "id",
    ev.MESSAGE_SENT: "to",
    ev.ENVELOPE_SENT: "to",
}
_NOUN = {
    ev.ACTIVITY_SCHEDULED: "activity",
    ev.CHILD_STARTED: "child workflow",
    ev.MESSAGE_SENT: "a message to",
    ev.ENVELOPE_SENT: "a send to",
}


def _key(event: Event) -> str:
    field_name = _KEY_FIELD.get(event.type)
    return str(event.fields.get(field_name, "")) if field_name else "timer"


def _describe(event: Event) -> str:
    noun = _NOUN.get(event.type)
    return f"{noun} {_key(event)}" if noun else "a timer"


def _describe_command(command: _Command) -> str:
    noun = _NOUN.get(command.type)
    return f"{noun} {command.key}" if noun else "a timer"


__all__ = ["NonDeterminism", "Replay", "StepResult", "WorkflowContext"]
