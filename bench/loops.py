"""Loop-style processes (issue 15's goals): a Wippy ``main`` on a process host, as a durable
coroutine, next to a handler-style actor doing the same work, in one process.

Everything runs in moto through :class:`~runtime.testing.LocalCloud` on ``bench/loop_app``: a
loop counter (``main`` adds each message's payload) and the same counter as an actor
(``init``/``handle``), one host, batches of 10.

What is measured, and how:

1. **AWS calls** per message and per process per batch, counted with botocore event hooks on
   every client of the process machinery and split by who made them: the worker (inside its
   ``handle()``: DynamoDB, the sends it makes) and the event source (the harness's stand-in
   for Lambda's SQS event source mapping: receive, delete). The drain loop's empty receives
   (it checks that the queues are idle; Lambda long-polls) are left out. "Per process per
   batch" divides by the (process, batch) pairs the worker handled: the distinct message
   groups of each batch. Two layouts: one warm process with 10 messages per batch, and many
   warm processes with one message each per batch.
2. **Worker CPU per message**: the thread CPU time of the worker's ``handle()`` minus the
   thread CPU time spent inside boto3 calls made from it (moto's work included), per message;
   the best of interleaved repeats (``bench/timing.py``'s rule), the median in the note.
3. **Cold replay**: one loop counter's journal grown to each size of the curve (the messages
   through the harness, sent 10 to a ``SendMessageBatch``); at each size the worker's warm
   cache is dropped (``worker.loops.warm.clear()``, a new Lambda instance) and one more message
   delivered: that batch's ``handle()`` is the replay (the head read, the journal read, the
   code run through every event, the append). Timed in all and outside boto3.
4. **Load check**: messages spread over many loop processes that each collect what they
   receive (``collect.lua``): numbered messages, ``rounds_per_drain`` to each process one
   after another (so a batch holds several of one process), a chunk of processes at a time
   and a drain after each chunk (moto's SQS costs O(queue length) a message), sent 10 to a
   ``SendMessageBatch`` through the harness's own sender; then a ``stop`` each, which ends
   each process with its list as its result: every list must be exactly its numbers in order
   (zero lost, zero duplicated, order kept), and no dead letters. moto's
   ``TransactWriteItems`` copies the whole table (the births and endings are transactions),
   so this runs with the load bench's ``touched_partitions_only`` patch.
5. **Dollars per million messages** at the list prices of ``runtime/costs.py``, for both
   styles, from the counts of (1) and (2): Lambda duration modelled as ``bench/cost.py`` does
   (:func:`bench.cost.billed_ms`: the CPU measured here at the Lambda's vCPU share plus a fixed
   wait per AWS call), the sender's one FIFO ``SendMessage`` per message, the event source's
   requests, DynamoDB units from item sizes.

python -m bench.loops            # the full size (about 2 minutes on 2 cores)
python -m bench.loops --quick    # a smoke run (seconds)
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # as bench/__main__ does, before any runtime import
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from bench import cost, load
from bench.timing import Figure, print_figures
from runtime import costs
from runtime.processes.context import DirectContext
from runtime.processes.envelope import Envelope
from runtime.testing import LocalCloud

APP = Path(__file__).resolve().parent / "loop_app"
HOST = "loops:procs"
LOOP, ACTOR, COLLECT = "loops:loop_counter", "loops:actor_counter", "loops:collect"
STYLES = {"loop": LOOP, "handler": ACTOR}

READS = {"GetItem", "BatchGetItem", "Query", "Scan"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
SQS_SENDS = {"SendMessage", "SendMessageBatch"}

#: The issue's goals.
GOAL_WRITES, GOAL_READS, GOAL_CPU_RATIO, GOAL_REPLAY_S = 1.0, 0.0, 2.0, 1.0


@dataclass(frozen=True)
class Size:
    """How much each scenario does (``FULL`` for ``python -m bench``, ``QUICK`` for tests)."""

    #: (1, 2): one warm process per style, this many messages per repeat (batches of 10) ...
    batched: int = 100
    #: ... and this many interleaved repeats, per scenario.
    repeats: int = 5
    #: (1, 2): this many warm processes per style, one message each per round and drain ...
    spread: int = 100
    #: ... for this many rounds (each a repeat).
    spread_rounds: int = 5
    #: (3): the journal lengths of the cold-replay curve, in messages, and cold batches at each.
    journals: tuple[int, ...] = (100, 1_000, 10_000)
    cold_repeats: int = 3
    #: (4): messages over processes, ``rounds_per_drain`` messages to each process of a
    #: ``chunk`` of processes (one after another) before a drain: moto's SQS costs O(queue
    #: length) a message, so the queue is kept short.
    messages: int = 10_000
    processes: int = 1_000
    rounds_per_drain: int = 2
    chunk: int = 100

    def __post_init__(self) -> None:
        if self.messages % self.processes:
            raise ValueError("messages must be a multiple of processes (one per round)")


FULL = Size()
QUICK = Size(
    batched=20,
    repeats=2,
    spread=10,
    spread_rounds=2,
    journals=(10, 100),
    cold_repeats=1,
    messages=200,
    processes=20,
    chunk=10,
)


class LoadCheckFailed(RuntimeError):
    """The load check found a lost, duplicated or reordered message."""


# -- counting ---------------------------------------------------------------------------------
@dataclass
class Calls:
    """Counted boto3 calls (``service.Operation``), DynamoDB units, SQS requests."""

    ops: Counter[str] = field(default_factory=Counter)
    wru: float = 0.0
    rru: float = 0.0
    fifo: int = 0
    standard: int = 0
    empty_receives: int = 0

    def add(self, other: Calls) -> None:
        self.ops.update(other.ops)
        self.wru += other.wru
        self.rru += other.rru
        self.fifo += other.fifo
        self.standard += other.standard
        self.empty_receives += other.empty_receives

    def count(self, service: str, names: Iterable[str]) -> int:
        wanted = {f"{service}.{name}" for name in names}
        return sum(n for op, n in self.ops.items() if op in wanted)

    @property
    def reads(self) -> int:
        return self.count("dynamodb", READS)

    @property
    def writes(self) -> int:
        return self.count("dynamodb", WRITES)

    @property
    def sqs(self) -> int:
        """SQS calls, the drain loop's empty receives left out."""
        return sum(n for op, n in self.ops.items() if op.startswith("sqs.")) - self.empty_receives


