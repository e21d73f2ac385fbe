"""Load: many actors, messages and concurrent workflows through the harness, checked for loss.

One :class:`~runtime.testing.LocalCloud` (moto, in process) holds one process host and one
workflow host over ONE DynamoDB table, as the stack deploys them. The run has four phases:

1. a first wave of workflows on the (nearly) empty table: activities/s while the table is small;
2. the actors spawned;
3. the messages, in rounds of one numbered message per actor (a drain per CHUNK sends);
4. all the workflows at once (started together, so they are in flight together), now on a table
   that holds every actor's snapshot and every earlier run's log.

Then the check: every actor's state counts exactly the messages it was sent, in order; every
run completed with the exact expected result, with one ActivityCompleted per activity; no
activity ran twice; both dead-letter queues are empty. Any miss raises :class:`LoadCheckFailed`.

What it reports: throughput per phase, peak memory (``ru_maxrss``), the AWS calls per message
and per workflow activity (counted on the boto3 clients with botocore event hooks, by
service.operation) with DynamoDB capacity units estimated from item sizes, the Lambda
invocations each unit makes, and how moto slows down as the table grows. moto does two things
in O(table size) that DynamoDB does not: ``TransactWriteItems`` deep-copies every table it names
(the workflow log starts runs and continues them as new in transactions) and ``Query`` sorts
the whole table to keep one partition (a workflow activity makes four or five).
``--fast-moto`` cuts both (:func:`fast_moto`: :func:`touched_partitions_only`,
:func:`partition_queries`); without it 1,000 concurrent runs beside 10,000 actors take hours
(ten runs took 206 s at 10,000 items).

The full size on a 2-core machine (2026-12-01, ``--full --fast-moto``, 1,202 s in all): 10,000
spawns at 135/s; 100,000 messages at 171 msg/s (each round of 10,000 in 58-60 s); then 1,000
workflows x 3 activities started together at 6.7 activities/s (446 s) on a table of 11,200 to
23,200 items; every actor exact and in order, 1,100 runs exact, 3,300 activities run once, no
dead letters, one step retried (moto's thread race, below); peak RSS 855 MiB after the
messages, 1,391 MiB in the wave. (Before the backup stopped going through moto's instance
tracker, the same run peaked at 9.3 GiB.)

python -m bench.load                 # the default size (a few minutes)
python -m bench.load --full --fast-moto   # 100,000 messages, 10,000 actors, 1,000 workflows
python -m bench.load --full          # the same on moto as is: hours
UNITS_BENCH_LOAD=full python -m bench  # the same size inside the whole bench
UNITS_BENCH_LOAD=20000,2000,200 python -m bench.load   # messages,actors,workflows (see Size)
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import resource
import sys
import threading
import time
import types
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.timing import Figure
from runtime.processes.local import TABLE_NAME
from runtime.testing import LocalCloud

APP = Path(__file__).resolve().parent / "load_app"
PROCESS_HOST = "load:workers"
WORKFLOW_HOST = "load:flows"
ENV = "UNITS_BENCH_LOAD"
#: Sends (and spawns) between two drains. moto's SQS costs O(queue length) per call (it counts
#: the queue's messages for its attributes on every call), so a short queue keeps the harness
#: linear in the load.
CHUNK = int(os.environ.get("UNITS_BENCH_LOAD_CHUNK", "100"))


@dataclass(frozen=True)
class Size:
    """How much load: ``messages`` spread evenly over ``actors``, sent in rounds of ``burst``
    numbered messages per actor; ``workflows`` runs of ``activities`` sequential activities
    each, all in flight at once; ``first_wave`` runs before the actors exist (0: a tenth of
    ``workflows``, at least one)."""

    messages: int
    actors: int
    workflows: int
    activities: int = 3
    first_wave: int = 0
    burst: int = 1

    def __post_init__(self) -> None:
        if self.actors < 1 or self.messages % (self.actors * self.burst):
            raise ValueError(
                f"{self.messages} messages do not spread evenly over {self.actors} actors "
                f"in rounds of {self.burst}"
            )

    @property
    def per_actor(self) -> int:
        return self.messages // self.actors

    @property
    def rounds(self) -> int:
        return self.per_actor // self.burst

    @property
    def wave(self) -> int:
        return self.first_wave or max(1, self.workflows // 10)


#: What ``python -m bench`` runs: a few minutes on a 2-core machine.
DEFAULT = Size(messages=5_000, actors=500, workflows=50)
#: Issue 7's size; opt in with ``--full`` or ``UNITS_BENCH_LOAD=full``.
FULL = Size(messages=100_000, actors=10_000, workflows=1_000)


def size_from_env(value: str | None) -> Size:
    """``full``, ``default``/empty, or ``messages,actors,workflows[,activities[,first_wave
    [,burst]]]`` (the fields of :class:`Size`)."""
    if not value or value == "default":
        return DEFAULT
    if value == "full":
        return FULL
    return Size(*(int(part) for part in value.split(",")))


class LoadCheckFailed(RuntimeError):
    """A message or an activity was lost or applied twice, a run did not complete with its
    expected result, or something reached a dead-letter queue."""


# -- counting AWS calls -----------------------------------------------------------------------
WRITE_OPS = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem"}
READ_OPS = {"GetItem", "Query", "Scan", "BatchGetItem"}
#: Calls only the harness makes: LocalWorkflows asks moto whether a run whose step raised has
#: failed (a deployed stack needs no such question). Not counted.
HARNESS_OPS = {"sfn.DescribeExecution"}


def item_bytes(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it, roughly: attribute names plus values as JSON (a
    little over the real size, which counts no type tags or quotes)."""
    return sum(len(name) + len(json.dumps(value)) for name, value in item.items())


