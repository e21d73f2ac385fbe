"""The SQS driver of loop-style processes: a Wippy ``main`` as a durable coroutine.

A loop process is a :class:`~runtime.durable.replay.Replay` over its journal
(:class:`~runtime.durable.journal.Journal` under ``pk = "p#<pid>"``, beside its actor item).
Per batch, the worker turns the process's envelopes into input events (a message, an EXIT, a
link from another process...), resumes the coroutine it kept warm or replays the journal on a
cold worker, runs the ``funcs.call``\\ s the code made (their outcomes journaled: a replay never
runs them again), and appends the inputs and everything the code recorded in ONE conditional
``PutItem`` (a transaction with the actor item only at birth, at the end and at an upgrade).
Then it carries out the recorded envelopes (deterministic ids: SQS drops a re-sent one), arms
the next timer through the delay queue, and only then do the records count as done.

Exactly once: every input event keeps its envelope id; an id already in the journal is skipped,
and its batch's envelopes are sent again (the crash may have come before they went out). Two
workers on one process: the second append finds the chunk key taken (:class:`JournalConflict`)
and the batch is redone from the journal the winner wrote.

The actor item (``style: loop``) is the process's head: status, entry, service, parent, and
in ``state`` where its journal's current generation starts. It is what ``units ps``, monitors
of the dead and supervision read, exactly as for handler-style actors.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime import codec, manifest
from runtime.durable import attempts
from runtime.durable import events as ev
from runtime.durable.events import Event
from runtime.durable.inline import InlineRunner
from runtime.durable.journal import Journal, JournalConflict
from runtime.durable.replay import NonDeterminism, Replay
from runtime.durable.sticky import StickyCache
from runtime.errors import CANCELED, INTERNAL, INVALID, TIMEOUT, CodecError, UnitError
from runtime.processes import envelope as env
from runtime.processes.envelope import Envelope
from runtime.processes.loop_context import LoopContext
from runtime.processes.pids import host_of
from runtime.processes.store import (
    CRASHED,
    EXITED,
    RUNNING,
    OutboxEntry,
    Snapshot,
    StaleSnapshot,
)
from runtime.processes.turns import dead_replies, exit_notices, lua_event
from runtime.sandbox import ran_out_of_time

if TYPE_CHECKING:
    from runtime.processes.worker import ProcessWorker, _Group

logger = logging.getLogger("units.processes")

#: Processes kept warm per worker container (least recently used dropped first).
STICKY_PROCESSES = 1024
#: A journal generation past this many events logs a warning (a host's ``journal_warning``).
JOURNAL_WARNING = 10_000
#: Times a batch is redone after losing the append to another worker, before it is retried.
MAX_RACES = 3
#: Generations (``process.upgrade``) one batch may start and run in a row.
MAX_UPGRADES_PER_BATCH = 10


def is_loop_entry(entry: manifest.Entry | None) -> bool:
    """Whether ``entry`` is a loop-style ``process.lua`` (a ``method``, Wippy's form)."""
    return isinstance(entry, manifest.ProcessEntry) and bool(entry.method)


@dataclass
class _Warm:
    """A loop process as a worker holds it between batches."""

    head: Snapshot
    replay: Replay | None
    #: The journal's last seq, and where the current generation starts (the seq before it).
    last_seq: int = 0
    base: int = 0
    #: Envelope ids in the journal (this generation's and the ones its start carried), each
    #: with the seq of the first input of the batch that applied it.
    applied: dict[str, int] = field(default_factory=dict)
    #: The timer a wake is already on its way for.
    armed: float | None = None
    #: The ids of the messages given and not taken, as the last ``InboxUnread`` says.
    unread: list[str] = field(default_factory=list)
    warned: bool = False

    def close(self) -> None:
        if self.replay is not None:
            self.replay.close()


class LoopDriver:
    """Runs the loop processes of one worker's batches."""

    def __init__(self, worker: ProcessWorker, *, sticky: int = STICKY_PROCESSES) -> None:
        self.worker = worker
        self.engine = worker.engine
        self.system = worker.system
        self.host = worker.host
        self.stats = worker.stats
        store = self.system.store
        self.journal = Journal(store.client, store.table, "p#", noun="process")
        # A failed call is the process code's error value, not an activity retried by a policy.
        self.inline = InlineRunner(self.engine, log_failures=False)
        self.warm: StickyCache[_Warm] = StickyCache(sticky)
        host = self.system.registry.find(self.host)
        self.warn_at = int(getattr(host, "journal_warning", 0) or JOURNAL_WARNING)
        #: The longest journal generation of the processes run since it was last reset (the
        #: worker Lambda's ``JournalLength`` metric, per invocation).
        self.longest = 0
        self._upgrading = 0

    def owns(self, pid: str, head: Snapshot | None, envelopes: list[Envelope]) -> bool:
        """Whether ``pid`` is a loop process (kept warm, its head says so, or it is being
        born from a loop-style entry)."""
        if pid in self.warm:
            return True
        if head is not None:
            return head.style == "loop"
        first = envelopes[0] if envelopes else None
        if first is None or first.kind != env.SPAWN:
            return False
        return is_loop_entry(self.system.registry.find(str(first.fields.get("entry", ""))))

    def is_warm(self, pid: str) -> bool:
        return pid in self.warm

    # -- one process's batch ----------------------------------------------------------------------
    def run(self, group: _Group, head: Snapshot | None, *, loaded: bool = True) -> None:
        """Apply ``group``'s envelopes (``head``: the actor item, when ``loaded``); on failure
        ``group.failure`` says why (retried)."""
        for race in range(MAX_RACES):
            try:
                self._run(group, head, loaded=loaded and race == 0)
                return
            except JournalConflict:
                self.warm.forget(group.pid)
                self.stats.races += 1
            except Exception as exc:  # (a WorkerCrash is no Exception: it ends the batch)
                self.warm.forget(group.pid)
                logger.exception("batch of loop process %s failed", group.pid)
                group.failure = exc
                return
        group.failure = JournalConflict(f"{group.pid}: lost {MAX_RACES} appends in a row")

    def _run(self, group: _Group, head: Snapshot | None, *, loaded: bool) -> None:
        pid = group.pid
        warm = self.warm.take(pid)
        if warm is None:
            if not loaded:  # (else the worker read it, and counted the miss)
                self.stats.cache_misses += 1
                head = self.system.store.load(pid)
                self.stats.store_reads += 1
            warm = self._cold(pid, head, group.envelopes)
            if warm is None:
                return
        else:
            self.stats.cache_hits += 1
        fresh: list[Envelope] = []
        redone: set[int] = set()
        seen = set(warm.applied)
        for envelope in group.envelopes:
            if envelope.id in seen:
                redone.add(warm.applied[envelope.id])
            else:
                seen.add(envelope.id)
                fresh.append(envelope)
        if redone:
            self._resend(warm, min(redone))
        if warm.head.status != RUNNING:
            self.worker._answer_for_the_dead(warm.head, fresh)
            return
        if fresh and fresh[0].kind == env.SPAWN and warm.last_seq > 0:
            fresh = fresh[1:]  # a second spawn of a live pid (a repeated service start)
        if not fresh:
            self.warm.keep(pid, warm)
            return
        try:
            self._batch(warm, fresh)
        except BaseException:
            # A lost race, a failed call, a killed worker: the coroutine is dropped (the next
            # batch replays the journal), never kept half-advanced.
            if warm.replay is not None and pid not in self.warm:
                warm.replay.close()
            raise

    def _cold(self, pid: str, head: Snapshot | None, envelopes: list[Envelope]) -> _Warm | None:
        """The process as its journal has it (its replay not run yet), or a newborn's; None
        for a pid that never was (answered for)."""
        if head is None:
            spawn = envelopes[0] if envelopes and envelopes[0].kind == env.SPAWN else None
            if spawn is None:
                self.worker._answer_for_the_dead(None, envelopes)
                return None
            return self._newborn(spawn)
        base = int(json.loads(head.state or "{}").get("base", 0))
        history = self.journal.load(pid, after=base)
        self.stats.store_reads += 1
        warm = _Warm(head, None, history[-1].seq if history else base, base)
        if head.status == RUNNING:
            warm.replay = self._replay(head, history)
        # (An ended one too: a redelivery of its last batch must be known, and re-sent.)
        self._learn(warm, history)
        return warm

    def _newborn(self, spawn: Envelope) -> _Warm:
        fields = spawn.fields
        head = self.worker._newborn(spawn)
        head.style, head.state = "loop", json.dumps({"base": 0})
        started: dict[str, Any] = {
            "entry": head.entry,
            "args": fields.get("args") or [],
            "links": list(head.links),
            "monitors": list(head.monitors),
            "taken": [spawn.id],
        }
        if fields.get("name"):
            started["names"] = [str(fields["name"])]
        warm = _Warm(head, None)
        history = [Event(ev.PROCESS_STARTED, head.started, started, seq=1)]
        warm.replay = self._replay(head, history)
        return warm

    def _replay(self, head: Snapshot, history: list[Event]) -> Replay:
        entry = str(history[0].fields.get("entry") or head.entry)
        replay = Replay(self.engine, entry, head.pid, history, self.host)
        replay.plain_calls = True
        context = LoopContext(self.system, replay, head.pid, self.engine.workflows)
        replay.process_context = context
        replay.input_handlers.update(
            {
                ev.EVENT_RECEIVED: lambda e: self._on_event(replay, context, e),
                ev.CONTROL_RECEIVED: lambda e: context.controlled(
                    str(e.fields["control"]), str(e.fields["from"])
                ),
                ev.TERMINATE_RECEIVED: lambda e: replay.kill(
                    {
                        "kind": CANCELED,
                        "message": f"terminated by {e.fields.get('from') or 'a function'}",
                    }
                ),
            }
        )
        return replay

    # -- inputs ---------------------------------------------------------------------------------
    def _input(self, envelope: Envelope, now: float) -> Event | None:
        """The journal event of one envelope (None: it carries nothing for the code)."""
        base = {"id": envelope.id, "from": envelope.sender}
        kind = envelope.kind
        if kind == env.MESSAGE:
            fields = {**base, "topic": envelope.topic, "payload": envelope.fields.get("payload")}
            return Event(ev.MESSAGE_RECEIVED, now, fields)
        if kind == env.EVENT:
            fields = {**base, "event": envelope.event}
            for name in ("result", "reason"):
                if envelope.fields.get(name) is not None:
                    fields[name] = envelope.fields[name]
            return Event(ev.EVENT_RECEIVED, now, fields)
        if kind in (env.LINK, env.UNLINK, env.MONITOR, env.UNMONITOR):
            return Event(ev.CONTROL_RECEIVED, now, {**base, "control": kind})
        if kind == env.TERMINATE:
            return Event(ev.TERMINATE_RECEIVED, now, base)
        return None  # a wake: the due timers fire when the code runs on

    def _on_event(self, replay: Replay, context: LoopContext, event: Event) -> None:
        """An EXIT, LINK_DOWN or CANCEL for the code (``process.events()``), as Wippy gives
        it; a LINK_DOWN the process does not trap takes it down."""
        fields = event.fields
        name, sender = str(fields.get("event", "")), fields.get("from")
        if name == env.LINK_DOWN:
            context.unlinked(str(sender))
            if not context.trap_links:
                replay.kill({"kind": CANCELED, "message": f"linked process {sender} went down"})
                return
        value = lua_event(self.engine, name, sender, fields.get("result"), fields.get("reason"))
        waiter = context.exec_waiters.pop(str(sender), None) if name == env.EXIT else None
        if waiter is not None:
            replay.scheduler.offer(waiter, value)  # type: ignore[union-attr]
            return
        replay.post_lua_event(value)

    # -- the batch --------------------------------------------------------------------------------
    def _batch(self, warm: _Warm, fresh: list[Envelope]) -> None:
        pid = warm.head.pid
        replay = warm.replay
        assert replay is not None
        # Journal time never goes back (another container's clock may be behind).
        now = max(self.system.clock.now(), replay.context.workflow_clock.now())
        newborn = warm.last_seq == 0
        inputs = [e for e in (self._input(x, now) for x in fresh) if e is not None]
        if inputs:
            inputs[0].fields[_FIRST] = True
            if len(inputs) > 1:
                inputs[0].fields[ev.BATCH] = len(inputs)
            if newborn:
                inputs[0].fields[ev.AT_START] = True  # there before the code first looks
        events: list[Event] = [replay.history[0]] if newborn else []
        first_new = warm.last_seq + 1
        if newborn:
            try:
                self.system.check_process_entry(warm.head.entry)
                for name in replay.history[0].fields.get("names") or ():
                    self.system.store.register(name, pid)
            except UnitError as exc:
                replay.close()
                replay.history[0].fields["names"] = []
                self._end(warm, newborn, now, inputs, exc.to_dict())
                return
        try:
            result = self._advance(replay, pid, inputs, now, events, 1 if newborn else first_new)
        except (UnitError, CodecError) as exc:
            # The code could not be run or replayed (it fails to load, it no longer does what
            # its journal says after a deploy): the process crashes with the reason, its
            # journal as it was.
            replay.close()
            error = _error_of(exc)
            logger.error("loop process %s crashed: %s", pid, error["message"])
            self._end(warm, newborn, now, inputs, error)
            return
        if result.status == "running":
            self._mark_unread(warm, events, now)
        _number(events, 1 if newborn else first_new)
        if result.status == "running":
            try:
                self._append(warm, events, newborn)
            except UnitError as exc:  # an event too large for the journal: nothing written
                replay.close()
                logger.error("loop process %s crashed: %s", pid, exc.message)
                self._end(warm, newborn, now, [], exc.to_dict())
                return
            self._after(warm, events, result.next_timer, now)
            return
        if result.status == "continued":
            self._upgrade(warm, events, result, inputs, now)
            return
        replay.close()
        status = EXITED if result.status == "completed" else CRASHED
        # What came in the batch after the end: a link or monitor from another process is
        # answered for the dead (LINK_DOWN, EXIT), a message is dropped, as for any dead one.
        used = {e.fields.get("id") for e in events}
        unanswered = [e for e in fresh if e.id not in used and e.kind != env.SPAWN]
        try:
            self._finish(warm, events, status, result.result, result.error, unanswered)
        except UnitError as exc:  # an event too large for the journal: nothing written
            logger.error("loop process %s crashed: %s", pid, exc.message)
            self._end(warm, newborn, now, [], exc.to_dict())

    def _advance(
        self,
        replay: Replay,
        pid: str,
        inputs: list[Event],
        now: float,
        events: list[Event],
        first_seq: int,
    ) -> Any:
        """Resume the coroutine with ``inputs`` and run the calls it makes until it waits for
        something else (or ends); ``events`` gets what to journal, in order. The last step's
        result."""
        result = replay.resume(inputs, now)
        events += inputs[: len(inputs) - result.unused] + result.new_events
        while result.status == "running":
            todo = replay.open_inline()
            if not todo:
                break
            _number(events, first_seq)  # a call's idempotency key is its event's seq
            outcomes = self._calls(pid, todo)
            events += outcomes
            result = replay.resume(outcomes, max(now, outcomes[-1].time))
            events += result.new_events
        return result

    def _calls(self, pid: str, scheduled: list[Event]) -> list[Event]:
        """Run the ``funcs.call``\\ s the code made (its coroutine waits meanwhile): the app's
        own functions on this engine, concurrently; a ``remote`` one by invoking its Lambda.
        Their outcome events, in command order, to journal."""
        engine = self.engine
        remote = [e for e in scheduled if engine.is_remote(engine.function_entry(e.fields["id"]))]
        local = [e for e in scheduled if e not in remote]
        outcomes = dict(zip((e.cmd for e in local), self.inline.run(pid, local, None), strict=True))
        for event in remote:
            name = event.fields["id"]
            context = attempts.context(pid, attempts.key(pid, event.seq), 1)
            value, error = None, None
            try:
                if engine.remote is None:
                    raise UnitError(INTERNAL, f"{name} is remote and no remote invoker is set")
                value = engine.remote(name, codec.from_json_value(event.fields["args"]), context)
            except UnitError as exc:
                error = exc
            except Exception as exc:  # a transport failure is the caller's INTERNAL error
                error = UnitError(INTERNAL, f"invoking {name}: {exc}")
            event_type, fields = attempts.outcome(
                name, event.cmd, value, error, None, run_id=pid, attempt=1, logged=False
            )
            outcomes[event.cmd] = Event(event_type, self.system.clock.now(), fields)
        return [outcomes[e.cmd] for e in scheduled]

    def _mark_unread(self, warm: _Warm, events: list[Event], now: float) -> None:
        """Note the messages the code has not taken, when that changed (it costs nothing but
        the bytes: it rides in the batch's append)."""
        assert warm.replay is not None
        unread = [str(f["id"]) for f in warm.replay.unread_signals() if "id" in f]
        if unread != warm.unread:
            events.append(Event(ev.INBOX_UNREAD, now, {"ids": unread}))
            warm.unread = unread

    def _append(self, warm: _Warm, events: list[Event], newborn: bool) -> None:
        pid = warm.head.pid
        self.worker._check("before_commit", pid)
        if newborn:
            self._transact(pid, events, warm.head, first=True)
        else:
            self.journal.append(pid, events)
        self.stats.store_writes += 1
        self._learn(warm, events)

    def _learn(self, warm: _Warm, events: list[Event]) -> None:
        start = 0
        for event in events:
            if event.type == ev.PROCESS_STARTED:
                for ident in event.fields.get("taken") or ():
                    warm.applied[str(ident)] = event.seq
            if event.fields.get(_FIRST):
                start = event.seq
            ident = event.fields.get("id")
            if ident is not None and event.type in _INPUTS:
                warm.applied[str(ident)] = start or event.seq
            if event.type == ev.INBOX_UNREAD:
                warm.unread = list(event.fields.get("ids") or [])
        if events:
            warm.last_seq = events[-1].seq
        length = warm.last_seq - warm.base
        self.longest = max(self.longest, length)
        if length > self.warn_at and not warm.warned:
            warm.warned = True
            logger.warning(
                "loop process %s: its journal holds %d events (over %d): a cold worker "
                "replays them all; call process.upgrade(nil, state) to start a new generation",
                warm.head.pid,
                length,
                self.warn_at,
            )

    def _after(
        self, warm: _Warm, events: list[Event], next_timer: float | None, now: float
    ) -> None:
        pid = warm.head.pid
        self.worker._check("after_commit", pid)
        outbox = _outbox(events)
        if next_timer is not None and next_timer != warm.armed:
            wake = Envelope(env.WAKE, pid, f"wake|{warm.base}|{next_timer!r}")
            outbox.append(self.system.outbox_entry(wake, max(0.001, next_timer - now)))
            warm.armed = next_timer
        if outbox:
            self.stats.sqs_calls += self.system.mailboxes.send(outbox)
        self.worker._check("after_send", pid)
        self.warm.keep(pid, warm)

    def _resend(self, warm: _Warm, batch_start: int) -> None:
        """Send again the envelopes of the batches from ``batch_start`` on (a redelivery of
        what the journal has: its sends may not have gone out)."""
        events = self.journal.load(warm.head.pid, after=batch_start - 1)
        self.stats.store_reads += 1
        outbox = _outbox(events)
        if warm.head.status != RUNNING:
            # The end was written; what follows it may not have happened.
            if warm.head.expires is not None:
                self.journal.expire(warm.head.pid, warm.head.expires)
            for name in warm.head.names:
                self.system.store.unregister(name, warm.head.pid)
            outbox += self._endings(warm.head)
        if outbox:
            self.stats.sqs_calls += self.system.mailboxes.send(outbox)

    # -- endings --------------------------------------------------------------------------------
    def _finish(
        self,
        warm: _Warm,
        events: list[Event],
        status: str,
        result: Any,
        error: Any,
        unanswered: Sequence[Envelope] = (),
    ) -> None:
        head = warm.head
        context = warm.replay.process_context if warm.replay is not None else None
        if context is not None:
            head.links, head.monitors = list(context.links), list(context.monitors)
            head.names, head.trap_links = list(context.names), context.trap_links
        head.status = status
        head.result = result if status == EXITED else None
        head.error = error if status != EXITED else None
        head.version += 1
        head.expires = self.worker._expires(head)
        pid = head.pid
        self.worker._check("before_commit", pid)
        self._transact(pid, events, head, first=warm.last_seq == 0)
        self.stats.store_writes += 1
        self.worker._check("after_commit", pid)
        if head.expires is not None:
            self.journal.expire(pid, head.expires)  # the journal goes with its actor item
        for name in head.names:
            self.system.store.unregister(name, pid)
        outbox = _outbox(events) + self._endings(head)
        outbox += dead_replies(self.system, head, list(unanswered))
        if outbox:
            self.stats.sqs_calls += self.system.mailboxes.send(outbox)
        self.worker._check("after_send", pid)
        warm.replay = None
        self._learn(warm, events)
        self.warm.keep(pid, warm)

    def _endings(self, head: Snapshot) -> list[OutboxEntry]:
        return exit_notices(self.system, head) + self.worker._supervise(head)

    def _end(
        self, warm: _Warm, newborn: bool, now: float, inputs: list[Event], error: dict[str, Any]
    ) -> None:
        """Crash the process without its code: its journal stays, plus the inputs it was
        given and the ending."""
        started = [warm.replay.history[0]] if newborn and warm.replay is not None else []
        ending = Event(ev.PROCESS_CRASHED, now, {"error": error})
        events = [*started, *inputs, ending]
        _number(events, 1 if newborn else warm.last_seq + 1)
        try:
            self._finish(warm, events, CRASHED, None, error)
        except UnitError:  # the inputs do not fit in the journal: the ending alone
            events = [*started, ending]
            _number(events, 1 if newborn else warm.last_seq + 1)
            self._finish(warm, events, CRASHED, None, error)

    def _upgrade(
        self, warm: _Warm, events: list[Event], result: Any, inputs: list[Event], now: float
    ) -> None:
        """``process.upgrade``: this generation ends, the next starts in the same append (same
        pid, links, monitors, names; the messages the old code did not take carried over)."""
        replay = warm.replay
        assert replay is not None
        context = replay.process_context
        carried = replay.unread_signals()
        unused = inputs[len(inputs) - result.unused :] if result.unused else []
        carried += [
            {k: v for k, v in e.fields.items() if k not in (ev.BATCH, ev.AT_START, _FIRST)}
            for e in unused
            if e.type == ev.MESSAGE_RECEIVED
        ]
        ended = events[-1]
        entry = str(result.result.get("entry") or warm.head.entry)
        started: dict[str, Any] = {
            "entry": entry,
            "args": result.result.get("args") or [],
            "links": list(context.links),
            "monitors": list(context.monitors),
            "names": list(context.names),
            "trap_links": context.trap_links,
            "generation": int(replay.history[0].fields.get("generation", 1)) + 1,
            "taken": list(warm.applied)[-1000:],
        }
        if carried:
            started[ev.CARRIED] = carried
        begin = Event(ev.PROCESS_STARTED, ended.time, started, seq=ended.seq + 1)
        replay.close()
        head = warm.head
        head.entry = entry
        head.state = json.dumps({"base": ended.seq})
        head.version += 1
        pid = head.pid
        self.worker._check("before_commit", pid)
        self._transact(pid, [*events, begin], head, first=warm.last_seq == 0)
        self.stats.store_writes += 1
        self._learn(warm, events)
        warm.base = ended.seq
        warm.last_seq = begin.seq
        warm.applied = {str(i): begin.seq for i in started["taken"]}
        warm.armed = None
        self.worker._check("after_commit", pid)
        outbox = _outbox(events)
        if outbox:
            self.stats.sqs_calls += self.system.mailboxes.send(outbox)
        # The new generation runs up to its first wait at once.
        warm.replay = self._replay(head, [begin])
        if self._upgrading >= MAX_UPGRADES_PER_BATCH:
            # Code that upgrades at once, again and again: the next generation runs in the
            # next batch (a wake to itself), so one batch never runs without end.
            wake = Envelope(env.WAKE, pid, f"wake|{begin.seq}|upgrade")
            self.stats.sqs_calls += self.system.mailboxes.send([self.system.outbox_entry(wake)])
            self.warm.keep(pid, warm)
            return
        self._upgrading += 1
        try:
            self._batch(warm, [])
        finally:
            self._upgrading -= 1

    # -- writes ----------------------------------------------------------------------------------
    def _transact(self, pid: str, events: list[Event], head: Snapshot, *, first: bool) -> None:
        """The events and the head in one transaction (earlier chunks of a long append by
        themselves first): a journal never exists without its head, nor a head that says more
        than its journal."""
        chunks = self.journal.chunks(pid, events) if events else []
        for chunk in chunks[:-1]:
            self.journal.put_chunk(pid, *chunk)
        puts = [self.journal.chunk_put(pid, *chunk) for chunk in chunks[-1:]]
        try:
            self.system.store.commit_with(head, puts, first=first)
        except StaleSnapshot:
            raise JournalConflict(pid) from None


#: Input events (each holds its envelope ``id``).
_INPUTS = frozenset(
    {ev.MESSAGE_RECEIVED, ev.EVENT_RECEIVED, ev.CONTROL_RECEIVED, ev.TERMINATE_RECEIVED}
)
#: On the first input event of a batch.
_FIRST = "first"


def _number(events: list[Event], start: int) -> None:
    for i, event in enumerate(events, start=start):
        event.seq = i


def _outbox(events: list[Event]) -> list[OutboxEntry]:
    """The envelopes ``events`` recorded, as the sends that carry them out."""
    return [
        OutboxEntry(
            host_of(str(e.fields["to"])),
            str(e.fields["to"]),
            str(e.fields["body"]),
            str(e.fields["id"]),
            float(e.fields.get("delay", 0.0)),
        )
        for e in events
        if e.type == ev.ENVELOPE_SENT
    ]


def _error_of(exc: UnitError | CodecError) -> dict[str, Any]:
    if isinstance(exc, NonDeterminism):
        return exc.to_dict()
    if isinstance(exc, CodecError):
        return {"kind": INVALID, "message": exc.message}
    kind = exc.kind
    if ran_out_of_time(exc.message):
        kind = TIMEOUT
    return {**exc.to_dict(), "kind": kind}