@dataclass
class Sample:
    """What one measured drain did: messages, worker invocations and (process, batch) pairs,
    the worker's calls and the event source's, and the worker's time in and out of boto3."""

    messages: int
    invocations: int = 0
    process_batches: int = 0
    worker: Calls = field(default_factory=Calls)
    source: Calls = field(default_factory=Calls)
    cpu: float = 0.0
    wall: float = 0.0
    boto_cpu: float = 0.0
    boto_wall: float = 0.0
    #: The whole drain (the event source's calls and the harness's loop too).
    drain_wall: float = 0.0

    def add(self, other: Sample) -> None:
        self.messages += other.messages
        self.invocations += other.invocations
        self.process_batches += other.process_batches
        self.worker.add(other.worker)
        self.source.add(other.source)
        self.cpu += other.cpu
        self.wall += other.wall
        self.boto_cpu += other.boto_cpu
        self.boto_wall += other.boto_wall
        self.drain_wall += other.drain_wall

    def cpu_us(self) -> float:
        """Worker thread CPU per message outside boto3, in µs."""
        return max(0.0, self.cpu - self.boto_cpu) / max(1, self.messages) * 1e6

    def per_message(self, n: float) -> float:
        return n / max(1, self.messages)

    def per_process_batch(self, n: float) -> float:
        return n / max(1, self.process_batches)