@dataclass
class Tally:
    """Counted calls (``service.Operation``), DynamoDB capacity units, and SQS requests by
    queue kind."""

    calls: Counter[str] = field(default_factory=Counter)
    wru: float = 0.0
    rru: float = 0.0
    sqs_fifo: int = 0
    sqs_standard: int = 0
    #: Receives that brought nothing: the harness's drain loop checking that the queues are
    #: idle. Lambda's event source long-polls an idle queue at a fixed rate whatever the load,
    #: so they are left out of the SQS requests above.
    empty_receives: int = 0

    def add(self, other: Tally) -> None:
        self.calls.update(other.calls)
        self.wru += other.wru
        self.rru += other.rru
        self.sqs_fifo += other.sqs_fifo
        self.sqs_standard += other.sqs_standard
        self.empty_receives += other.empty_receives

    def service(self, name: str) -> int:
        return sum(n for key, n in self.calls.items() if key.startswith(name + "."))

    def ops(self, names: Iterable[str]) -> int:
        wanted = set(names)
        return sum(n for key, n in self.calls.items() if key.split(".", 1)[1] in wanted)


class Meter:
    """Counts the boto3 calls of some clients (thread-safe: moto's Step Functions threads run
    the step handler) and the time each thread spends inside them."""

    def __init__(self) -> None:
        self.tally = Tally()
        self._lock = threading.Lock()
        self._local = threading.local()

    def attach(self, clients: Iterable[Any]) -> None:
        for client in {id(c): c for c in clients}.values():
            events = client.meta.events
            events.register("before-parameter-build.*.*", self._params)
            events.register("after-call.*.*", self._after)
            events.register("after-call-error.*.*", self._after)

    def take(self) -> Tally:
        """What was counted since the last take."""
        with self._lock:
            tally, self.tally = self.tally, Tally()
        return tally

    def in_calls(self) -> float:
        """Seconds this thread has spent inside counted calls."""
        return getattr(self._local, "spent", 0.0)

    # The hooks return None: a value would replace the call's parameters or its response.
    def _params(self, params: dict[str, Any], **_: Any) -> None:
        self._local.params = params
        self._local.started = time.perf_counter()

    def _after(self, event_name: str, parsed: Any = None, **_: Any) -> None:
        spent = time.perf_counter() - getattr(self._local, "started", time.perf_counter())
        self._local.spent = self.in_calls() + spent
        _, service, op = event_name.split(".")
        if f"{service}.{op}" in HARNESS_OPS:
            return
        params = getattr(self._local, "params", None) or {}
        parsed = parsed or {}
        with self._lock:
            tally = self.tally
            tally.calls[f"{service}.{op}"] += 1
            if service == "dynamodb":
                tally.wru += _write_units(op, params)
                tally.rru += _read_units(op, params, parsed)
            elif service == "sqs":
                if op == "ReceiveMessage" and not parsed.get("Messages"):
                    tally.empty_receives += 1
                elif str(params.get("QueueUrl", "")).endswith(".fifo"):
                    tally.sqs_fifo += 1
                else:
                    tally.sqs_standard += 1


