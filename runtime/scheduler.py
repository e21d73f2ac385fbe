"""Cooperative scheduling of Lua tasks inside one invocation (or one worker batch).

A task is a Lua coroutine (built by ``kit.new_task``). It runs until it finishes or yields an
operation (``select``, ``sleep``, ``call``, ...); the operation's handler here either answers at
once (the task goes on) or parks the task until a channel, a timer or an I/O completion wakes it.
Channel buffers and waiters live here, in Python, so everything a task waits on is inspectable.

Choices are deterministic: the ready queue is FIFO, and ``select`` takes the first ready case in
the order given (Go picks at random; replayed workflows need the same choice every time).
"""

from __future__ import annotations

import concurrent.futures
import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from time import process_time
from typing import Any

from runtime.clock import Clock
from runtime.errors import CANCELED, INTERNAL, TIMEOUT, UnitError
from runtime.sandbox import LuaState, lua_text


class Deadlock(UnitError):
    """Every task is blocked and nothing (timer, I/O) can wake any of them."""

    def __init__(self, detail: str) -> None:
        super().__init__(INTERNAL, f"deadlock: every task is blocked ({detail})")


#: The CPU seconds of Python operations gathered before they are charged to a task's budget.
_CHARGE_SECONDS = 0.001


@dataclass(eq=False)
class Task:
    """One Lua coroutine under the scheduler."""

    id: int
    lua: Any
    name: str
    on_done: Callable[[Task], None] | None = None
    done: bool = False
    values: tuple[Any, ...] = ()
    error: Any = None
    traceback: str | None = None
    parked_on: str | None = None
    waiter: _Waiter | None = None
    timer: _Timer | None = None
    #: What the host attached to the task (a process turn, ...); children inherit it.
    data: Any = None
    #: The task a ``coroutine.spawn`` chain started from (None for a root task): a spawned
    #: coroutine's failure fails its root, and a root's end stops what it spawned.
    root: Task | None = None
    spawned: list[Task] = field(default_factory=list)
    #: CPU seconds its operations took in Python, not yet charged to its budget.
    op_cpu: float = 0.0

    @property
    def failed(self) -> bool:
        return self.done and self.traceback is not None


@dataclass(eq=False)
class _Waiter:
    """A task blocked in ``select`` on one or more channels."""

    task: Task
    cases: list[tuple[str, int, Any]]
    fired: bool = False


@dataclass(eq=False)
class Channel:
    """A Go-style channel: ``capacity`` 0 is unbuffered (a send waits for a receiver)."""

    id: int
    capacity: int
    buffer: deque[Any] = field(default_factory=deque)
    closed: bool = False
    receivers: deque[tuple[_Waiter, int]] = field(default_factory=deque)
    senders: deque[tuple[_Waiter, int, Any]] = field(default_factory=deque)


@dataclass(order=True)
class _Timer:
    deadline: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


@dataclass(eq=False)
class Future:
    """The result of ``funcs.async``: a child task whose outcome lands in ``channel`` (a
    Payload on success, the error on failure; then the channel closes)."""

    id: int
    channel: Channel
    abandon: Callable[[Any], None] | None = None
    done: bool = False
    #: The outcome as Lua values: the Payload delivered, or the error.
    payload: Any = None
    error: Any = None
    canceled: bool = False


Op = Callable[..., "tuple[bool, tuple[Any, ...]]"]