def merged(samples: Iterable[Sample]) -> Sample:
    total = Sample(0)
    for s in samples:
        total.add(s)
    return total


class Meter:
    """Hooks on the process machinery's boto3 clients and a wrapper on the worker's
    ``handle()``: calls counted for whoever made them, the worker's CPU in and out of boto3."""

    def __init__(self, cloud: LocalCloud) -> None:
        procs = cloud.processes
        assert procs is not None, f"{APP} has no process host"
        self.cloud = cloud
        self.worker = procs.hosts[HOST].worker
        self.on = False
        self._inside = False
        self._sample = Sample(0)
        self._params: dict[str, Any] = {}
        self._started = (0.0, 0.0)
        clients = [procs.system.store.client, procs.system.mailboxes.client, procs.sqs]
        for host in procs.hosts.values():
            clients += [host.queue.client, host.delays.client]
        for client in {id(c): c for c in clients}.values():
            events = client.meta.events
            events.register("provide-client-params.*.*", self._start)
            events.register("after-call.*.*", self._end)
            events.register("after-call-error.*.*", self._end)
        handle = self.worker.handle  # the bound method; the rounds look the attribute up
        self.worker.handle = self._handle(handle)  # type: ignore[method-assign]

    # The hooks return None: a value would replace the call's parameters or its response.
    def _start(self, params: dict[str, Any] | None = None, **_: Any) -> None:
        self._params = params or {}
        self._started = (time.thread_time(), time.perf_counter())

    def _end(self, event_name: str, parsed: Any = None, **_: Any) -> None:
        if not self.on:
            return
        sample = self._sample
        _, service, op = event_name.split(".")
        calls = sample.worker if self._inside else sample.source
        calls.ops[f"{service}.{op}"] += 1
        params, parsed = self._params, parsed or {}
        if service == "dynamodb":
            calls.wru += load._write_units(op, params)
            calls.rru += load._read_units(op, params, parsed)
        elif service == "sqs":
            if op == "ReceiveMessage" and not parsed.get("Messages"):
                calls.empty_receives += 1
            elif str(params.get("QueueUrl", "")).endswith(".fifo"):
                calls.fifo += 1
            else:
                calls.standard += 1
        if self._inside:  # the call, and this hook's own counting: not the worker's time
            sample.boto_cpu += time.thread_time() - self._started[0]
            sample.boto_wall += time.perf_counter() - self._started[1]

    def _handle(self, handle: Callable[[list[Any]], Any]) -> Callable[[list[Any]], Any]:
        def timed(records: list[Any]) -> Any:
            if not self.on:
                return handle(records)
            sample = self._sample
            groups = {r.attributes.message_group_id for r in records}
            sample.invocations += 1
            sample.process_batches += len(groups - {None})
            self._inside = True
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return handle(records)
            finally:
                sample.cpu += time.thread_time() - cpu
                sample.wall += time.perf_counter() - wall
                self._inside = False

        return timed

    def drain(self, messages: int) -> Sample:
        """``cloud.drain()``, measured as the handling of ``messages`` messages."""
        self._sample, self.on = Sample(messages), True
        start = time.perf_counter()
        try:
            self.cloud.drain()
        finally:
            self.on = False
            self._sample.drain_wall = time.perf_counter() - start
        return self._sample


class _Batched(DirectContext):
    """The harness's sender, its envelopes sent 10 to a ``SendMessageBatch`` on ``flush``."""

    def __init__(self, cloud: LocalCloud) -> None:
        assert cloud.processes is not None
        super().__init__(cloud.processes.system)
        self.entries: list[Any] = []

    def emit(self, envelope: Envelope, delay: float = 0.0) -> None:
        self.entries.append(self._system().outbox_entry(envelope, delay))

    def flush(self) -> None:
        self._system().mailboxes.send(self.entries)
        self.entries = []


# -- (1, 2): warm, side by side ---------------------------------------------------------------
@dataclass
class SideBySide:
    """Per style, the measured drains of one layout."""

    label: str
    samples: dict[str, list[Sample]]