def _write_units(op: str, params: dict[str, Any]) -> float:
    """Write request units: 1 per KB of each item written, 2 per KB in a transaction. An update
    or a delete names only the key, so it counts 1 (2 in a transaction): DynamoDB bills the
    item's size, and the kit's updated items (run heads, names, inbox markers) are under 1 KB.
    A batch counts each of its writes so."""
    if op == "BatchWriteItem":
        units = 0
        for writes in params.get("RequestItems", {}).values():
            for write in writes:
                (body,) = write.values()
                item = body.get("Item") or body.get("Key") or {}
                units += max(1, math.ceil(item_bytes(item) / 1024))
        return float(units)
    if op in WRITE_OPS:
        item = params.get("Item") or params.get("Key") or {}
        return float(max(1, math.ceil(item_bytes(item) / 1024)))
    if op == "TransactWriteItems":
        units = 0
        for action in params.get("TransactItems", []):
            (body,) = action.values()
            item = body.get("Item") or body.get("Key") or {}
            units += 2 * max(1, math.ceil(item_bytes(item) / 1024))
        return float(units)
    return 0.0


def _read_units(op: str, params: dict[str, Any], parsed: dict[str, Any]) -> float:
    """Read request units: 1 per 4 KB read strongly consistent, half that eventually. A batch
    get counts each key it names once (the least a read costs, found or not): the kit's one
    (``EventLog.posted``) reads small markers, or an inbox item only on a redelivery."""
    if op == "BatchGetItem":
        requests = params.get("RequestItems", {}).values()
        keys = sum(len(r.get("Keys", [])) for r in requests)
        consistent = all(r.get("ConsistentRead") for r in requests)
        return (1.0 if consistent else 0.5) * keys
    if op == "GetItem":
        size = item_bytes(parsed.get("Item") or {})
    elif op in ("Query", "Scan"):
        size = sum(item_bytes(i) for i in parsed.get("Items") or [])
    else:
        return 0.0
    per_4kb = 1.0 if params.get("ConsistentRead") else 0.5
    return per_4kb * max(1, math.ceil(size / 4096))


# -- Lambda invocations -----------------------------------------------------------------------
@dataclass
class Invocations:
    """One Lambda role's invocations in the harness and the time they took, in all and inside
    boto3 (so the Lambda's own CPU is the difference)."""

    count: int = 0
    wall: float = 0.0
    in_calls: float = 0.0

    @property
    def cpu(self) -> float:
        return max(0.0, self.wall - self.in_calls)


