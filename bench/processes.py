"""Processes: AWS calls per message, worker CPU per message, memory per idle actor, and the
10,000-message load check over 1,000 actors.

Everything runs in moto through :class:`~runtime.testing.LocalCloud`. The AWS calls are the real
boto3 calls, counted with botocore event hooks on the process clients while a drain runs, and
split into the worker's own calls (billed per turn) and the calls of the harness's stand-in for
Lambda's SQS event source mapping (receive, delete, change visibility).

python -m bench.processes      # this section alone
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lupa.lua54 as lua54

from bench.timing import Figure, per_call_us
from runtime.processes.worker import ProcessWorker
from runtime.testing import LocalCloud

APP = Path(__file__).resolve().parent.parent / "tests" / "apps" / "actors"
HOST = "app:workers"

#: Scenario (a): one actor, this many messages per repeat (batches of 10), best of REPEATS.
BATCHED_MESSAGES = 100
REPEATS = 5
#: Scenario (b), the memory figure and the load check: this many actors ...
ACTORS = 1_000
#: ... each sent one numbered message per round, a drain after every round.
ROUNDS = 10
BARE_CALLS = 20_000

READS = {"GetItem", "BatchGetItem", "Query", "Scan"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
WORKER_SQS = {"SendMessage", "SendMessageBatch"}
#: What runtime/processes/event_source.py's QueuePoller calls: Lambda's event source mapping.
EVENT_SOURCE = {
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
}


class LoadCheckFailed(RuntimeError):
    """The load check found a lost, duplicated or reordered message."""


# -- measuring a drain ------------------------------------------------------------------------
@dataclass
class Drain:
    """One drain: its messages, wall time, time inside boto3, and the calls it made."""

    messages: int
    wall: float
    aws: float
    calls: Counter[str]
    empty_receives: int

    def per_message(self, ops: set[str]) -> float:
        return sum(self.calls[op] for op in ops) / self.messages

    def event_source_per_message(self) -> float:
        # Empty polls are the drain loop checking the queues are idle (and the delay queue every
        # round); the real event source long-polls, so they are no cost of a message.
        calls = sum(self.calls[op] for op in EVENT_SOURCE) - self.empty_receives
        return calls / self.messages

    def cpu_us(self) -> float:
        """Microseconds per message outside boto3 calls (which include moto's own work)."""
        return (self.wall - self.aws) / self.messages * 1e6

    def aws_us(self) -> float:
        return self.aws / self.messages * 1e6

    def other_ops(self) -> set[str]:
        return set(self.calls) - READS - WRITES - WORKER_SQS - EVENT_SOURCE


@dataclass
class CallMeter:
    """Counts and times the boto3 calls of some clients while ``on``.

    A call is timed from ``provide-client-params`` (the first event of a call, before parameter
    validation and serialization) to ``after-call`` (the response parsed), so the client's own
    marshalling counts as AWS time too: the figure left over is the worker's.
    """

    calls: Counter[str] = field(default_factory=Counter)
    empty_receives: int = 0
    aws: float = 0.0
    on: bool = False
    _started: float = 0.0

    def attach(self, clients: Iterable[Any]) -> None:
        unique = {id(client): client for client in clients}  # one client, one set of hooks
        for client in unique.values():
            events = client.meta.events
            events.register("provide-client-params.*.*", self._start)
            events.register("after-call.*.*", self._end)
            events.register("after-call-error.*.*", self._end)

    # Both hooks return None: a value from them would replace the call's parameters or response.
    def _start(self, **_: Any) -> None:
        self._started = time.perf_counter()

    def _end(self, event_name: str, parsed: Any = None, **_: Any) -> None:
        if not self.on:
            return
        self.aws += time.perf_counter() - self._started
        op = event_name.rsplit(".", 1)[-1]
        self.calls[op] += 1
        if op == "ReceiveMessage" and not (parsed or {}).get("Messages"):
            self.empty_receives += 1

    def drain(self, cloud: LocalCloud, messages: int) -> Drain:
        """Run ``cloud.drain()`` and measure it as the handling of ``messages`` messages."""
        self.calls, self.empty_receives, self.aws = Counter(), 0, 0.0
        self.on = True
        start = time.perf_counter()
        try:
            cloud.drain()
        finally:
            wall = time.perf_counter() - start
            self.on = False
        return Drain(messages, wall, self.aws, self.calls, self.empty_receives)


def _metered(cloud: LocalCloud) -> CallMeter:
    """A meter on every boto3 client the process worker and its event sources use."""
    procs = cloud.processes
    assert procs is not None, f"{APP} has no process host"
    clients = [procs.system.store.client, procs.system.mailboxes.client, procs.sqs]
    for host in procs.hosts.values():
        clients += [host.queue.client, host.delays.client]
    meter = CallMeter()
    meter.attach(clients)
    return meter


def _worker(cloud: LocalCloud) -> ProcessWorker:
    assert cloud.processes is not None
    return cloud.processes.hosts[HOST].worker


# -- the bare baseline ------------------------------------------------------------------------
_BARE_STEP = """
local handle = ...
-- The same message object as the kit's prelude (kit.new_message), built in Lua per call.
local payload_mt = { __index = { data = function(self) return self.data_ end } }
local message_mt = { __index = {
  topic = function(self) return self.topic_ end,
  from = function(self) return self.from_ end,
  payload = function(self) return setmetatable({ data_ = self.data_ }, payload_mt) end,
} }
return function(state, topic, data)
  return handle(state, setmetatable({ topic_ = topic, data_ = data }, message_mt))
end
"""


def _bare_counter_step() -> Any:
    """``step(state, topic, data)``: counter.lua's ``handle`` on a fresh msg, in a bare runtime."""
    lua = lua54.LuaRuntime(register_eval=False, register_builtins=False)
    lua.execute("package.preload.time = function() return {} end")  # counter requires it
    counter = lua.execute((APP / "counter.lua").read_text(encoding="utf-8"))
    step = lua.execute(_BARE_STEP, counter.handle)
    state = lua.table_from({"n": 0})
    return lambda: step(state, "inc", 1)


# -- scenario (a): one actor, 10-message batches ---------------------------------------------
def _one_actor() -> tuple[list[Drain], float]:
    """Drains of BATCHED_MESSAGES to one warm counter, interleaved with the bare baseline."""
    bare = _bare_counter_step()
    per_call_us(bare, BARE_CALLS // 10)  # warm
    bare_us = float("inf")
    drains = []
    with LocalCloud(APP, auto_start=False) as cloud:
        meter = _metered(cloud)
        pid = cloud.spawn("app:counter", HOST, 0)
        cloud.drain()  # the spawn turn: the actor is now in the worker's cache
        for _ in range(REPEATS):
            for _ in range(BATCHED_MESSAGES):
                cloud.send(pid, "inc", 1)
            drains.append(meter.drain(cloud, BATCHED_MESSAGES))
            bare_us = min(bare_us, per_call_us(bare, BARE_CALLS))
        n = cloud.state(pid)["n"]
    if n != REPEATS * BATCHED_MESSAGES:
        raise LoadCheckFailed(f"the counter reached {n}, not {REPEATS * BATCHED_MESSAGES}")
    return drains, bare_us


# -- scenario (b), memory, and the load check: 1,000 actors -----------------------------------
@dataclass
class Memory:
    """Bytes per idle actor held by the worker cache (Lua and Python), and the Lua bytes the
    spawns left outside the cache in all."""

    actors: int
    cached: int
    lua_held: float
    lua_left: float
    python_held: float


@dataclass
class Load:
    """The 1,000-actor run: spawn drain, memory, one drain per round, and the load check."""

    spawn: Drain
    memory: Memory
    rounds: list[Drain]
    send_seconds: float
    wall: float


def _lua_bytes(collect: Any, lua: Any) -> int:
    collect()  # a full cycle, twice: finalizers' garbage goes in the second
    return int(lua.get_memory_used() or 0)


def _python_bytes(roots: Iterable[object]) -> int:
    """Bytes of the Python objects reachable from ``roots`` through containers and dataclasses,
    each counted once. Lupa wrappers are counted, not followed: what they hold is Lua memory."""
    seen: set[int] = set()
    stack = list(roots)
    total = 0
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack += list(obj.keys()) + list(obj.values())
        elif isinstance(obj, list | tuple | set | frozenset):
            stack += list(obj)
        elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            stack.append(vars(obj))
    return total


def _collector(lua: Any) -> Any:
    # Compiled once, so that measuring leaves no new chunk behind.
    return lua.eval(b"function() collectgarbage('collect') collectgarbage('collect') end")


def _spawn_and_weigh(cloud: LocalCloud, meter: CallMeter) -> tuple[list[str], Drain, Memory]:
    """Spawn ACTORS tally actors (the spawn drain measured), weigh the cache, then drop it."""
    worker = _worker(cloud)
    lua = worker.engine.state.lua
    collect = _collector(lua)
    before = _lua_bytes(collect, lua)
    pids = [cloud.spawn("app:tally", HOST) for _ in range(ACTORS)]
    spawn = meter.drain(cloud, ACTORS)
    held = _lua_bytes(collect, lua)
    cached = len(worker.cache)
    python_held = _python_bytes([worker.cache])
    worker.cache.clear()  # so that round 1 meets a cold worker, as a new Lambda instance would
    dropped = _lua_bytes(collect, lua)
    per_cached = max(1, cached)
    memory = Memory(
        actors=ACTORS,
        cached=cached,
        lua_held=(held - dropped) / per_cached,
        lua_left=dropped - before,
        python_held=python_held / per_cached,
    )
    return pids, spawn, memory


def _thousand_actors() -> Load:
    with LocalCloud(APP, auto_start=False) as cloud:
        meter = _metered(cloud)
        pids, spawn, memory = _spawn_and_weigh(cloud, meter)
        rounds, send_seconds = [], 0.0
        start = time.perf_counter()
        for seq in range(1, ROUNDS + 1):
            sent = time.perf_counter()
            for pid in pids:
                cloud.send(pid, "n", seq)
            send_seconds += time.perf_counter() - sent
            # A drain per round keeps moto's queue short: its SQS costs O(queue length) a call.
            rounds.append(meter.drain(cloud, ACTORS))
        wall = time.perf_counter() - start
        _check(cloud, pids)
    return Load(spawn, memory, rounds, send_seconds, wall)


def _check(cloud: LocalCloud, pids: list[str]) -> None:
    """Zero lost, zero duplicated, per-sender order kept; raise LoadCheckFailed otherwise."""
    states = [cloud.state(pid) for pid in pids]
    wrong = [
        (pid, s)
        for pid, s in zip(pids, states, strict=True)
        if s != {"count": ROUNDS, "last": ROUNDS, "out_of_order": 0}
    ]
    total = sum(s["count"] for s in states)
    dead = cloud.dead_letters(HOST)
    if wrong or dead or total != ROUNDS * len(pids):
        raise LoadCheckFailed(
            f"{total} of {ROUNDS * len(pids)} messages applied; {len(wrong)} actors wrong "
            f"(first: {wrong[:3]}); {len(dead)} dead letters"
        )


# -- figures ----------------------------------------------------------------------------------
def _calls_figures(label: str, drains: list[Drain], note: str = "") -> list[Figure]:
    total = _merge(drains)
    other = total.other_ops()
    extra = f"; other calls: {sorted(other)}" if other else ""
    return [
        Figure(f"{label}: DynamoDB reads per message", total.per_message(READS), "calls", note),
        Figure(f"{label}: DynamoDB writes per message", total.per_message(WRITES), "calls"),
        Figure(
            f"{label}: worker SQS calls per message",
            total.per_message(WORKER_SQS),
            "calls",
            "SendMessage(Batch); the handler sends nothing" + extra,
        ),
        Figure(
            f"{label}: event-source SQS calls per message",
            total.event_source_per_message(),
            "calls",
            f"receive + delete (Lambda's event source mapping); {total.empty_receives} empty "
            "polls of the drain loop left out",
        ),
    ]


def _merge(drains: list[Drain]) -> Drain:
    calls: Counter[str] = Counter()
    for d in drains:
        calls.update(d.calls)
    return Drain(
        messages=sum(d.messages for d in drains),
        wall=sum(d.wall for d in drains),
        aws=sum(d.aws for d in drains),
        calls=calls,
        empty_receives=sum(d.empty_receives for d in drains),
    )


def _cpu_figures(label: str, drains: list[Drain], bare_us: float) -> list[Figure]:
    best = min(drains, key=Drain.cpu_us)
    return [
        Figure(
            f"worker per message, {label}, outside boto3",
            best.cpu_us(),
            "µs",
            f"best of {len(drains)} drains: {best.wall / best.messages * 1e6:.0f} µs a message "
            f"in all, {best.aws_us():.0f} µs of it in boto3 + moto",
        ),
        Figure("  ratio to the bare lupa call", best.cpu_us() / bare_us, "x"),
    ]


def _memory_figures(memory: Memory) -> list[Figure]:
    note = "" if memory.cached == memory.actors else f" ({memory.cached} were cached)"
    return [
        Figure(
            f"Lua memory per idle actor in the worker cache ({memory.actors:,} tally actors)",
            memory.lua_held,
            "bytes",
            "Lua state memory (after a full GC) with the cache minus after dropping it" + note,
        ),
        Figure(
            "  Python memory per cached actor",
            memory.python_held,
            "bytes",
            "the cache entries: snapshot copies and lupa handles, each object counted once",
        ),
        Figure(
            "  Lua memory left once the cache is dropped, in all",
            memory.lua_left / 1024,
            "KiB",
            f"over the state before the {memory.actors:,} spawns: tally.lua compiled and "
            "high-water marks, e.g. the Lua registry's slots for lupa handles (16 bytes each, "
            "kept when freed); a per-actor leak would show here",
        ),
    ]


def _load_figures(load: Load) -> list[Figure]:
    messages = sum(d.messages for d in load.rounds)
    drain_seconds = sum(d.wall for d in load.rounds)
    in_boto3 = sum(d.aws for d in load.rounds) / drain_seconds
    return [
        Figure(
            f"{messages:,} messages over {ACTORS:,} actors: throughput through the harness",
            messages / load.wall,
            "msg/s",
            f"{ROUNDS} rounds of one send per actor then a drain; checked: zero lost, zero "
            "duplicated, per-sender order kept, no dead letters",
        ),
        Figure("  wall time (sends and drains)", load.wall, "s", "the spawns excluded"),
        Figure(
            "  drains alone",
            messages / drain_seconds,
            "msg/s",
            f"{drain_seconds:.0f} s draining ({in_boto3:.0%} of it in boto3 + moto), "
            f"{load.send_seconds:.0f} s sending",
        ),
    ]


def run() -> list[Figure]:
    one, bare_us = _one_actor()
    load = _thousand_actors()
    cold, warm = load.rounds[:1], load.rounds[1:]
    spawn = load.spawn
    return [
        *_calls_figures(
            f"1 actor, {REPEATS * BATCHED_MESSAGES} messages in batches of 10",
            one,
            "warm cache",
        ),
        *_calls_figures(
            f"{ACTORS:,} actors x 1 message, warm",
            warm,
            f"{len(warm)} rounds of one message per actor",
        ),
        *_calls_figures(
            f"{ACTORS:,} actors x 1 message, cold",
            cold,
            "the worker cache dropped first, as in a new Lambda instance",
        )[:2],
        Figure(
            f"{ACTORS:,} spawns: DynamoDB calls per new actor",
            spawn.per_message(READS | WRITES),
            "calls",
            f"{spawn.per_message(READS):.2f} reads (of the absent item) + "
            f"{spawn.per_message(WRITES):.2f} writes",
        ),
        Figure("bare lupa call of counter.handle(state, msg)", bare_us, "µs", "msg built in Lua"),
        *_cpu_figures("1 actor in batches of 10", one, bare_us),
        *_cpu_figures(f"{ACTORS:,} actors x 1 message (a commit each)", warm, bare_us),
        *_memory_figures(load.memory),
        *_load_figures(load),
    ]


def _print(figures: list[Figure]) -> None:
    """The rows as ``python -m bench`` prints them."""
    print("| measure | value | note |\n|---|---|---|")
    for f in figures:
        value = f"{f.value:.2f}" if f.value < 100 else f"{f.value:.0f}"
        print(f"| {f.name} | {value} {f.unit} | {f.note} |")


if __name__ == "__main__":
    _print(run())