def _warm_batched(cloud: LocalCloud, meter: Meter, size: Size) -> SideBySide:
    """One warm process per style, ``size.batched`` messages per drain (10 to a batch)."""
    pids = {style: cloud.spawn(entry, HOST, 0) for style, entry in STYLES.items()}
    for pid in pids.values():
        cloud.send(pid, "inc", 1)
    cloud.drain()  # born and warm
    samples: dict[str, list[Sample]] = {style: [] for style in STYLES}
    for _ in range(size.repeats):
        for style, pid in pids.items():
            for _ in range(size.batched):
                cloud.send(pid, "inc", 1)
            samples[style].append(meter.drain(size.batched))
    _check_counters(cloud, pids.values(), 1 + size.repeats * size.batched)
    return SideBySide(f"1 process, {size.batched} messages a drain (10 a batch)", samples)


def _warm_spread(cloud: LocalCloud, meter: Meter, size: Size) -> SideBySide:
    """``size.spread`` warm processes per style, one message each per drain."""
    pids = {
        style: [cloud.spawn(entry, HOST, 0) for _ in range(size.spread)]
        for style, entry in STYLES.items()
    }
    for group in pids.values():
        for pid in group:
            cloud.send(pid, "inc", 1)
    cloud.drain()
    samples: dict[str, list[Sample]] = {style: [] for style in STYLES}
    for _ in range(size.spread_rounds):
        for style, group in pids.items():
            for pid in group:
                cloud.send(pid, "inc", 1)
            samples[style].append(meter.drain(len(group)))
    for group in pids.values():
        _check_counters(cloud, group, 1 + size.spread_rounds)
    label = f"{size.spread} processes, 1 message each a drain"
    return SideBySide(label, samples)


def _check_counters(cloud: LocalCloud, pids: Iterable[str], expected: int) -> None:
    """Stop each counter and check it counted ``expected``."""
    pids = list(pids)
    for pid in pids:
        cloud.send(pid, "stop")
    cloud.drain()
    wrong = [(pid, s) for pid in pids if (s := cloud.status(pid)).result != expected]
    if wrong:
        raise LoadCheckFailed(f"counters off (expected {expected}): {wrong[:3]}")


# -- (3): cold replay --------------------------------------------------------------------------
@dataclass
class Cold:
    """The cold batches at one journal size."""

    messages: int
    events: int
    samples: list[Sample]

    def best(self) -> Sample:
        return min(self.samples, key=lambda s: s.wall)


def _cold_curve(cloud: LocalCloud, meter: Meter, size: Size) -> list[Cold]:
    worker = meter.worker
    pid = cloud.spawn(LOOP, HOST, 0)
    cloud.drain()
    sent, out = 0, []
    sender = _Batched(cloud)
    for target in size.journals:
        while sent < target:
            for _ in range(min(500, target - sent)):
                sender.send(pid, "inc", 1)
                sent += 1
            sender.flush()
            cloud.drain()
        samples = []
        for _ in range(size.cold_repeats):
            worker.loops.warm.clear()  # a new Lambda instance: nothing warm
            cloud.send(pid, "inc", 1)
            sent += 1
            sample = meter.drain(1)
            if sample.worker.count("dynamodb", {"Query"}) == 0:
                raise LoadCheckFailed("the cold batch did not read the journal")
            samples.append(sample)
        kept = worker.loops.warm.take(pid)
        assert kept is not None
        events = kept.last_seq - kept.base
        worker.loops.warm.keep(pid, kept)
        out.append(Cold(target, events, samples))
    _check_counters(cloud, [pid], sent)
    return out


# -- (4): the load check -----------------------------------------------------------------------
@dataclass
class Load:
    processes: int
    messages: int
    samples: list[Sample]
    send_seconds: float
    wall: float
    lost: int
    duplicated: int
    reordered: int
    dead_letters: int