class LambdaMeter:
    """Counts and times the handlers the harness runs as Lambdas, one call one invocation: the
    process worker and the activity Lambda (a batch each), the workflow step."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.roles: dict[str, Invocations] = {}
        self._lock = threading.Lock()

    def wrap(self, role: str, fn: Callable[..., Any]) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start, inside = time.perf_counter(), self.meter.in_calls()
            try:
                return fn(*args, **kwargs)
            finally:
                wall = time.perf_counter() - start
                spent = self.meter.in_calls() - inside
                with self._lock:
                    inv = self.roles.setdefault(role, Invocations())
                    inv.wall += wall
                    inv.in_calls += spent
                    inv.count += 1

        return timed

    def take(self) -> dict[str, Invocations]:
        with self._lock:
            roles, self.roles = self.roles, {}
        return roles


# -- moto's transactions ---------------------------------------------------------------------
FAST_ENV = "UNITS_BENCH_LOAD_FAST_MOTO"


@contextlib.contextmanager
def touched_partitions_only() -> Iterator[None]:
    """Make moto's ``TransactWriteItems`` back up only the partitions it writes.

    moto deep-copies every table a transaction names before writing (once per item of the
    transaction), to restore it if the transaction is cancelled: O(table size) per transaction
    (about 0.2 ms per item here), so 1,000 runs' logs beside 10,000 actor snapshots make every
    append take seconds; and every copy stays in memory (moto's models keep a list of every
    instance they ever made), so the harness grows by a table per transaction item. This backup
    shares the untouched partitions (the transaction writes nothing there) and deep-copies the
    ones the transaction names, so a cancelled transaction restores exactly what moto's own
    backup restores. Opt-in (``--fast-moto``, ``UNITS_BENCH_LOAD_FAST_MOTO=1``): the figures
    say which ran. Not thread-safe beyond what moto is (it is not).
    """
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    local = threading.local()

    def deepcopy(obj: Any, memo: Any = None) -> Any:
        if not isinstance(obj, Table):
            return copy.deepcopy(obj, memo)
        # Not copy.copy: that goes through moto's BaseModel.__new__, which keeps every instance
        # ever made in a class list until moto resets, so each backup (a whole table's worth of
        # partitions, once per item of every transaction) would live on: GiBs at full size.
        backup = object.__new__(Table)
        backup.__dict__.update(obj.__dict__)
        backup.items = defaultdict(dict)
        backup.items.update(obj.items)
        for key in getattr(local, "touched", {}).get(obj.name, ()):
            if key in obj.items:
                backup.items[key] = copy.deepcopy(obj.items[key])
        return backup

    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        touched: dict[str, set[Any]] = {}
        for action in transact_items:
            for op in action.values():
                table = backend.tables.get(op.get("TableName"))
                attrs = op.get("Item") or op.get("Key") or {}
                if table is not None and table.hash_key_attr in attrs:
                    touched.setdefault(table.name, set()).add(
                        DynamoType(attrs[table.hash_key_attr])
                    )
        local.touched = touched
        try:
            return original(backend, transact_items)
        finally:
            local.touched = {}

    saved_copy = models.copy
    models.copy = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)  # type: ignore[assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        models.copy = saved_copy
        models.DynamoDBBackend.transact_write_items = original  # type: ignore[method-assign]


@contextlib.contextmanager
def partition_queries() -> Iterator[None]:
    """Make moto's ``Query`` on a table's key read only the partition it names.

    moto answers a Query by sorting every item of the table and keeping those of the queried
    partition: O(table size x log) per Query, and a workflow activity makes four or five (the
    run's inbox, its history). With 1,000 runs' logs in the table each one takes ~100 ms. This
    hands moto's own filter and sort the queried partition only; the answer is the same (the
    filter keeps only that partition's items anyway). Queries on an index are left as they are.
    Opt-in with ``--fast-moto``, as :func:`touched_partitions_only`.
    """
    from moto.dynamodb.models.table import Table

    local = threading.local()
    original_query, original_all_items = Table.query, Table.all_items

    def query(table: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name is None and hash_key is not None and table.range_key_attr:
            local.partition = hash_key
        try:
            return original_query(table, hash_key, *args, **kwargs)
        finally:
            local.partition = None

    def all_items(table: Any) -> Any:
        key = getattr(local, "partition", None)
        if key is None:
            return original_all_items(table)
        partition = table.items.get(key, {})  # a defaultdict: .get adds no partition
        return sorted(partition.values(), key=lambda item: (item.hash_key, item.range_key))

    Table.query, Table.all_items = query, all_items  # type: ignore[method-assign]
    try:
        yield
    finally:
        Table.query, Table.all_items = original_query, original_all_items  # type: ignore[method-assign]


@contextlib.contextmanager
def fast_moto() -> Iterator[None]:
    """Both of moto's O(table) costs cut (``--fast-moto``): transactions back up the partitions
    they write, queries read the partition they name."""
    with touched_partitions_only(), partition_queries():
        yield


@contextlib.contextmanager
def one_asl_parse_at_a_time() -> Iterator[None]:
    """Serialize moto's parsing of a state machine's ASL.

    moto parses the definition again in every execution's thread, and its parser keeps a
    stack in a class attribute (``Preprocessor._query_language_per_scope``), shared by every
    parse: with hundreds of executions starting at once, one parse pops another's scope and the
    execution's thread dies with an IndexError before its first state, so the harness waits
    for it forever. One parse at a time avoids that; it changes nothing else.
    """
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    original = AmazonStateLanguageParser.__dict__["parse"]
    lock = threading.Lock()

    def parse(definition: str) -> Any:
        with lock:
            return original.__func__(definition)

    AmazonStateLanguageParser.parse = staticmethod(parse)  # type: ignore[method-assign]
    try:
        yield
    finally:
        AmazonStateLanguageParser.parse = original  # type: ignore[method-assign]


# -- the run ----------------------------------------------------------------------------------
@dataclass
class Phase:
    """One phase: its units of work, wall time, calls, Lambda invocations, the table's item
    count before and after, and the peak RSS at its end."""

    name: str
    units: int
    wall: float
    tally: Tally
    lambdas: dict[str, Invocations]
    items_before: int
    items_after: int
    max_rss: int
    samples: list[tuple[int, float]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.units / self.wall if self.wall else 0.0


@dataclass
class LoadReport:
    size: Size
    phases: dict[str, Phase]
    #: (table items, seconds) of each message round.
    rounds: list[tuple[int, float]]
    #: (table items, mean seconds of a TransactWriteItems call): the last tenth of the first
    #: wave's calls, then each tenth of the big wave's.
    transactions: list[tuple[int, float]]
    checked: dict[str, int]
    wall: float
    fast_moto: bool = False


def max_rss_bytes() -> int:
    """The process's peak resident set (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _table_items() -> int:
    from moto.dynamodb.models import dynamodb_backends

    table = dynamodb_backends["123456789012"]["us-east-1"].tables[TABLE_NAME]
    if table.range_key_attr:
        return sum(len(part) for part in table.items.values())
    return len(table.items)


class _Transactions:
    """Times every TransactWriteItems call, with the table's item count near it."""

    def __init__(self) -> None:
        self.samples: list[tuple[int, float]] = []
        self._local = threading.local()
        self._items = 0
        self._lock = threading.Lock()

    def attach(self, client: Any) -> None:
        events = client.meta.events
        events.register("before-parameter-build.dynamodb.TransactWriteItems", self._start)
        events.register("after-call.dynamodb.TransactWriteItems", self._end)

    def _start(self, **_: Any) -> None:
        self._local.started = time.perf_counter()

    def _end(self, **_: Any) -> None:
        spent = time.perf_counter() - self._local.started
        with self._lock:
            if len(self.samples) % 50 == 0:
                self._items = _table_items()
            self.samples.append((self._items, spent))

    def tenths(self) -> list[tuple[int, float]]:
        """(items, mean seconds) of each tenth of the calls, in order."""
        n = len(self.samples)
        out = []
        for i in range(10):
            part = self.samples[i * n // 10 : (i + 1) * n // 10]
            if part:
                out.append((part[-1][0], sum(s for _, s in part) / len(part)))
        return out


class LoadRun:
    """The phases over one cloud; :meth:`run` returns the report (or raises LoadCheckFailed)."""

    def __init__(
        self,
        size: Size,
        *,
        fast_moto: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.size = size
        self.fast_moto = fast_moto
        self.progress = progress or (lambda _: None)
        self.meter = Meter()
        self.lambdas = LambdaMeter(self.meter)
        self.transactions = _Transactions()
        self.phases: dict[str, Phase] = {}
        self.runs: dict[str, tuple[str, int]] = {}  # run id -> (label, expected total)
        self.activities_run = 0

    def run(self) -> LoadReport:
        import runtime.workflows.local as local_flows

        # A thousand runs settle slowly through moto (every step's append copies the table):
        # the harness's 30 s guard is for a stuck run, not for a big wave.
        saved = local_flows.SETTLE_DEADLINE
        local_flows.SETTLE_DEADLINE = 900.0
        start = time.perf_counter()
        moto = fast_moto() if self.fast_moto else contextlib.nullcontext()
        try:
            with moto, one_asl_parse_at_a_time(), LocalCloud(APP, auto_start=False) as cloud:
                self._instrument(cloud)
                self._workflows(cloud, "first wave", self.size.wave, offset=0)
                first = self.transactions.tenths()
                self.transactions.samples.clear()
                pids = self._spawn(cloud)
                rounds = self._messages(cloud, pids)
                self.transactions.samples.clear()
                self._workflows(cloud, "big wave", self.size.workflows, offset=self.size.wave)
                transactions = first[-1:] + self.transactions.tenths()
                checked = self._check(cloud, pids)
        finally:
            local_flows.SETTLE_DEADLINE = saved
        return LoadReport(
            self.size,
            self.phases,
            rounds,
            transactions,
            checked,
            time.perf_counter() - start,
            self.fast_moto,
        )

    def _instrument(self, cloud: LocalCloud) -> None:
        procs, flows = cloud.processes, cloud.workflows
        assert procs is not None and flows is not None, f"{APP} needs both kinds of host"
        clients = [procs.system.store.client, procs.system.mailboxes.client, procs.sqs]
        for host in procs.hosts.values():
            clients += [host.queue.client, host.delays.client]
            host.worker.handle = self.lambdas.wrap("process worker", host.worker.handle)
        clients += [flows.sqs, flows.sfn, flows.log.client, flows.queues.sqs]
        for fhost in flows.hosts.values():
            clients.append(fhost.activities.client)
            fhost.activity_handler = self.lambdas.wrap("activity", fhost.activity_handler)
            # Inside the harness's per-host lock, so waiting for it is not counted.
            fhost.host.step = self.lambdas.wrap("workflow step", fhost.host.step)
        self.meter.attach(clients)
        self.transactions.attach(flows.log.client)

    def _phase(self, name: str, units: int, started: float, items_before: int) -> Phase:
        wall = time.perf_counter() - started
        phase = Phase(
            name,
            units,
            wall,
            self.meter.take(),
            self.lambdas.take(),
            items_before,
            _table_items(),
            max_rss_bytes(),
        )
        self.phases[name] = phase
        self.progress(
            f"{name}: {units:,} in {wall:.1f} s ({phase.rate:.1f}/s), table "
            f"{items_before:,} -> {phase.items_after:,} items, peak RSS "
            f"{phase.max_rss / 2**20:.0f} MiB"
        )
        return phase

    def _workflows(self, cloud: LocalCloud, name: str, count: int, offset: int) -> None:
        n = self.size.activities
        self.meter.take(), self.lambdas.take()
        items, started = _table_items(), time.perf_counter()
        assert cloud.workflows is not None
        # The starts hold every host's step lock (the one LocalWorkflows.invoke steps under):
        # a run's first step now runs all its activities inline at once, in moto's thread, and
        # a start's TransactWriteItems deep-copying the table while that step writes it dies
        # in moto ("dictionary changed size during iteration") with no Retry to step again.
        # The runs still start together and are all in flight before the first one steps.
        with contextlib.ExitStack() as held:
            for fhost in cloud.workflows.hosts.values():
                held.enter_context(fhost.lock)
            for i in range(offset, offset + count):
                label = f"run-{i}"
                base = 1000 * i
                expected = sum((base + k) ** 2 for k in range(1, n + 1))
                run_id = cloud.start_workflow("load:chain", {"label": label, "base": base, "n": n})
                self.runs[run_id] = (label, expected)
        ran = cloud.run_workflows()
        self.activities_run += ran
        self._phase(f"workflows, {name}", count * n, started, items)

    def _spawn(self, cloud: LocalCloud) -> list[str]:
        self.meter.take(), self.lambdas.take()
        items, started = _table_items(), time.perf_counter()
        pids: list[str] = []
        while len(pids) < self.size.actors:
            more = min(CHUNK, self.size.actors - len(pids))
            pids += [cloud.spawn("load:tally", PROCESS_HOST) for _ in range(more)]
            cloud.drain()
        self._phase("spawns", len(pids), started, items)
        return pids

    def _messages(self, cloud: LocalCloud, pids: list[str]) -> list[tuple[int, float]]:
        self.meter.take(), self.lambdas.take()
        items, started = _table_items(), time.perf_counter()
        rounds = []
        burst, sent = self.size.burst, 0
        for number in range(1, self.size.rounds + 1):
            began = time.perf_counter()
            for pid in pids:
                for seq in range((number - 1) * burst + 1, number * burst + 1):
                    cloud.send(pid, "n", seq)
                sent += burst
                if sent % CHUNK < burst or pid == pids[-1]:
                    cloud.drain()
            rounds.append((_table_items(), time.perf_counter() - began))
            if number == 1 or number % max(1, self.size.rounds // 10) == 0:
                rate = len(pids) * burst / rounds[-1][1]
                self.progress(f"  round {number}/{self.size.rounds}: {rate:.0f} msg/s")
        self._phase("messages", self.size.messages, started, items)
        return rounds

    def _check(self, cloud: LocalCloud, pids: list[str]) -> dict[str, int]:
        per_actor = self.size.per_actor
        problems: list[str] = []
        want = {"count": per_actor, "last": per_actor, "out_of_order": 0}
        states = [cloud.state(pid) for pid in pids]
        wrong = [(pid, s) for pid, s in zip(pids, states, strict=True) if s != want]
        applied = sum(s["count"] for s in states)
        if wrong:
            problems.append(f"{len(wrong)} actors wrong, first {wrong[:3]} (want {want})")
        bad_runs: list[str] = []
        completed_events = 0
        for run_id, (label, total) in self.runs.items():
            result = cloud.result(run_id)
            if result.status != "completed" or result.result != {"label": label, "total": total}:
                bad_runs.append(f"{run_id}: {result}")
            done = [e for e in cloud.history(run_id) if e["type"] == "ActivityCompleted"]
            completed_events += len(done)
            if len(done) != self.size.activities:
                bad_runs.append(f"{run_id}: {len(done)} ActivityCompleted events")
        if bad_runs:
            problems.append(f"{len(bad_runs)} runs wrong, first {bad_runs[:3]}")
        expected_activities = len(self.runs) * self.size.activities
        if self.activities_run != expected_activities:
            problems.append(f"{self.activities_run} activities ran, {expected_activities} due")
        dead = len(cloud.dead_letters(PROCESS_HOST))
        assert cloud.workflows is not None
        dead_activities = len(cloud.workflows.dead_letters(WORKFLOW_HOST))
        if dead or dead_activities:
            problems.append(f"dead letters: {dead} messages, {dead_activities} activities")
        if problems:
            raise LoadCheckFailed("; ".join(problems))
        return {
            "actors": len(pids),
            "messages_applied": applied,
            "runs_completed": len(self.runs),
            "activities_completed": completed_events,
            "activities_run": self.activities_run,
            "dead_letters": dead + dead_activities,
        }


def run_load(
    size: Size, *, fast_moto: bool = False, progress: Callable[[str], None] | None = None
) -> LoadReport:
    return LoadRun(size, fast_moto=fast_moto, progress=progress).run()


# -- per unit ---------------------------------------------------------------------------------
@dataclass
class PerUnit:
    """What one unit of work (a message, an activity) costs in AWS requests."""

    dynamodb_writes: float
    dynamodb_reads: float
    wru: float
    rru: float
    sqs_fifo: float
    sqs_standard: float
    sfn_calls: float
    lambda_invocations: float
    #: Lambda CPU seconds outside boto3 and boto3 calls made, per unit (for a duration model).
    lambda_cpu: float
    lambda_calls: float
    #: Every counted call per unit, by ``service.Operation``.
    calls: dict[str, float] = field(default_factory=dict)


def per_unit(phases: Iterable[Phase], roles: Iterable[str]) -> PerUnit:
    """The counted calls of ``phases``, and the invocations of the Lambda ``roles``, divided by
    the phases' units of work."""
    phases = list(phases)
    tally = Tally()
    lambdas: dict[str, Invocations] = {}
    units = 0
    for phase in phases:
        tally.add(phase.tally)
        units += phase.units
        for role, inv in phase.lambdas.items():
            into = lambdas.setdefault(role, Invocations())
            into.count += inv.count
            into.wall += inv.wall
            into.in_calls += inv.in_calls
    wanted = [lambdas[r] for r in roles if r in lambdas]
    invocations = sum(i.count for i in wanted)
    calls_in_lambdas = tally.ops(WRITE_OPS | {"TransactWriteItems"} | READ_OPS) + tally.service(
        "sfn"
    )
    u = max(1, units)
    return PerUnit(
        dynamodb_writes=tally.ops(WRITE_OPS | {"TransactWriteItems"}) / u,
        dynamodb_reads=tally.ops(READ_OPS) / u,
        wru=tally.wru / u,
        rru=tally.rru / u,
        sqs_fifo=tally.sqs_fifo / u,
        sqs_standard=tally.sqs_standard / u,
        sfn_calls=tally.service("sfn") / u,
        lambda_invocations=invocations / u,
        lambda_cpu=sum(i.cpu for i in wanted) / u,
        lambda_calls=calls_in_lambdas / u,
        calls={op: n / u for op, n in sorted(tally.calls.items())},
    )


# -- figures ----------------------------------------------------------------------------------
def transaction_ms_per_1000_items(report: LoadReport) -> float:
    """moto's TransactWriteItems milliseconds per 1,000 items in the table over the big wave
    (its cost is proportional to the table's size, so one slope describes it)."""
    samples = report.transactions[1:]
    items = sum(n for n, _ in samples)
    return sum(s for _, s in samples) / items * 1e6 if items else 0.0


def _retried_steps(report: LoadReport) -> Figure:
    waves = [report.phases["workflows, first wave"], report.phases["workflows, big wave"]]
    steps = sum(w.lambdas["workflow step"].count for w in waves if "workflow step" in w.lambdas)
    # load:chain's activities run inline (the default), and it never waits: one step per run.
    due = report.checked["runs_completed"]
    return Figure(
        "  workflow steps run again by the driver's Retry",
        steps - due,
        "steps",
        f"{steps:,} step invocations for {due:,} steps (one per run: its activities run inline "
        "in it, and it never waits): moto is "
        "not thread-safe, and a step whose transaction copies the table while another thread "
        "writes it fails ('dictionary changed size during iteration'); the retry steps again, "
        "the results stay exact. Their calls are in the counts per activity below",
    )


def _rate_figures(report: LoadReport) -> list[Figure]:
    p = report.phases
    first, big = p["workflows, first wave"], p["workflows, big wave"]
    msgs, spawns = p["messages"], p["spawns"]
    size = report.size
    rounds = report.rounds
    tenth = max(1, len(rounds) // 10)
    early = sum(s for _, s in rounds[:tenth]) / tenth
    late = sum(s for _, s in rounds[-tenth:]) / tenth
    tx = report.transactions
    moto = (
        "moto's transactions back up only the partitions they write (--fast-moto)"
        if report.fast_moto
        else "moto as is: every TransactWriteItems deep-copies the table"
    )
    tx_note = (
        f"TransactWriteItems {tx[0][1] * 1000:.0f} ms at {tx[0][0]:,} items (end of the first "
        f"wave) -> {tx[-1][1] * 1000:.0f} ms at {tx[-1][0]:,} items"
        if tx
        else ""
    )
    return [
        Figure(
            f"{size.messages:,} messages over {size.actors:,} actors",
            msgs.rate,
            "msg/s",
            f"{size.rounds} rounds of {size.burst} message(s) per actor, a drain per {CHUNK} "
            f"sends; {msgs.wall:.0f} s; a round {early:.1f} s at first, {late:.1f} s at the end "
            f"(the table stays at {msgs.items_after:,} items: the process path makes no "
            "transactions)",
        ),
        Figure(f"  {size.actors:,} spawns", spawns.rate, "spawns/s", f"{spawns.wall:.0f} s"),
        Figure(
            f"{size.wave:,} concurrent workflows x {size.activities} activities, small table",
            first.rate,
            "activities/s",
            f"{first.units / size.activities / first.wall:.2f} workflows/s; table "
            f"{first.items_before:,} -> {first.items_after:,} items",
        ),
        Figure(
            f"{size.workflows:,} concurrent workflows x {size.activities} activities, after "
            "the actors",
            big.rate,
            "activities/s",
            f"{big.units / size.activities / big.wall:.2f} workflows/s; {big.wall:.0f} s; table "
            f"{big.items_before:,} -> {big.items_after:,} items; {tx_note}; {moto}",
        ),
        Figure(
            "  activities/s, small table vs big",
            first.rate / big.rate if big.rate else 0.0,
            "x",
            "the harness slows as the table grows (moto's cost, not DynamoDB's)",
        ),
        _retried_steps(report),
        Figure(
            "  moto TransactWriteItems per 1,000 table items",
            transaction_ms_per_1000_items(report),
            "ms",
            "mean over the big wave's calls / mean table size then",
        ),
        Figure(
            "peak memory (max RSS of this process)",
            max(ph.max_rss for ph in p.values()) / 2**20,
            "MiB",
            "at the end of each phase: "
            + "; ".join(f"{ph.name} {ph.max_rss / 2**20:.0f}" for ph in p.values()),
        ),
        Figure(
            "zero loss",
            float(report.checked["dead_letters"] == 0),
            "ok",
            f"{report.checked['messages_applied']:,} messages applied once, in order, over "
            f"{report.checked['actors']:,} actors; {report.checked['runs_completed']:,} runs "
            f"completed with the exact result, {report.checked['activities_completed']:,} "
            f"activities completed and {report.checked['activities_run']:,} run (none twice); "
            "no dead letters",
        ),
        Figure("  wall time of the whole load run", report.wall, "s"),
    ]


def process_per_message(report: LoadReport) -> PerUnit:
    return per_unit([report.phases["messages"]], ["process worker"])


def workflow_per_activity(report: LoadReport) -> PerUnit:
    phases = [report.phases["workflows, first wave"], report.phases["workflows, big wave"]]
    return per_unit(phases, ["workflow step", "activity"])


def _unit_figures(label: str, unit: PerUnit) -> list[Figure]:
    return [
        Figure(
            f"per {label}: DynamoDB writes / reads",
            unit.dynamodb_writes,
            "writes",
            f"{unit.dynamodb_reads:.2f} reads; {unit.wru:.2f} WRU, {unit.rru:.2f} RRU "
            "(estimated from item sizes; a transaction's item is 2 WRU)",
        ),
        Figure(
            f"per {label}: SQS requests",
            unit.sqs_fifo + unit.sqs_standard,
            "requests",
            f"{unit.sqs_fifo:.2f} FIFO, {unit.sqs_standard:.2f} standard; the event source's "
            "receives and deletes included, the drain loop's empty polls not",
        ),
        Figure(f"per {label}: Step Functions API calls", unit.sfn_calls, "calls"),
        Figure(f"per {label}: Lambda invocations", unit.lambda_invocations, "invocations"),
        Figure(
            f"per {label}: AWS calls in all",
            sum(unit.calls.values()),
            "calls",
            ", ".join(f"{op} {n:.2f}" for op, n in unit.calls.items())
            + " (ReceiveMessage with the drain loop's empty polls)",
        ),
    ]


def figures(report: LoadReport) -> list[Figure]:
    return [
        *_rate_figures(report),
        *_unit_figures("message", process_per_message(report)),
        *_unit_figures("workflow activity", workflow_per_activity(report)),
    ]


#: The report of the last :func:`run` in this process (``bench.cost`` reads it).
LAST: LoadReport | None = None


def run() -> list[Figure]:
    global LAST
    size = size_from_env(os.environ.get(ENV))
    fast = os.environ.get(FAST_ENV, "") not in ("", "0")
    LAST = run_load(size, fast_moto=fast, progress=lambda line: print(line, file=sys.stderr))
    return figures(LAST)


def _print(rows: list[Figure]) -> None:
    print("| measure | value | note |\n|---|---|---|")
    for f in rows:
        value = f"{f.value:.2f}" if f.value < 100 else f"{f.value:.0f}"
        print(f"| {f.name} | {value} {f.unit} | {f.note} |")


if __name__ == "__main__":
    if "--full" in sys.argv[1:]:
        os.environ[ENV] = "full"
    if "--fast-moto" in sys.argv[1:]:
        os.environ[FAST_ENV] = "1"
    _print(run())