class Scheduler:
    """Runs tasks until the ones you care about are finished.

    Operation handlers return ``(True, values)`` to resume the task at once with ``values``, or
    ``(False, ())`` after arranging for ``wake(task, values)`` to be called later.
    """

    def __init__(self, state: LuaState, clock: Clock) -> None:
        self.state = state
        self.clock = clock
        self._step = state.k["step"]
        self._new_task = state.k["new_task"]
        self._flatten_cases = state.k["flatten_cases"]
        self._new_payload = state.k["new_payload"]
        self._ready: deque[tuple[Task, tuple[Any, ...]]] = deque()
        self._timers: list[_Timer] = []
        self._io: dict[concurrent.futures.Future[Any], Callable[[Any], None]] = {}
        self._ids = itertools.count(1)
        self._timer_seq = itertools.count()
        self.channels: dict[int, Channel] = {}
        self.futures: dict[int, Future] = {}
        self.tasks: dict[int, Task] = {}
        self.current: Task | None = None
        #: The clock time :meth:`run_until` must finish by (None: no limit), for operations
        #: that bound their own waits by the call's deadline (http_client).
        self.deadline: float | None = None
        #: What modules keep for this invocation only (the event bus, open files), by key.
        self.locals: dict[Any, Any] = {}
        #: Called by :meth:`close`, in order: modules give back what the invocation held (open
        #: files, an open SQL transaction, rolled back).
        self.cleanups: list[Callable[[], None]] = []
        self.ops: dict[bytes, Op] = {
            b"select": self._op_select,
            b"close": self._op_close,
            b"sleep": self._op_sleep,
            b"future_result": self._op_future_result,
            b"future_error": self._op_future_error,
            b"future_done": self._op_future_done,
            b"future_canceled": self._op_future_canceled,
            b"future_cancel": self._op_future_cancel,
            b"spawn": self._op_spawn,
        }

    def close(self) -> None:
        """Drop everything the invocation made.

        The operation table holds bound methods and closures over the scheduler, a reference
        cycle; breaking it here frees an invocation's Lua objects at once instead of leaving one
        garbage cycle per request to the cyclic collector.
        """
        cleanups, self.cleanups = self.cleanups, []
        for cleanup in cleanups:
            cleanup()
        self.locals.clear()
        self.ops.clear()
        self.tasks.clear()
        self.channels.clear()
        self.futures.clear()
        self._ready.clear()
        self._timers.clear()
        self._io.clear()

    # -- tasks ----------------------------------------------------------------------------
    def spawn(
        self,
        fn: Any,
        args: tuple[Any, ...],
        *,
        budget: Any,
        ctx: Any = None,
        name: str = "task",
        on_done: Callable[[Task], None] | None = None,
        lua_task: Any = None,
        data: Any = None,
    ) -> Task:
        """Create a task running ``fn(*args)``; it starts when the scheduler next runs."""
        lua = lua_task if lua_task is not None else self._new_task(fn, budget, ctx)
        task = Task(id=next(self._ids), lua=lua, name=name, on_done=on_done, data=data)
        self.tasks[task.id] = task
        self._ready.append((task, args))
        return task

    def wake(self, task: Task, values: tuple[Any, ...] = ()) -> None:
        """Make a parked task runnable with ``values`` as the answer to its operation."""
        if task.done:
            return
        task.parked_on = None
        task.waiter = None
        task.timer = None
        self._ready.append((task, values))

    def cancel(self, task: Task) -> None:
        """Stop a task for good: it is never resumed again and leaves every wait it was in."""
        self._stop(task, self.state.new_error(CANCELED, "canceled"), "canceled")

    def _stop(self, task: Task, error: Any, traceback: str) -> None:
        if task.done:
            return
        if task.waiter is not None:
            task.waiter.fired = True
        if task.timer is not None:
            task.timer.cancelled = True
        self._finish(task, (), error, traceback)

    def _finish(
        self, task: Task, values: tuple[Any, ...], error: Any, traceback: str | None
    ) -> None:
        task.done = True
        task.values = values
        task.error = error
        task.traceback = traceback
        self.tasks.pop(task.id, None)
        # What a task spawned ends with it, as in Wippy (the entry function's return closes
        # every coroutine it started).
        for child in task.spawned:
            self.cancel(child)
        task.spawned = []
        failed = traceback is not None and traceback != "canceled"
        if task.root is not None and failed and not task.root.done:
            # A spawned coroutine that raised fails the whole call, with its error.
            self._stop(task.root, error, traceback)
        if task.on_done is not None:
            task.on_done(task)

    def _run_task(self, task: Task, values: tuple[Any, ...]) -> None:
        step = self._step
        while True:
            if task.done:
                return
            self.current = task
            try:
                result = step(task.lua, *values)
            finally:
                self.current = None
            if not isinstance(result, tuple):
                result = (result,)
            status = result[0]
            if status == b"yield":
                op = self.ops.get(result[1])
                if op is None:
                    self._finish(task, (), None, f"unknown scheduler operation {result[1]!r}")
                    return
                self.current = task  # the operation acts for this task (see current_task users)
                started = process_time()
                try:
                    go_on, values = op(task, *result[2:])
                except UnitError as exc:
                    # Misuse (a send on a closed channel, ...) raises in the task, like a panic.
                    go_on, values = True, (self.state.raise_marker, exc.message.encode())
                finally:
                    self.current = None
                    self._charge(task, process_time() - started)
                if not go_on:
                    task.parked_on = lua_text(result[1])
                    return
            elif status == b"done":
                self._finish(task, result[1:], None, None)
                return
            else:
                error = result[1] if len(result) > 1 else None
                trace = result[2] if len(result) > 2 else None
                self._finish(
                    task, (), error, lua_text(trace) if trace is not None else lua_text(error)
                )
                return

    def _charge(self, task: Task, seconds: float) -> None:
        """Count the CPU an operation took in Python against the task's CPU ceiling, so a loop
        whose every turn is an operation (a timer made and a select, again and again) stops
        at its limit like one spinning in Lua. Charged by the millisecond: the common
        operation costs one clock read."""
        task.op_cpu += seconds
        if task.op_cpu >= _CHARGE_SECONDS:
            self.state.k["charge_cpu"](task.lua, task.op_cpu)
            task.op_cpu = 0.0

    # -- running ----------------------------------------------------------------------------
    def run_ready(self) -> None:
        """Run tasks until none is ready, firing no timers and waiting for nothing (a workflow
        step: its timers and results come from the history)."""
        while self._ready:
            task, values = self._ready.popleft()
            self._run_task(task, values)

    def run_until(self, done: Callable[[], bool], *, deadline: float | None = None) -> None:
        """Run tasks until ``done()`` holds.

        Raises:
            Deadlock: nothing can make progress and ``done()`` is still false.
            UnitError: TIMEOUT when the clock passes ``deadline`` first.
        """
        self.deadline = deadline
        while not done():
            if self._ready:
                task, values = self._ready.popleft()
                self._run_task(task, values)
                continue
            if self._fire_due_timers():
                continue
            if self._io:
                self._wait_io()
                continue
            next_timer = self._next_timer()
            if next_timer is None:
                parked = ", ".join(f"{t.name} on {t.parked_on}" for t in self.tasks.values())
                raise Deadlock(parked or "no tasks")
            if deadline is not None and next_timer > deadline:
                self.clock.wait_until(deadline)
                raise UnitError(TIMEOUT, "the call ran past its deadline")
            self.clock.wait_until(next_timer)

    def _next_timer(self) -> float | None:
        while self._timers and self._timers[0].cancelled:
            heapq.heappop(self._timers)
        return self._timers[0].deadline if self._timers else None

    def _fire_due_timers(self) -> bool:
        now = self.clock.now()
        fired = False
        while self._timers and (self._timers[0].cancelled or self._timers[0].deadline <= now):
            timer = heapq.heappop(self._timers)
            if not timer.cancelled:
                timer.action()
                fired = True
        return fired

    def _wait_io(self) -> None:
        # Real I/O (remote invokes) finishes in real time; a timer may be due first.
        next_timer = self._next_timer()
        timeout = None
        if next_timer is not None and not getattr(self.clock, "virtual", False):
            timeout = max(0.0, next_timer - self.clock.now())
        finished, _ = concurrent.futures.wait(
            list(self._io), timeout=timeout, return_when=concurrent.futures.FIRST_COMPLETED
        )
        if not finished and next_timer is not None:
            self.clock.wait_until(next_timer)
        # A timer that came due while the I/O ran wins: its deadline was earlier.
        self._fire_due_timers()
        for fut in finished:
            callback = self._io.pop(fut)
            callback(fut)

    def add_timer(self, delay: float, action: Callable[[], None]) -> _Timer:
        """Call ``action`` once ``delay`` seconds of clock time have passed."""
        timer = _Timer(self.clock.now() + max(0.0, delay), next(self._timer_seq), action)
        heapq.heappush(self._timers, timer)
        return timer

    def alone(self, until: float | None = None) -> bool:
        """Whether nothing but the running task can make progress before clock time ``until``
        (None: at all): no task is ready, no I/O is in flight and no timer is due earlier. A
        blocking call made on the scheduler's thread then is, for the invocation, the same as
        one made on an I/O thread and awaited (and saves the hand-off)."""
        if self._ready or self._io:
            return False
        next_timer = self._next_timer()
        return next_timer is None or (until is not None and next_timer >= until)

    def add_io(self, fut: concurrent.futures.Future[Any], callback: Callable[[Any], None]) -> None:
        """Call ``callback(fut)`` from the scheduler's thread once ``fut`` completes."""
        self._io[fut] = callback

    # -- channels -------------------------------------------------------------------------
    def new_channel(self, capacity: int) -> Channel:
        ch = Channel(id=next(self._ids), capacity=capacity)
        self.channels[ch.id] = ch
        return ch

    def channel(self, channel_id: int) -> Channel:
        ch = self.channels.get(channel_id)
        if ch is None:
            raise UnitError(INTERNAL, f"channel {channel_id} does not belong to this invocation")
        return ch

    def offer(self, ch: Channel, value: Any) -> bool:
        """Send without blocking (for the kit's own producers). False if it would block."""
        if ch.closed:
            return False
        while ch.receivers:
            waiter, index = ch.receivers.popleft()
            if waiter.fired:
                continue
            self._fire(waiter, (index, value, True))
            return True
        if len(ch.buffer) < ch.capacity:
            ch.buffer.append(value)
            return True
        return False

    def close_channel(self, ch: Channel) -> None:
        if ch.closed:
            return
        ch.closed = True
        while ch.receivers:
            waiter, index = ch.receivers.popleft()
            if not waiter.fired:
                self._fire(waiter, (index, None, False))
        while ch.senders:
            waiter, _, _ = ch.senders.popleft()
            if not waiter.fired:
                waiter.fired = True
                self._fail(waiter.task, "send on closed channel")

    def _fire(self, waiter: _Waiter, values: tuple[Any, ...]) -> None:
        waiter.fired = True
        self.wake(waiter.task, values)

    def _fail(self, task: Task, message: str) -> None:
        self.wake(task, (self.state.raise_marker, message.encode()))

    def _try_case(self, kind: str, ch: Channel, index: int, value: Any) -> tuple[Any, ...] | None:
        if kind == "recv":
            if ch.buffer:
                item = ch.buffer.popleft()
                # A slot opened: the oldest blocked sender fills it.
                while ch.senders:
                    waiter, sindex, svalue = ch.senders.popleft()
                    if not waiter.fired:
                        ch.buffer.append(svalue)
                        self._fire(waiter, (sindex, None, True))
                        break
                return (index, item, True)
            while ch.senders:
                waiter, sindex, svalue = ch.senders.popleft()
                if not waiter.fired:
                    self._fire(waiter, (sindex, None, True))
                    return (index, svalue, True)
            if ch.closed:
                return (index, None, False)
            return None
        if ch.closed:
            raise UnitError(INTERNAL, "send on closed channel")
        if self.offer(ch, value):
            return (index, None, True)
        return None

    def _op_select(self, task: Task, cases: Any, has_default: bool) -> tuple[bool, tuple[Any, ...]]:
        count, *flat = self._flatten_cases(cases)
        parsed = [
            ("recv" if flat[i] == b"recv" else "send", flat[i + 1], flat[i + 2])
            for i in range(0, count, 3)
        ]
        for i, (kind, channel_id, value) in enumerate(parsed, start=1):
            answer = self._try_case(kind, self.channel(channel_id), i, value)
            if answer is not None:
                return True, answer
        if has_default:
            return True, (0,)
        waiter = _Waiter(task, parsed)
        task.waiter = waiter
        for i, (kind, channel_id, value) in enumerate(parsed, start=1):
            ch = self.channel(channel_id)
            if kind == "recv":
                ch.receivers.append((waiter, i))
            else:
                ch.senders.append((waiter, i, value))
        return False, ()

    def _op_close(self, task: Task, channel_id: int) -> tuple[bool, tuple[Any, ...]]:
        # As in Wippy, closing a closed channel is a no-op.
        self.close_channel(self.channel(channel_id))
        return True, ()

    def _op_sleep(self, task: Task, seconds: float) -> tuple[bool, tuple[Any, ...]]:
        if seconds <= 0:
            self._ready.append((task, ()))
            return False, ()
        task.timer = self.add_timer(seconds, lambda: self.wake(task))
        return False, ()

    def _op_spawn(self, task: Task, child_lua: Any) -> tuple[bool, tuple[Any, ...]]:
        """``coroutine.spawn(fn)``: ``child_lua`` (a task the prelude made, under the
        spawner's budget and context) runs first, until it blocks: it is queued ahead of the
        spawner, as Wippy queues them."""
        root = task.root or task
        child = Task(
            id=next(self._ids), lua=child_lua, name=f"{task.name}/spawn", data=task.data, root=root
        )
        self.tasks[child.id] = child
        root.spawned.append(child)
        self._ready.append((child, ()))
        self._ready.append((task, ()))
        return False, ()

    # -- futures --------------------------------------------------------------------------
    def new_future(self) -> Future:
        fut = Future(id=next(self._ids), channel=self.new_channel(1))
        self.futures[fut.id] = fut
        return fut

    def settle_future(self, fut: Future, value: Any, error: Any) -> None:
        """Deliver a child call's outcome: a Payload of the value, or the error, into the
        channel, which then closes (a second receive gets ``nil, false``)."""
        if fut.done:
            return
        fut.done = True
        if error is None:
            fut.payload = self._new_payload(value)
            self.offer(fut.channel, fut.payload)
        else:
            fut.error = error
            self.offer(fut.channel, error)
        self.close_channel(fut.channel)

    def _future(self, future_id: int) -> Future:
        fut = self.futures.get(future_id)
        if fut is None:
            raise UnitError(INTERNAL, f"future {future_id} does not belong to this invocation")
        return fut

    def _op_future_result(self, task: Task, future_id: int) -> tuple[bool, tuple[Any, ...]]:
        fut = self._future(future_id)
        if fut.canceled:
            return True, (None, self._canceled_error())
        if not fut.done:
            return True, (None, None)
        if fut.error is not None:
            return True, (None, fut.error)
        return True, (fut.payload, None)

    def _op_future_error(self, task: Task, future_id: int) -> tuple[bool, tuple[Any, ...]]:
        fut = self._future(future_id)
        if fut.canceled or not fut.done or fut.error is None:
            return True, (None, False)
        return True, (fut.error, True)

    def _op_future_done(self, task: Task, future_id: int) -> tuple[bool, tuple[Any, ...]]:
        return True, (self._future(future_id).done,)

    def _op_future_canceled(self, task: Task, future_id: int) -> tuple[bool, tuple[Any, ...]]:
        return True, (self._future(future_id).canceled,)

    def _op_future_cancel(self, task: Task, future_id: int) -> tuple[bool, tuple[Any, ...]]:
        fut = self._future(future_id)
        fut.canceled = True
        if not fut.done:
            error = self._canceled_error()
            if fut.abandon is not None:
                fut.abandon(error)
            else:
                self.settle_future(fut, None, error)
        # Nothing more comes out of a canceled future's channel.
        fut.channel.buffer.clear()
        self.close_channel(fut.channel)
        return True, ()

    def _canceled_error(self) -> Any:
        return self.state.new_error(CANCELED, "canceled", retryable=False)