def _load(cloud: LocalCloud, meter: Meter, size: Size) -> Load:
    sender = _Batched(cloud)
    pids: list[str] = []
    while len(pids) < size.processes:
        for _ in range(min(size.chunk, size.processes - len(pids))):
            pids.append(sender.spawn(COLLECT, HOST, []))
        sender.flush()
        cloud.drain()
    rounds = size.messages // size.processes
    samples, send_seconds = [], 0.0
    start = time.perf_counter()
    for first in range(1, rounds + 1, size.rounds_per_drain):
        wave = range(first, min(rounds, first + size.rounds_per_drain - 1) + 1)
        for at in range(0, len(pids), size.chunk):
            chunk = pids[at : at + size.chunk]
            sent = time.perf_counter()
            for pid in chunk:  # a process's numbers one after another: a batch holds several
                for seq in wave:
                    sender.send(pid, "n", seq)
            sender.flush()
            send_seconds += time.perf_counter() - sent
            samples.append(meter.drain(len(wave) * len(chunk)))
    wall = time.perf_counter() - start
    for at in range(0, len(pids), size.chunk):
        for pid in pids[at : at + size.chunk]:
            sender.send(pid, "stop", None)
        sender.flush()
        cloud.drain()
    lost = duplicated = reordered = 0
    for pid in pids:
        status = cloud.status(pid)
        got = status.result if status.status == "exited" else None
        missing, extra, out_of_order = verdict(got if isinstance(got, list) else [], rounds)
        lost, duplicated = lost + missing, duplicated + extra
        reordered += out_of_order
    dead = len(cloud.dead_letters(HOST))
    return Load(
        size.processes,
        size.messages,
        samples,
        send_seconds,
        wall,
        lost,
        duplicated,
        reordered,
        dead,
    )


def verdict(got: list[Any], rounds: int) -> tuple[int, int, bool]:
    """What a process that was sent ``1..rounds`` in order received instead: how many numbers
    it never got, how many it got beyond one each (again, or never sent), and whether what it
    got once each came out of order."""
    expected = set(range(1, rounds + 1))
    firsts = list(dict.fromkeys(n for n in got if isinstance(n, int) and n in expected))
    return rounds - len(firsts), len(got) - len(firsts), firsts != sorted(firsts)


# -- (5): dollars ------------------------------------------------------------------------------
def usage(sample: Sample) -> costs.Usage:
    """What one message uses: the worker Lambda's share (CPU outside boto3 per invocation at
    the model's vCPU share, plus the AWS calls it waits on), the sender's SendMessage, the
    event source's and the worker's SQS requests, DynamoDB units."""
    m = max(1, sample.messages)
    invocations = sample.invocations / m
    per_invocation = max(1, sample.invocations)
    worker_calls = sum(sample.worker.ops.values()) / per_invocation
    cpu = max(0.0, sample.cpu - sample.boto_cpu) / per_invocation
    lam = costs.lambda_time(invocations, cost.MEMORY_MB, cost.billed_ms(cpu, worker_calls))
    sqs = 1 + (sample.worker.fifo + sample.source.fifo) / m  # the send, then the rest
    return lam + costs.Usage(
        sqs_fifo_requests=sqs,
        sqs_standard_requests=(sample.worker.standard + sample.source.standard) / m,
        dynamodb_wru=(sample.worker.wru + sample.source.wru) / m,
        dynamodb_rru=(sample.worker.rru + sample.source.rru) / m,
    )


# -- the run -----------------------------------------------------------------------------------
@dataclass
class Report:
    size: Size
    layouts: list[SideBySide]
    cold: list[Cold]
    load: Load
    seconds: float


