"""Blocking calls of modules that reach the outside world (a DynamoDB or S3 request), run on
the engine's I/O threads so the invocation's other coroutines go on meanwhile.

A module's host function checks its arguments on the scheduler's thread and registers an
:class:`IoJob` (:func:`submit`), getting a ticket; its Lua side then waits with
``kit.await("io", ticket)``. The job's ``run`` is the request (on an I/O thread, touching no
Lua value); its ``finish`` turns the outcome into the Lua values the call returns (back on the
scheduler's thread, where Lua may be touched).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.errors import INTERNAL, UnitError

if TYPE_CHECKING:
    import concurrent.futures

    from runtime.engine import Engine
    from runtime.scheduler import Scheduler, Task


def refusal(engine: Engine, module: str, in_workflow: str) -> str | None:
    """Why ``module`` may not run here, or None: in durable code (a workflow, a loop-style
    process) an outside effect would be repeated, or answer differently, when the journal is
    replayed. ``in_workflow`` is the module's own words for a workflow."""
    replay = engine.current_replay()
    if replay is None:
        return None
    if getattr(replay, "process_context", None) is None:
        return in_workflow
    return (
        f"{module}: not available in a loop-style process's code (its journal is replayed, "
        "and an outside effect would be repeated or answer differently); call a function "
        "that does it with funcs.call instead: its result is journaled and never rerun"
    )


@dataclass
class IoJob:
    """``run()`` does the request; ``finish(result, error)`` makes the Lua return values of it
    (``error`` is the exception ``run`` raised, else None)."""

    run: Callable[[], Any]
    finish: Callable[[Any, BaseException | None], tuple[Any, ...]]


_tickets = itertools.count(1)


def submit(engine: Engine, job: IoJob) -> int:
    """Register ``job`` for the running call; the ticket its Lua side awaits ``"io"`` with."""
    ticket = next(_tickets)
    engine.io_jobs[ticket] = job
    return ticket


def install_io_op(engine: Engine, scheduler: Scheduler) -> None:
    """Teach ``scheduler`` the ``io`` operation."""
    state = engine.state

    def op_io(task: Task, ticket: int) -> tuple[bool, tuple[Any, ...]]:
        job = engine.io_jobs.pop(int(ticket), None)
        if job is None:
            raise UnitError(INTERNAL, f"no I/O request {ticket} for this call")

        def landed(fut: concurrent.futures.Future[Any]) -> None:
            exc = fut.exception()
            try:
                values = job.finish(None if exc else fut.result(), exc)
            except UnitError as err:
                values = (None, state.error_value(err))
            scheduler.wake(task, values)

        scheduler.add_io(engine.io_pool().submit(job.run), landed)
        return False, ()

    scheduler.ops[b"io"] = op_io


def fallible(state: Any, fn: Callable[..., Any]) -> Any:
    """``fn`` wrapped for Lua: a :class:`~runtime.errors.UnitError` it raises becomes the
    ``nil, err`` pair Wippy's modules return."""

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except UnitError as exc:
            return None, state.error_value(exc)

    return state.wrap(call)
