"""``funcs``: calling other functions.

``funcs.call(id, ...)`` runs an in-process function inside the caller's coroutine (no scheduler
round trip, so a warm call costs little more than a Lua call); a remote function, or any call
with a timeout (``with_options({timeout=})``, else the entry's manifest ``timeout``), runs as a
child task the caller waits for. ``funcs.async`` always makes a child
task and returns a future whose ``response()`` channel gets the value.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.errors import INTERNAL, INVALID, TIMEOUT, CodecError, UnitError
from runtime.sandbox import lua_text

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime
    from runtime.scheduler import Scheduler, Task

#: Called with the outcome of a call: (value, error) as Lua values.
Settle = Callable[[Any, Any], None]


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec

    def resolve(raw_id: bytes) -> Any:
        try:
            entry = engine.function_entry(lua_text(raw_id))
            if engine.is_remote(entry):
                return b"remote"
            if entry.timeout is not None:
                return b"timed"  # its default timeout needs the scheduler's timer
            return engine.handler(entry.id)
        except UnitError as exc:
            return None, state.error_value(exc)

    def clone(value: Any, index: int) -> Any:
        path = "result" if index == 0 else f"args[{index}]"
        try:
            return codec.to_lua(codec.to_python(value, path), path), None
        except CodecError as exc:
            return None, state.new_error(INVALID, exc.message)

    return state.k["funcs_module"](
        state.table(resolve=state.wrap(resolve), clone=state.wrap(clone))
    )


def install_ops(engine: Engine, scheduler: Scheduler) -> None:
    """Teach ``scheduler`` the ``call`` and ``async`` operations of the funcs module."""
    state = engine.state

    def start(
        entry_id: str, args: Any, ctx: Any, timeout: float | None, settle: Settle
    ) -> Callable[[Any], None]:
        """Start a call; return ``abandon(error)``, which settles it with ``error`` and stops it."""
        settled = False
        timer = None
        child: Task | None = None

        def once(value: Any, error: Any) -> None:
            nonlocal settled
            if settled:
                return
            settled = True
            if timer is not None:
                timer.cancelled = True
            settle(value, error)

        def abandon(error: Any) -> None:
            once(None, error)
            if child is not None:
                scheduler.cancel(child)

        def finished(task: Task) -> None:
            if task.failed:
                err = engine.error_from_task(task, entry_id)
                once(None, state.error_value(err))
            else:
                values = task.values
                once(values[0] if values else None, values[1] if len(values) > 1 else None)

        entry = engine.function_entry(entry_id)
        if timeout is None:
            timeout = entry.timeout
        if engine.is_remote(entry):
            _start_remote(engine, scheduler, entry_id, args, ctx, once)
        else:
            caller = scheduler.current
            child = scheduler.spawn(
                state.k["call_task"],
                (engine.handler(entry_id), args),
                budget=state.get(caller.lua, b"budget") if caller is not None else None,
                ctx=ctx,
                name=entry_id,
                on_done=finished,
                data=caller.data if caller is not None else None,
            )
        if timeout is not None:
            message = f"{entry_id} did not answer within {timeout:g}s"
            timer = scheduler.add_timer(timeout, lambda: abandon(state.new_error(TIMEOUT, message)))
        return abandon

    # ``retry`` (a with_options table) only means something to a workflow's activities.
    def op_call(
        task: Task, raw_id: bytes, args: Any, ctx: Any, timeout: float | None, retry: Any = None
    ) -> Any:
        start(lua_text(raw_id), args, ctx, timeout, lambda v, e: scheduler.wake(task, (v, e)))
        return False, ()

    def op_async(
        task: Task, raw_id: bytes, args: Any, ctx: Any, timeout: float | None, retry: Any = None
    ) -> Any:
        fut = scheduler.new_future()
        fut.abandon = start(
            lua_text(raw_id), args, ctx, timeout, lambda v, e: scheduler.settle_future(fut, v, e)
        )
        return True, (fut.id, fut.channel.id)

    scheduler.ops[b"call"] = op_call
    scheduler.ops[b"async"] = op_async


def _start_remote(
    engine: Engine, scheduler: Scheduler, entry_id: str, args: Any, ctx: Any, settle: Settle
) -> None:
    state, codec = engine.state, engine.codec
    remote = engine.remote
    if remote is None:
        settle(
            None, state.new_error(INTERNAL, f"{entry_id} is remote and no remote invoker is set")
        )
        return
    unpacked = state.k["unpack_args"](args)
    # lupa returns a lone value, not a 1-tuple, when there are no arguments.
    count, *values = unpacked if isinstance(unpacked, tuple) else (unpacked,)
    py_args = [codec.to_python(v, f"args[{i}]") for i, v in enumerate(values[:count], 1)]
    py_ctx = codec.to_python(ctx, "context") if ctx is not None else {}

    def invoke() -> Any:
        return remote(entry_id, py_args, py_ctx if isinstance(py_ctx, dict) else {})

    def landed(fut: Any) -> None:
        try:
            value = fut.result()
        except UnitError as exc:
            settle(None, state.error_value(exc))
            return
        except Exception as exc:  # a transport failure is the caller's INTERNAL error
            settle(None, state.new_error(INTERNAL, f"invoking {entry_id}: {exc}"))
            return
        settle(codec.to_lua(value, "result"), None)

    scheduler.add_io(engine.io_pool().submit(invoke), landed)