def run_report(size: Size = FULL) -> Report:
    started = time.perf_counter()
    with LocalCloud(APP, auto_start=False) as cloud:
        meter = Meter(cloud)
        layouts = [_warm_batched(cloud, meter, size), _warm_spread(cloud, meter, size)]
    with LocalCloud(APP, auto_start=False) as cloud:
        cold = _cold_curve(cloud, Meter(cloud), size)
    with load.touched_partitions_only(), LocalCloud(APP, auto_start=False) as cloud:
        loaded = _load(cloud, Meter(cloud), size)
    return Report(size, layouts, cold, loaded, time.perf_counter() - started)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _layout_figures(layout: SideBySide) -> list[Figure]:
    out = []
    total = {style: merged(samples) for style, samples in layout.samples.items()}
    loop, handler = total["loop"], total["handler"]
    writes = loop.per_process_batch(loop.worker.writes)
    reads = loop.per_process_batch(loop.worker.reads)
    ok = writes <= GOAL_WRITES and reads <= GOAL_READS
    out.append(
        Figure(
            f"{layout.label}: loop DynamoDB writes / reads per process per batch",
            writes,
            "writes",
            f"{reads:.2f} reads (goal at most 1 write, 0 reads: {_met(ok)}); handler actor "
            f"{handler.per_process_batch(handler.worker.writes):.2f} writes, "
            f"{handler.per_process_batch(handler.worker.reads):.2f} reads; "
            f"{loop.process_batches} process-batches in {loop.invocations} worker invocations",
        )
    )
    for style, s in total.items():
        ops = ", ".join(f"{op} {n / s.messages:.2f}" for op, n in sorted(s.worker.ops.items()))
        out.append(
            Figure(
                f"  {style}: AWS calls per message, worker / event source",
                s.per_message(sum(s.worker.ops.values())),
                "calls",
                f"{s.per_message(s.source.sqs):.2f} event-source SQS calls (receive + delete, "
                f"{s.source.empty_receives} empty polls left out); worker: {ops or 'none'}; "
                f"{s.per_message(s.worker.wru):.2f} WRU, {s.per_message(s.worker.rru):.2f} RRU",
            )
        )
    loop_sqs = loop.per_message(loop.worker.sqs + loop.source.sqs)
    handler_sqs = handler.per_message(handler.worker.sqs + handler.source.sqs)
    out.append(
        Figure(
            "  SQS calls per message, loop / handler",
            loop_sqs,
            "calls",
            f"handler {handler_sqs:.2f} (goal: the same as handler actors: "
            f"{_met(abs(loop_sqs - handler_sqs) < 1e-9)}); plus the sender's one SendMessage",
        )
    )
    best = {style: min(samples, key=Sample.cpu_us) for style, samples in layout.samples.items()}
    median = {
        style: statistics.median(s.cpu_us() for s in samples)
        for style, samples in layout.samples.items()
    }
    ratio = best["loop"].cpu_us() / max(1e-9, best["handler"].cpu_us())
    for style in STYLES:
        b = best[style]
        out.append(
            Figure(
                f"  worker CPU per message outside boto3, {style}",
                b.cpu_us(),
                "µs",
                f"best of {len(layout.samples[style])} drains (median {median[style]:.0f} µs); "
                f"in boto3 + moto {b.boto_cpu / b.messages * 1e6:.0f} µs a message more",
            )
        )
    out.append(
        Figure(
            "  loop / handler CPU",
            ratio,
            "x",
            f"goal at most {GOAL_CPU_RATIO:g}x: {_met(ratio <= GOAL_CPU_RATIO)}; medians "
            f"{median['loop'] / max(1e-9, median['handler']):.2f}x",
        )
    )
    return out


