"""The worker of one process host: an SQS batch in, turns run, one commit per actor, outbox out.

Per batch, records are grouped by ``MessageGroupId`` (the pid). Each actor's new envelopes are
applied in one turn; all turns of the batch run on one scheduler, so an actor waiting in
``time.sleep`` or ``funcs.call`` lets the others go on. Then, per actor: one conditional write
(state, version, applied envelope ids, outbox), the outbox sends, and only then success for its
records. A crash anywhere before that leaves the records to be redelivered; the applied ids make
the redelivery a no-op apart from re-sending the outbox, which SQS deduplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from runtime import codec, manifest
from runtime.aws.dynamodb import expires_at
from runtime.engine import Invocation
from runtime.errors import CANCELED, INVALID, CodecError, UnitError
from runtime.processes import envelope as env
from runtime.processes.envelope import Envelope, EnvelopeError
from runtime.processes.pids import service_pid
from runtime.processes.store import (
    RUNNING,
    OutboxEntry,
    Snapshot,
    SnapshotTooLarge,
    StaleSnapshot,
)
from runtime.processes.supervision import SUPERVISOR_ID, spec, tree_children, tree_host
from runtime.processes.system import ProcessSystem
from runtime.processes.turns import Turn, dead_replies, reply_id

logger = logging.getLogger("units.processes")

#: Where a fault hook may stop the worker, in the order a turn passes them.
FAULT_POINTS = ("in_handler", "before_commit", "after_commit", "after_send")
FaultHook = Callable[[str, str], bool]
_MAX_RACES = 3


class WorkerCrash(BaseException):
    """The worker died (fault injection): nothing after this point happens, as in a killed Lambda.

    A BaseException so that no ``except Exception`` on the way can mistake it for an error.
    """


class NotDue(Exception):
    """A held delayed message is not due yet: it stays in the delay queue."""


@dataclass
class WorkerStats:
    """Counters of the AWS calls and cache use of one worker (the bill, per unit of work)."""

    batches: int = 0
    turns: int = 0
    store_reads: int = 0
    store_writes: int = 0
    sqs_calls: int = 0
    cache_hits: int = 0
    cache_misses: int = 0
    races: int = 0


@dataclass
class _Cached:
    snapshot: Snapshot
    lua_state: Any


@dataclass
class _Group:
    pid: str
    records: list[SQSRecord]
    envelopes: list[Envelope] = field(default_factory=list)
    #: Records that are not envelopes, by position: they fail alone (and reach the DLQ), since
    #: they can never be applied and must not hold the actor's real messages back.
    poison: dict[int, BaseException] = field(default_factory=dict)
    #: Why the actor's turn failed: every other record of the group is retried, in order.
    failure: BaseException | None = None


class ProcessWorker:
    """Consumes one host's queue. Keeps a warm cache of actors, used while its version holds."""

    def __init__(
        self,
        engine: Any,
        system: ProcessSystem,
        host: str,
        *,
        fault: FaultHook | None = None,
    ) -> None:
        self.engine = engine
        self.system = system
        self.host = host
        self.fault = fault
        self.cache: dict[str, _Cached] = {}
        self.stats = WorkerStats()
        self._supervisor: Any = None
        from runtime.processes.loop import LoopDriver

        #: Loop-style processes (Wippy's ``main``), durable coroutines over their journals.
        self.loops = LoopDriver(self)

    # -- the batch ------------------------------------------------------------------------------
    def handle(self, records: list[SQSRecord]) -> list[BaseException | None]:
        """Process a batch; per record, None (done: delete it) or why it must be retried."""
        self.stats.batches += 1
        outcomes: list[BaseException | None] = [None] * len(records)
        groups: dict[str, _Group] = {}
        index: dict[int, tuple[str, int]] = {}
        for i, record in enumerate(records):
            group_id = record.attributes.message_group_id
            if group_id is None:  # the delay queue: forward what is due
                outcomes[i] = self._forward_delayed(record)
                continue
            group = groups.setdefault(group_id, _Group(group_id, []))
            index[i] = (group_id, len(group.records))
            group.records.append(record)
        for group in groups.values():
            self._parse(group)
        self._run(list(groups.values()), races=0)
        for i, (group_id, position) in index.items():
            group = groups[group_id]
            if position in group.poison:
                outcomes[i] = group.poison[position]
            elif group.failure is not None:
                outcomes[i] = group.failure
        return outcomes

    def _forward_delayed(self, record: SQSRecord) -> BaseException | None:
        try:
            if not self.system.mailboxes.forward_if_due(record.body):
                return NotDue("not due yet")
            self.stats.sqs_calls += 1
        except Exception as exc:
            return exc
        return None

    def _parse(self, group: _Group) -> None:
        for position, record in enumerate(group.records):
            try:
                envelope = Envelope.from_body(record.body)
                if envelope.to != group.pid:
                    raise EnvelopeError(f"envelope to {envelope.to} in the group of {group.pid}")
            except EnvelopeError as exc:
                logger.error("poison message %s: %s", record.message_id, exc)
                group.poison[position] = exc
                continue
            group.envelopes.append(envelope)

    # -- turns --------------------------------------------------------------------------------
    def _run(self, groups: list[_Group], races: int) -> None:
        turns: list[tuple[_Group, Turn]] = []
        for group in groups:
            if not group.envelopes:
                continue
            try:
                if self.loops.is_warm(group.pid):
                    self.loops.run(group, None, loaded=False)
                    continue
                snapshot, lua_state = self._load(group.pid)
                if self.loops.owns(group.pid, snapshot, group.envelopes):
                    self.loops.run(group, snapshot)
                    continue
                planned = self._plan(group, snapshot, lua_state)
            except Exception as exc:  # (a WorkerCrash is no Exception: it ends the batch)
                group.failure = exc
                continue
            if planned is not None:
                turns.append(planned)
        self._execute(turns)
        stale = []
        for group, turn in turns:
            try:
                self._commit_and_deliver(turn)
            except StaleSnapshot:
                self.cache.pop(group.pid, None)
                self.stats.races += 1
                stale.append(group)
            except Exception as exc:
                self.cache.pop(group.pid, None)
                logger.exception("turn of %s failed", group.pid)
                group.failure = exc
        if stale:
            if races + 1 >= _MAX_RACES:
                for group in stale:
                    group.failure = StaleSnapshot(group.pid)
            else:
                self._run(stale, races + 1)

    def _load(self, pid: str) -> tuple[Snapshot | None, Any]:
        # Taken out, not read: the turn mutates the Lua state in place, so the entry comes back
        # only with a commit that makes it true again.
        cached = self.cache.pop(pid, None)
        if cached is not None:
            self.stats.cache_hits += 1
            return cached.snapshot, cached.lua_state
        self.stats.cache_misses += 1
        self.stats.store_reads += 1
        return self.system.store.load(pid), None

    def _plan(
        self, group: _Group, snapshot: Snapshot | None, lua_state: Any
    ) -> tuple[_Group, Turn] | None:
        applied = set(snapshot.applied) if snapshot is not None else set()
        fresh = []
        for envelope in group.envelopes:
            if envelope.id not in applied:  # also drops a duplicate within this batch
                applied.add(envelope.id)
                fresh.append(envelope)
        redelivered = snapshot is not None and any(
            e.id in snapshot.applied for e in group.envelopes
        )
        if redelivered and snapshot is not None:
            # A redelivery of what was committed: its sends may not have gone out.
            self._deliver(snapshot)
        if not fresh:
            return None
        if snapshot is None:
            spawn = fresh[0] if fresh[0].kind == env.SPAWN else None
            if spawn is None:
                self._answer_for_the_dead(None, fresh)
                return None
            snapshot = self._newborn(spawn)
        elif snapshot.status != RUNNING:
            self._answer_for_the_dead(snapshot, fresh)
            return None
        elif fresh[0].kind == env.SPAWN:
            # A second spawn of a live pid (a repeated service start): applied as nothing.
            fresh[0] = Envelope("duplicate", snapshot.pid, fresh[0].id)
        turn = Turn(self.system, snapshot, fresh)
        if snapshot.version == 0:
            self._prepare_newborn(turn, fresh[0])
        else:
            turn.lua_state = (
                lua_state
                if lua_state is not None
                else self.engine.codec.to_lua(codec.loads(snapshot.state), "state")
            )
        return group, turn

    def _newborn(self, spawn: Envelope) -> Snapshot:
        fields = spawn.fields
        return Snapshot(
            pid=spawn.to,
            entry=str(fields.get("entry", "")),
            host=self.host,
            links=list(fields.get("links") or []),
            monitors=list(fields.get("monitors") or []),
            service=fields.get("service"),
            generation=int(fields.get("generation") or 0),
            attempt=int(fields.get("attempt") or 0),
            started=self.system.clock.now(),
            parent=spawn.sender,
            context=codec.from_json_value(fields.get("context") or {}),
        )

    def _prepare_newborn(self, turn: Turn, spawn: Envelope) -> None:
        name = spawn.fields.get("name")
        try:
            self.system.check_process_entry(turn.snapshot.entry)
            if name:
                self.system.store.register(str(name), turn.snapshot.pid)
                turn.snapshot.names.append(str(name))
        except UnitError as exc:
            turn.crash_before_start(exc.kind, exc.message)

    def _answer_for_the_dead(self, snapshot: Snapshot | None, envelopes: list[Envelope]) -> None:
        replies = dead_replies(self.system, snapshot, envelopes)
        dropped = [e for e in envelopes if e.kind in (env.MESSAGE, env.EVENT)]
        if dropped:
            state = snapshot.status if snapshot else "unknown"
            logger.warning(
                "dropped %d message(s) to %s process %s", len(dropped), state, envelopes[0].to
            )
        if replies:
            self.stats.sqs_calls += self.system.mailboxes.send(replies)

    def _execute(self, turns: list[tuple[_Group, Turn]]) -> None:
        runnable = [turn for _, turn in turns if turn.error is None]
        if not runnable:
            return
        engine, state = self.engine, self.engine.state
        scheduler = engine.new_scheduler()
        scheduler.ops[b"crash"] = self._crash_op
        tasks = []
        for turn in runnable:
            try:
                actor = self._actor_table(turn.snapshot.entry)
            except UnitError as exc:
                turn.crash_before_start(exc.kind, exc.message)
                continue
            pid = turn.snapshot.pid
            items = turn.lua_items(engine)
            trapping = state.wrap(lambda snap=turn.snapshot: snap.trap_links)
            checkpoint = state.wrap(lambda i, pid=pid: self._should_crash("in_handler", pid))
            task = scheduler.spawn(
                state.k["actor_turn"],
                (actor, turn.lua_state, items, trapping, checkpoint),
                budget=engine.new_budget(),
                ctx=engine.codec.to_lua(turn.snapshot.context or {}, "context"),
                name=pid,
                data=turn.context,
            )
            tasks.append((turn, task))
        state.limit_memory(engine.limits.memory_bytes * max(1, len(tasks)))
        try:
            with engine.running(scheduler, Invocation(self.host, {})):
                scheduler.run_until(lambda: all(task.done for _, task in tasks))
        finally:
            state.unlimit_memory()
            scheduler.close()
        for turn, task in tasks:
            self.stats.turns += 1
            if task.failed:
                error = engine.error_from_task(task, turn.snapshot.pid)
                turn.crash_before_start(error.kind, error.message)
            else:
                turn.lua_state = turn.record(engine, task.values)

    def _crash_op(self, task: Any) -> Any:
        raise WorkerCrash(f"worker killed in the handler of {task.name}")

    def _should_crash(self, point: str, pid: str) -> bool:
        return bool(self.fault is not None and self.fault(point, pid))

    def _check(self, point: str, pid: str) -> None:
        if self._should_crash(point, pid):
            raise WorkerCrash(f"worker killed at {point} of {pid}")

    def _actor_table(self, entry_id: str) -> Any:
        entry = self.system.check_process_entry(entry_id)
        if entry_id == SUPERVISOR_ID:
            if self._supervisor is None:
                from runtime.engine import EntryRuntime

                self._supervisor = EntryRuntime(self.engine, entry)
            return self._supervisor.value
        value = self.engine.entry_runtime(entry.id).value
        get = self.engine.state.get
        if (
            self.engine.lua_type(value) != "table"
            or self.engine.lua_type(get(value, b"handle")) != "function"
        ):
            raise UnitError(
                INVALID,
                f"{entry_id} does not return a table with a handle(state, msg) function; a "
                "handler-style actor exports init/handle/on_event (a loop-style process "
                "names its main with method: main)",
            )
        return value

    # -- commit and delivery -------------------------------------------------------------------
    def _commit_and_deliver(self, turn: Turn) -> None:
        pid = turn.snapshot.pid
        expected = turn.snapshot.version
        lua_state = turn.lua_state
        state_json = None
        if lua_state is not None:
            try:
                state_json = codec.dumps(self.engine.codec.to_python(lua_state, "state"))
            except CodecError as exc:
                turn._crash(INVALID, f"the state cannot be saved: {exc.message}")
        self._check("before_commit", pid)
        snapshot = turn.finish(state_json)
        snapshot.outbox += self._supervise(snapshot)
        snapshot.expires = self._expires(snapshot)
        try:
            self.system.store.commit(snapshot, expected)
        except SnapshotTooLarge as exc:
            snapshot = self._crash_too_large(turn, expected, str(exc))
        self.stats.store_writes += 1
        self._check("after_commit", pid)
        self._deliver(snapshot)
        self._check("after_send", pid)
        if snapshot.status == RUNNING:
            self.cache[pid] = _Cached(snapshot.copy(), lua_state)

    def _crash_too_large(self, turn: Turn, expected: int, message: str) -> Snapshot:
        # Keep the last state that fit; the actor stops with the reason.
        turn.snapshot.version = expected
        turn.snapshot.state = turn.base_state
        turn._crash(INVALID, message)
        snapshot = turn.finish(None)
        snapshot.outbox += self._supervise(snapshot)
        snapshot.expires = self._expires(snapshot)
        self.system.store.commit(snapshot, expected)
        return snapshot

    def _expires(self, snapshot: Snapshot) -> int | None:
        """The TTL of an actor that has ended (None while it runs)."""
        if snapshot.status == RUNNING:
            return None
        return expires_at(self.system.registry, snapshot.host, self.system.clock.now())

    def _deliver(self, snapshot: Snapshot) -> None:
        # Names first: whoever gets the EXIT may restart the process under the same name.
        if snapshot.status != RUNNING:
            for name in snapshot.names:
                self.system.store.unregister(name, snapshot.pid)
        if snapshot.outbox:
            self.stats.sqs_calls += self.system.mailboxes.send(snapshot.outbox)

    # -- services --------------------------------------------------------------------------------
    def _supervise(self, snapshot: Snapshot) -> list[OutboxEntry]:
        """A stopped service's restart, as a delayed spawn of its next generation."""
        if snapshot.status == RUNNING or not snapshot.service:
            return []
        service = self.system.registry.find(snapshot.service)
        if not isinstance(service, manifest.ServiceEntry):
            return []
        start = service_start(self.system.registry, service)
        if start is None:
            return []
        policy = service.lifecycle.restart
        crashed = snapshot.status != "exited"
        abnormal = crashed and (snapshot.error or {}).get("kind") != CANCELED
        if policy.type == "temporary" or (policy.type == "transient" and not abnormal):
            return []
        # A run at least as long as the longest backoff counts as a recovery: the restart
        # count (and with it the backoff) starts over, so rare crashes never exhaust it.
        lived = self.system.clock.now() - snapshot.started
        previous = 0 if lived >= policy.max_delay else snapshot.attempt
        attempt = previous + 1
        if policy.max_attempts and attempt > policy.max_attempts:
            logger.error("service %s gave up after %d restarts", service.id, policy.max_attempts)
            return []
        delay = min(policy.max_delay, policy.initial_delay * policy.backoff_factor**previous)
        generation = snapshot.generation + 1
        process, host, args = start
        spawn = self.system.spawn_envelope(
            process,
            host,
            args,
            ident=reply_id(f"{snapshot.pid}|{generation}", "restart"),
            sender=None,
            name=service.registry_name,
            service=service.id,
            generation=generation,
            attempt=attempt,
            pid=service_pid(host, service.id, generation),
        )
        return [self.system.outbox_entry(spawn, delay)]


