"""The engine: an application registry bound to one Lua state, running function calls.

One :class:`Engine` lives per Lambda container (or per harness). It compiles each entry once,
on first use, into its own sandboxed environment, and runs every top-level call as a fresh
:class:`Invocation` under a :class:`~runtime.scheduler.Scheduler` with its own instruction budget
and memory ceiling.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from runtime import manifest
from runtime.clock import Clock, WallClock
from runtime.codec import Codec
from runtime.errors import INTERNAL, INVALID, NOT_FOUND, TIMEOUT, UNKNOWN, CodecError, UnitError
from runtime.http_client import HttpClient
from runtime.modules import (
    GLOBAL_MODULES,
    MODULE_NAMES,
    funcs_module,
    http_client_module,
    payload_module,
    unavailable_modules,
)
from runtime.modules.io_ops import install_io_op
from runtime.modules.loader import BUILDERS, parse_duration_ns
from runtime.modules.logger_module import print_text
from runtime.modules.time_module import install_host as install_time_host
from runtime.processes.context import DirectContext, ProcessContext
from runtime.processes.system import ProcessSystem
from runtime.resources import Resources
from runtime.sandbox import (
    DEFAULT_CPU_SECONDS,
    DEFAULT_INSTRUCTION_LIMIT,
    DEFAULT_MEMORY_LIMIT,
    LuaMemoryError,
    LuaState,
    lua_text,
    lua_type,
    ran_out_of_time,
)
from runtime.scheduler import Deadlock, Scheduler, Task
from runtime.tracebacks import trim_traceback

log = logging.getLogger("units.engine")

#: Called with (level, message, fields) for every line application code logs.
LogSink = Callable[[str, str, dict[str, Any]], None]
#: Invokes a remote function: (entry_id, args, context) -> value; raises UnitError.
RemoteInvoker = Callable[[str, list[Any], dict[str, Any]], Any]


@dataclass(frozen=True)
class Limits:
    """Per-call limits on application code: instructions, memory above what the state holds,
    and CPU seconds (the backstop for C work one instruction does)."""

    instructions: int = DEFAULT_INSTRUCTION_LIMIT
    memory_bytes: int = DEFAULT_MEMORY_LIMIT
    cpu_seconds: float = DEFAULT_CPU_SECONDS


@dataclass
class Invocation:
    """One top-level call and what its modules need to know about it."""

    entry_id: str
    context: dict[str, Any]
    http: Any = None
    fields: dict[str, Any] = field(default_factory=dict)
    #: The queue message a consumer's call handles (``queue.message()``), else None.
    delivery: Any = None


@dataclass
class LocalCall:
    """One call of :meth:`Engine.call_all`."""

    entry_id: str
    args: list[Any]
    context: dict[str, Any] = field(default_factory=dict)
    #: Seconds of the engine's clock the call may take (None: no limit).
    timeout: float | None = None


def _default_sink(level: str, message: str, fields: dict[str, Any]) -> None:
    logging.getLogger("units.app").log(
        logging.getLevelName(level.upper()), message, extra={"unit": fields}
    )


class EntryRuntime:
    """An entry compiled into its environment; ``value`` is what its chunk returned."""

    def __init__(self, engine: Engine, entry: manifest.Entry) -> None:
        self.engine = engine
        self.entry = entry
        self._modules: dict[str, Any] = {}
        state = engine.state
        self.env = state.k["new_env"](
            state.table(
                clock_now=state.wrap(engine.now),
                require=state.wrap(self._require),
                print=state.wrap(self._print),
                channel=engine.module_for(self, "channel"),
                process=engine.module_for(self, "process"),
                errors=engine.module_for(self, "errors"),
                payload=engine.module_for(self, "payload"),
            )
        )
        chunk = state.compile(entry.code, entry.source_name, self.env)
        self.value = self._run_chunk(chunk)

    def _run_chunk(self, chunk: Any) -> Any:
        # Top-level code runs under a budget too: a module body can loop forever as well.
        scheduler = self.engine.new_scheduler()
        budget = self.engine.new_budget()
        task = scheduler.spawn(chunk, (), budget=budget, name=self.entry.id)
        try:
            with self.engine.running(scheduler, Invocation(self.entry.id, {})):
                scheduler.run_until(lambda: task.done)
        finally:
            scheduler.close()
        if task.failed:
            raise self.engine.error_from_task(task, f"loading {self.entry.id}")
        return task.values[0] if task.values else None

    def _require(self, name: Any) -> Any:
        key = lua_text(name)
        cached = self._modules.get(key)
        if cached is not None:
            return cached
        entry = self.entry
        imports: Mapping[str, str] = getattr(entry, "imports", {}) or {}
        if key in imports:
            value = self.engine.entry_runtime(imports[key]).value
        elif key in GLOBAL_MODULES:
            # As in Wippy, require of a global hands out the global itself.
            value = self.engine.state.get(self.env, key.encode())
        elif key in unavailable_modules():
            return self.engine.state.raise_in_lua(
                f"entry {entry.id}: module '{key}' is not available in this kit yet (a Wippy "
                "module with no backend here; the README's 'An application folder' says which "
                "modules are)"
            )
        elif key in MODULE_NAMES and key in (getattr(entry, "modules", ()) or ()):
            value = self.engine.module_for(self, key)
        elif key in MODULE_NAMES:
            return self.engine.state.raise_in_lua(
                f"entry {entry.id}: module '{key}' is not listed in its manifest "
                f"(add it to modules: in {entry.file})"
            )
        else:
            return self.engine.state.raise_in_lua(
                f"entry {entry.id}: no module or import named '{key}' "
                f"(modules: {', '.join(sorted(MODULE_NAMES))}; imports: "
                f"{', '.join(sorted(imports)) or 'none'})"
            )
        self._modules[key] = value
        return value

    def _print(self, *args: Any) -> None:
        # Wippy's print: the arguments joined by one space, strings and numbers as text.
        text = " ".join(print_text(a) for a in args)
        self.engine.emit_log("info", text, {"entry": self.entry.id, "source": "print"})

    def method(self, name: str) -> Any:
        """The function ``name`` exported by the chunk: the function the chunk returned
        (``return main``), else that field of the table it returned, else a global."""
        fn = None
        value = self.value
        key = name.encode()
        get = self.engine.state.get
        value_type = self.engine.lua_type(value) if value is not None else None
        if value_type == "function":
            return value
        if value_type == "table":
            fn = get(value, key)
        if fn is None:
            fn = get(self.env, key)
        if fn is None or self.engine.lua_type(fn) != "function":
            raise UnitError(
                INVALID,
                f"entry {self.entry.id}: {self.entry.source_name} does not export a function "
                f"'{name}' (return a table with it, or define it as a global)",
            )
        return fn


class Engine:
    """Runs an application's Lua entries. Not thread-safe: one engine per thread."""

    def __init__(
        self,
        registry: manifest.Registry,
        *,
        clock: Clock | None = None,
        limits: Limits | None = None,
        remote: RemoteInvoker | None = None,
        log_sink: LogSink | None = None,
        environ: Mapping[str, str] | None = None,
        home_functions: frozenset[str] | None = None,
        processes: ProcessSystem | None = None,
        resources: Resources | None = None,
    ) -> None:
        self.registry = registry
        #: The store table and buckets of the resource entries (``store``, ``cloudstorage``).
        self.resources = resources or Resources()
        #: Requests modules registered for the ``io`` operation, by ticket (modules/io_ops.py).
        self.io_jobs: dict[int, Any] = {}
        #: Spawning and sending (None where no process host queues exist, e.g. ``units invoke``).
        self.processes = processes
        #: Starting and signalling workflow runs (:class:`runtime.workflows.client.Workflows`);
        #: set by whoever wires the engine to a stack, None where there is none.
        self.workflows: Any = None
        self.clock: Clock = clock or WallClock()
        self.limits = limits or Limits()
        self.remote = remote
        self.log_sink = log_sink or _default_sink
        self.environ = environ if environ is not None else os.environ
        # Remote functions this engine runs itself (it is their own Lambda).
        self.home_functions = home_functions or frozenset()
        self.state = LuaState()
        self.codec = Codec(self.state.lua)
        self.lua_type = lua_type
        self._entries: dict[str, EntryRuntime] = {}
        self._loading: set[str] = set()
        self.scheduler: Scheduler | None = None
        self.invocation: Invocation | None = None
        self._io_pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._http_client: HttpClient | None = None
        self._sql: Any = None
        self._module_builders = BUILDERS
        self.state.set(self.state.kit, b"parse_duration_ns", self.state.wrap(parse_duration_ns))
        payload_module.install(self)
        install_time_host(self)  # Times, Durations and os dates (kit.time_host)

    # -- entries ------------------------------------------------------------------------
    def entry_runtime(self, entry_id: str) -> EntryRuntime:
        """The compiled entry, compiling it on first use (its chunk runs once per engine)."""
        rt = self._entries.get(entry_id)
        if rt is not None:
            return rt
        entry = self.registry.get(entry_id)
        if entry_id in self._loading:
            raise UnitError(INVALID, f"circular import involving {entry_id}")
        self._loading.add(entry_id)
        try:
            rt = EntryRuntime(self, entry)
        finally:
            self._loading.discard(entry_id)
        self._entries[entry_id] = rt
        return rt

    def module_for(self, unit: EntryRuntime, name: str) -> Any:
        """Build module ``name`` for one entry."""
        return self._module_builders[name](self, unit)

    def function_entry(self, entry_id: str) -> manifest.FunctionEntry:
        """The function entry ``entry_id``, or a NOT_FOUND / INVALID error."""
        entry = self.registry.find(entry_id)
        if entry is None:
            raise UnitError(NOT_FOUND, f"no function '{entry_id}'")
        if not isinstance(entry, manifest.FunctionEntry):
            raise UnitError(INVALID, f"'{entry_id}' is a {entry.kind}, not a function.lua")
        return entry

    def is_remote(self, entry: manifest.FunctionEntry) -> bool:
        """True when calls to ``entry`` leave this engine (a Lambda invoke)."""
        return bool(entry.deploy and entry.deploy.remote) and entry.id not in self.home_functions

    def handler(self, entry_id: str) -> Any:
        """The Lua handler function of a function entry."""
        entry = self.function_entry(entry_id)
        return self.entry_runtime(entry_id).method(entry.method)

    # -- running ------------------------------------------------------------------------
    def new_budget(self) -> Any:
        """A fresh budget (a Lua table) for one task: this engine's instruction and CPU limits."""
        return self.state.k["new_budget"](self.limits.instructions, self.limits.cpu_seconds)

    def new_scheduler(self) -> Scheduler:
        """A scheduler for one invocation, knowing the funcs operations."""
        scheduler = Scheduler(self.state, self.clock)
        funcs_module.install_ops(self, scheduler)
        install_io_op(self, scheduler)
        http_client_module.install_ops(self, scheduler)
        return scheduler

    def running(self, scheduler: Scheduler, invocation: Invocation) -> _Running:
        """Context manager: make ``scheduler``/``invocation`` current for module host calls."""
        return _Running(self, scheduler, invocation)

    def call(
        self,
        entry_id: str,
        args: list[Any] | tuple[Any, ...] = (),
        *,
        context: dict[str, Any] | None = None,
        http: Any = None,
        timeout: float | None = None,
        delivery: Any = None,
    ) -> Any:
        """Call a function entry with Python ``args``; return its value as Python.
        ``delivery`` is the queue message of a consumer's call (:mod:`runtime.queue_consumer`).

        Raises:
            UnitError: the function returned ``nil, err`` or raised, or the call broke a limit.
        """
        entry = self.function_entry(entry_id)
        if self.is_remote(entry):
            if self.remote is None:
                raise UnitError(INTERNAL, f"{entry_id} is remote and no remote invoker is set")
            return self.remote(entry_id, list(args), dict(context or {}))
        fn = self.handler(entry_id)
        lua_args = tuple(self.codec.to_lua(a, f"args[{i}]") for i, a in enumerate(args, 1))
        invocation = Invocation(entry_id, dict(context or {}), http=http, delivery=delivery)
        ctx = self.codec.to_lua(invocation.context, "context")
        values = self.run_function(fn, lua_args, invocation, ctx, timeout=timeout)
        return self.result_to_python(values, entry_id)

    def run_function(
        self,
        fn: Any,
        lua_args: tuple[Any, ...],
        invocation: Invocation,
        ctx: Any,
        *,
        timeout: float | None = None,
    ) -> tuple[Any, ...]:
        """Run ``fn`` as the main task of a fresh scheduler; return its Lua return values."""
        state = self.state
        scheduler = self.new_scheduler()
        budget = self.new_budget()
        task = scheduler.spawn(fn, lua_args, budget=budget, ctx=ctx, name=invocation.entry_id)
        deadline = self.clock.now() + timeout if timeout is not None else None
        state.limit_memory(self.limits.memory_bytes)
        try:
            with self.running(scheduler, invocation):
                scheduler.run_until(lambda: task.done, deadline=deadline)
        except LuaMemoryError as exc:
            reason = str(exc) or "not enough memory"
            raise UnitError(
                INTERNAL, f"{invocation.entry_id}: memory limit exceeded ({reason})"
            ) from None
        finally:
            state.unlimit_memory()
            for leftover in list(scheduler.tasks.values()):
                scheduler.cancel(leftover)
            scheduler.close()
        if task.failed:
            raise self.error_from_task(task, invocation.entry_id)
        return task.values

    def call_all(self, calls: list[LocalCall]) -> list[tuple[Any, UnitError | None]]:
        """Run several calls of this engine's own (not remote) functions concurrently, each
        as a task of one scheduler with its own budget, context and timeout (seconds of this
        engine's clock); returns ``(value, None)`` or ``(None, error)`` per call, in order.

        What a workflow step runs inline: a call that waits (a sleep, I/O) lets the others
        run meanwhile, as ``funcs.async`` calls do in a function.
        """
        if not calls:
            return []
        state = self.state
        scheduler = self.new_scheduler()
        tasks: list[Task] = []
        index_of: dict[int, int] = {}
        timed_out: set[int] = set()
        outcomes: list[tuple[Any, UnitError | None] | None] = [None] * len(calls)
        try:
            for i, call in enumerate(calls):
                try:
                    fn = self.handler(call.entry_id)
                    args = tuple(
                        self.codec.to_lua(a, f"args[{n}]") for n, a in enumerate(call.args, 1)
                    )
                    ctx = self.codec.to_lua(dict(call.context), "context")
                except UnitError as exc:
                    outcomes[i] = (None, exc)
                    continue
                task = scheduler.spawn(
                    fn, args, budget=self.new_budget(), ctx=ctx, name=call.entry_id
                )
                tasks.append(task)
                index_of[id(task)] = i
                if call.timeout is not None:

                    def expire(task: Task = task, index: int = i) -> None:
                        if not task.done:
                            timed_out.add(index)
                            scheduler.cancel(task)

                    scheduler.add_timer(max(0.0, call.timeout), expire)
            invocation = Invocation(calls[0].entry_id, {})
            state.limit_memory(self.limits.memory_bytes * max(1, len(tasks)))
            try:
                with self.running(scheduler, invocation):
                    scheduler.run_until(lambda: all(t.done for t in tasks))
            except LuaMemoryError as exc:
                reason = str(exc) or "not enough memory"
                error = UnitError(INTERNAL, f"memory limit exceeded ({reason})")
                for task in tasks:
                    if not task.done:
                        outcomes[index_of[id(task)]] = (None, error)
            except Deadlock as exc:
                for task in tasks:
                    if not task.done:
                        outcomes[index_of[id(task)]] = (None, exc)
            finally:
                state.unlimit_memory()
            for task in tasks:
                i = index_of[id(task)]
                if outcomes[i] is not None:
                    continue
                call = calls[i]
                if i in timed_out:
                    message = f"{call.entry_id} did not answer within {call.timeout:g}s"
                    outcomes[i] = (None, UnitError(TIMEOUT, message))
                elif task.failed:
                    outcomes[i] = (None, self.error_from_task(task, call.entry_id))
                else:
                    try:
                        outcomes[i] = (self.result_to_python(task.values, call.entry_id), None)
                    except UnitError as exc:
                        outcomes[i] = (None, exc)
        finally:
            for leftover in list(scheduler.tasks.values()):
                scheduler.cancel(leftover)
            scheduler.close()
        return [o if o is not None else (None, UnitError(INTERNAL, "no outcome")) for o in outcomes]

    def result_to_python(self, values: tuple[Any, ...], entry_id: str) -> Any:
        """Apply the ``value, err`` convention to a handler's return values."""
        value = values[0] if values else None
        err = values[1] if len(values) > 1 else None
        if err is not None:
            raise self.error_from_value(err)
        try:
            return self.codec.to_python(value, "result")
        except CodecError as exc:
            raise UnitError(
                INVALID, f"{entry_id} returned a value that cannot be sent: {exc.message}"
            ) from None

    def error_from_value(self, err: Any) -> UnitError:
        """A Lua error value (``errors.new`` object or anything else) as a :class:`UnitError`,
        with its retryable flag and details."""
        kind, message, retryable, details = self.state.k["describe_error"](err)
        py_details = None
        if details is not None:
            try:
                py_details = self.codec.to_python(details, "details")
            except CodecError:
                py_details = None
        return UnitError(
            lua_text(kind) if kind is not None else INTERNAL,
            lua_text(message),
            py_details if isinstance(py_details, dict) else None,
            retryable=retryable if isinstance(retryable, bool) else None,
        )

    def error_from_task(self, task: Task, where: str) -> UnitError:
        """The error a failed task raised, with its traceback trimmed to application code."""
        error = self.error_from_value(task.error)
        trace = trim_traceback(task.traceback or "")
        details = {**error.details, "traceback": trace} if trace else dict(error.details)
        if error.kind in (INTERNAL, UNKNOWN) and ran_out_of_time(error.message):
            return UnitError(TIMEOUT, f"{where}: {error.message}", details)
        if "not enough memory" in error.message:
            return UnitError(INTERNAL, f"{where}: memory limit exceeded ({error.message})", details)
        # A raised error without a kind is Internal, as Wippy reports an uncaught raise.
        return UnitError(error.kind or INTERNAL, error.message, details, retryable=error.retryable)

    # -- services for modules -----------------------------------------------------------
    def current_task(self) -> Task | None:
        """The task running right now (the one whose Lua code called into Python)."""
        return self.scheduler.current if self.scheduler is not None else None

    def current_replay(self) -> Any:
        """The workflow replay the running task belongs to, or None outside a workflow."""
        task = self.current_task()
        return getattr(task.data, "replay", None) if task is not None else None

    def now(self) -> float:
        """The time Lua sees: the recorded workflow time inside a workflow, else the clock."""
        task = self.current_task()
        clock = getattr(task.data, "workflow_clock", None) if task is not None else None
        return (clock or self.clock).now()

    def random_bits(self, bits: int) -> int:
        """Random bits for uuid and friends: replayable inside a workflow (a per-run generator
        drawn in the same order on every replay), else from the OS."""
        task = self.current_task()
        rng = getattr(task.data, "workflow_rng", None) if task is not None else None
        if rng is not None:
            return rng.getrandbits(bits)
        return int.from_bytes(os.urandom((bits + 7) // 8), "big") >> (-bits % 8)

    def process_context(self) -> ProcessContext:
        """How ``process.*`` acts for the running task: buffered in an actor's turn, else now."""
        task = self.current_task()
        data = task.data if task is not None else None
        if isinstance(data, ProcessContext):
            if data.workflows is None:
                data.workflows = self.workflows
            return data
        replay = self.current_replay()
        if replay is not None and replay.process_context is not None:
            return replay.process_context  # a loop-style process's code
        if replay is not None:
            from runtime.workflows.process_context import WorkflowProcessContext

            return WorkflowProcessContext(replay, self.workflows)
        return DirectContext(self.processes, self.workflows)

    def log_enabled(self, level: str) -> bool:
        """Whether a line at ``level`` would be written (a sink may say so by an ``enabled``
        attribute), so that a filtered line costs no field conversion."""
        enabled = getattr(self.log_sink, "enabled", None)
        return enabled(level) if enabled is not None else True

    def emit_log(self, level: str, message: str, fields: dict[str, Any]) -> None:
        """Send one application log line to the sink, with the invocation's fields added;
        a workflow's line is written once, not again each time its code is replayed."""
        replay = self.current_replay()
        if replay is not None and replay.replaying:
            return
        if self.invocation is not None:
            fields = {**self.invocation.fields, **fields}
        # Read off the running task: building a process context per log line would be waste.
        task = self.current_task()
        pid = getattr(task.data, "pid", None) if task is not None else None
        if pid is not None:
            fields.setdefault("pid", pid)
        try:
            self.log_sink(level, message, fields)
        except Exception as exc:  # a broken log line must never fail the call that logged it
            print(f"[{level}] {message} {fields!r} (log sink failed: {exc})", file=sys.stderr)

    def io_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """Threads for blocking I/O (remote invokes) so other tasks run meanwhile."""
        if self._io_pool is None:
            self._io_pool = concurrent.futures.ThreadPoolExecutor(4, thread_name_prefix="units-io")
        return self._io_pool

    def http_client(self) -> HttpClient:
        """The keep-alive connection pool of the ``http_client`` module (one per engine, so one
        per Lambda container), created on first use and closed with the engine."""
        if self._http_client is None:
            self._http_client = HttpClient(self.environ)
        return self._http_client

    def sql_databases(self) -> Any:
        """The ``sql`` module's open databases (:class:`runtime.sql_db.Databases`, one per
        engine, so one per Lambda container), created on first use and closed with the
        engine."""
        if self._sql is None:
            from runtime.sql_db import Databases

            self._sql = Databases(self.environ, self.resources.sql_password_reader)
        return self._sql

    def close(self) -> None:
        """Release the I/O threads, the HTTP and SQL connections and the Lua state; the engine
        is unusable afterwards."""
        if self._sql is not None:
            self._sql.close()
            self._sql = None
        if self._http_client is not None:
            self._http_client.close()
            self._http_client = None
        if self._io_pool is not None:
            self._io_pool.shutdown(wait=False, cancel_futures=True)
            self._io_pool = None
        self._entries.clear()
        self.scheduler = None
        self.state.close()


class _Running:
    def __init__(self, engine: Engine, scheduler: Scheduler, invocation: Invocation) -> None:
        self.engine, self.scheduler, self.invocation = engine, scheduler, invocation

    def __enter__(self) -> None:
        self.saved = (self.engine.scheduler, self.engine.invocation)
        self.engine.scheduler, self.engine.invocation = self.scheduler, self.invocation

    def __exit__(self, *exc: object) -> None:
        self.engine.scheduler, self.engine.invocation = self.saved