def _cold_figures(cold: list[Cold]) -> list[Figure]:
    out = []
    for c in cold:
        b = c.best()
        replay = max(0.0, b.cpu - b.boto_cpu)
        queries = b.worker.count("dynamodb", {"Query"})
        out.append(
            Figure(
                f"cold replay of a {c.messages:,}-message journal ({c.events:,} events)",
                b.wall * 1000,
                "ms",
                f"the batch in all (best of {len(c.samples)}); outside boto3 {replay * 1000:.0f} "
                f"ms, in boto3 + moto {b.boto_wall * 1000:.0f} ms ({queries} Query, "
                f"{b.worker.rru:.0f} RRU)",
            )
        )
    if cold:
        last = cold[-1]
        best = last.best()
        read = costs.dollars(costs.Usage(dynamodb_rru=best.worker.rru)).get("DynamoDB", 0.0)
        out.append(
            Figure(
                f"  goal: {last.messages:,} messages replayed in at most {GOAL_REPLAY_S:g} s",
                best.wall,
                "s",
                f"{_met(best.wall <= GOAL_REPLAY_S)} (moto's Query included); its reads cost "
                f"${read * 1e6:.2f} per million cold replays",
            )
        )
    return out


def _load_figures(report: Load) -> list[Figure]:
    total = merged(report.samples)
    exact = not (report.lost or report.duplicated or report.reordered or report.dead_letters)
    drains = total.drain_wall
    return [
        Figure(
            f"{report.messages:,} messages over {report.processes:,} loop processes: lost / "
            "duplicated / reordered",
            report.lost + report.duplicated + report.reordered,
            "wrong",
            f"{report.lost} lost, {report.duplicated} duplicated, {report.reordered} processes "
            f"out of order, {report.dead_letters} dead letters: "
            f"{'zero lost, zero duplicated, order kept' if exact else 'FAILED'}",
        ),
        Figure(
            "  throughput through the harness",
            report.messages / report.wall,
            "msg/s",
            f"{report.wall:.0f} s: {report.send_seconds:.0f} s sending (10 to a "
            f"SendMessageBatch), {drains:.0f} s draining, {total.wall:.0f} s of it in the worker's "
            f"handle() ({total.boto_wall / max(1e-9, total.wall):.0%} of that in boto3 + moto)",
        ),
        Figure(
            "  DynamoDB writes / reads per process per batch",
            total.per_process_batch(total.worker.writes),
            "writes",
            f"{total.per_process_batch(total.worker.reads):.2f} reads; "
            f"{total.per_message(total.process_batches):.2f} process-batches per message; CPU "
            f"{total.cpu_us():.0f} µs a message outside boto3",
        ),
    ]


def _cost_figures(layouts: list[SideBySide]) -> list[Figure]:
    out = []
    for layout in layouts:
        for style, samples in layout.samples.items():
            total = merged(samples)
            use = usage(total)
            lines = costs.dollars(use)
            breakdown = ", ".join(f"{name} ${v * 1e6:.2f}" for name, v in lines.items())
            out.append(
                Figure(
                    f"$ per million messages, {style}, {layout.label}",
                    costs.per_million(use),
                    "$",
                    f"arm64 {cost.MEMORY_MB} MB; {breakdown}; {use.dynamodb_wru:.2f} WRU, "
                    f"{use.sqs_fifo_requests:.2f} FIFO requests, "
                    f"{use.lambda_requests:.2f} invocations per message",
                )
            )
    return out


def figures(report: Report) -> list[Figure]:
    out: list[Figure] = []
    for layout in report.layouts:
        out += _layout_figures(layout)
    out += _cold_figures(report.cold)
    out += _load_figures(report.load)
    out += _cost_figures(report.layouts)
    out.append(Figure("  the whole section", report.seconds, "s"))
    return out


def check(report: Report) -> None:
    """Raise LoadCheckFailed unless the load check found every message once, in order."""
    r = report.load
    if r.lost or r.duplicated or r.reordered or r.dead_letters:
        raise LoadCheckFailed(
            f"{r.lost} lost, {r.duplicated} duplicated, {r.reordered} out of order, "
            f"{r.dead_letters} dead letters"
        )


def run(size: Size = FULL) -> list[Figure]:
    report = run_report(size)
    check(report)
    return figures(report)


if __name__ == "__main__":
    print_figures(run(QUICK if "--quick" in sys.argv[1:] else FULL))