def service_start(
    registry: manifest.Registry, service: manifest.ServiceEntry
) -> tuple[str, str, list[Any]] | None:
    """What a service runs: its process, or the kit's supervisor for a tree."""
    if service.children:
        return SUPERVISOR_ID, tree_host(registry, service), [spec(registry, service)]
    if service.process and service.host:
        return service.process, service.host, list(service.args)
    return None


def start_services(system: ProcessSystem) -> list[str]:
    """Spawn every auto-started ``process.service`` (idempotent: generation 0 has a fixed pid,
    and a spawn to an existing pid is ignored)."""
    pids = []
    entries = []
    started_by_trees = tree_children(system.registry)
    for service in system.registry.of_kind(manifest.ServiceEntry):
        start = service_start(system.registry, service)
        if service.id in started_by_trees or not service.lifecycle.auto_start or start is None:
            continue
        process, host, args = start
        pid = service_pid(host, service.id, 0)
        spawn = system.spawn_envelope(
            process,
            host,
            args,
            ident=reply_id(pid, "start"),
            sender=None,
            name=service.registry_name,
            service=service.id,
            generation=0,
            pid=pid,
        )
        entries.append(system.outbox_entry(spawn))
        pids.append(pid)
    if entries:
        system.mailboxes.send(entries)
    return pids


class ActorBatchProcessor(BatchProcessor):
    """Powertools' SQS batch processor, fed per actor instead of per record.

    The record handler given to ``process_partial_response`` receives the whole batch (a list of
    ``SQSRecord``) and returns one outcome per record; Powertools turns the failures into
    ``batchItemFailures``, so one failing actor never makes SQS redeliver another's messages.
    """

    def __init__(self) -> None:
        super().__init__(EventType.SQS, raise_on_entire_batch_failure=False)

    def process(self) -> list[tuple]:
        records = [SQSRecord(r) for r in self.records]
        outcomes = self.handler(records)
        results = []
        for raw, record, outcome in zip(self.records, records, outcomes, strict=True):
            if outcome is None:
                results.append(self.success_handler(raw, None))
            else:
                info = (type(outcome), outcome, outcome.__traceback__)
                results.append(self.failure_handler(record, info))
        return results


__all__ = [
    "FAULT_POINTS",
    "ActorBatchProcessor",
    "ProcessWorker",
    "WorkerCrash",
    "WorkerStats",
    "start_services",
]
