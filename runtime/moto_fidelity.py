"""Where moto's Step Functions differs from the real service in a way the kit can see, and the
patches that make it answer as AWS does. Installed by the harness (:class:`runtime.testing.
LocalCloud`) for as long as it is open; each returns the function that undoes it.

Each patch is narrow, and names the moto behaviour it corrects: these are fidelity fixes to the
emulator the kit's tests run on, not fakes of an AWS API.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from typing import Any

from runtime.workflows import asl

#: How often a Retry's wait looks at whether its execution was stopped meanwhile.
_STOP_POLL_SECONDS = 0.05


class ExecutionStopped(RuntimeError):
    """Ends a moto execution thread whose execution was stopped while it waited out a Retry."""


def refuse_spent_task_tokens() -> Callable[[], None]:
    """A callback to a task that already ended is refused with ``TaskTimedOut``.

    moto keeps a task's callback endpoint after its SendTaskSuccess and takes a second one on the
    same token as if it had landed; Step Functions answers ``TaskTimedOut`` ("Provided task does
    not exist anymore"). The kit's wakes read a token and may send it again after a crash (a
    child's retried last step, a timer's notify racing a signal's) and count on that answer
    (:meth:`runtime.workflows.driver.Driver.wake` returns False), as does the harness's count of
    executions in motion.
    """
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser.asl.eval.callback import callback

    class TaskTimedOut(AWSError):
        TYPE = "TaskTimedOut"
        STATUS = 400

    pool = callback.CallbackPoolManager
    original = pool.notify

    def notify(manager: Any, callback_id: Any, outcome: Any) -> bool:
        endpoint = manager._pool.get(callback_id)
        if endpoint is not None and endpoint._outcome is not None:
            # Raised here, not through moto's consumer-error path: that one builds its
            # TaskTimedOut without the message its constructor needs (a TypeError), and the
            # parser's exception classes serialize without an error code.
            raise TaskTimedOut("Task Timed Out: 'Provided task does not exist anymore'")
        return original(manager, callback_id, outcome)

    pool.notify = notify  # type: ignore[method-assign]
    return lambda: setattr(pool, "notify", original)


class _StoppableRetryWait:
    """Stands in for the ``time`` module of moto's Retry: its ``sleep`` ends the execution's
    thread when the execution is stopped during the wait.

    moto's StopExecution marks the execution stopped but a thread sleeping out a Retry wakes up
    and invokes the task's Lambda anyway, reaching whatever harness (or test's fake Lambdas) is
    running by then. Step Functions never runs a state of a stopped execution.
    """

    def __init__(self, inner: Any) -> None:
        #: What was there before: the ``time`` module, or a test's no-wait stand-in.
        self.inner = inner

    def sleep(self, seconds: float) -> None:
        env = sys._getframe(1).f_locals.get("env")  # the retrier's own frame holds it
        if self.inner is not time:
            self.inner.sleep(seconds)
        else:
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                if env is not None and not env.is_running():
                    break
                time.sleep(min(left, _STOP_POLL_SECONDS))
        if env is not None and not env.is_running():
            raise ExecutionStopped("the execution was stopped while it waited out a Retry")


def stop_retries_of_stopped_executions() -> Callable[[], None]:
    """A stopped execution waiting out a Retry never runs its state again (see
    :class:`_StoppableRetryWait`)."""
    from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

    original = retrier_decl.time
    retrier_decl.time = _StoppableRetryWait(original)  # type: ignore[assignment]
    return lambda: setattr(retrier_decl, "time", original)


def pass_task_failure_causes() -> Callable[[], None]:
    """SendTaskFailure's ``cause`` reaches the task's failure, as its ``error`` does.

    moto's SendTaskFailure handler reads ``error`` and drops ``cause``, so a Catch's
    ``$.Cause`` (and a Fail state's ``CausePath``) is null; Step Functions passes both. The
    driver ends a failed run with the run's error as the cause (``asl.end_error``), which the
    execution's failure then shows.
    """
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    original = StepFunctionResponse.send_task_failure

    def send_task_failure(self: Any) -> Any:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"),
            error=self._get_param("error"),
            cause=self._get_param("cause"),
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]
    return lambda: setattr(StepFunctionResponse, "send_task_failure", original)


#: The logger moto's Step Functions interpreter writes a failed state to.
_EVAL_LOGGER = "moto.stepfunctions.parser.asl.component.eval_component"
#: The logger of its "computation ended with exception" line.
_PROGRAM_LOGGER = "moto.stepfunctions.parser.asl.component.program.program"
#: The driver's control flow that moto logs as a failure: a run's end (asl.ENDING_ERRORS) and
#: the Wake task's timeout, which is the run's next timer (caught: the Wake is rearmed).
_CONTROL_FLOW = (*asl.ENDING_ERRORS, "States.Timeout")
#: A state's name inside moto's repr of it.
_STATE_NAME = re.compile(r"'name': '([^']*)', 'query_language'")
#: The most of a line of moto's that is kept.
_LINE_LIMIT = 300


class _StepFunctionsDumps(logging.Filter):
    """moto's ERROR records of failed states, as Step Functions would have them: the driver's
    own control flow dropped, any other failure cut down to one line (the error, its details,
    the state's name) instead of a dump of the state's whole parse tree (about 4 KB)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == _PROGRAM_LOGGER:
            text = record.getMessage()
        else:
            args = record.args if isinstance(record.args, tuple) else ()
            if len(args) != 2:
                return True  # not the record this is for: as moto wrote it
            error, component = str(args[0]), str(args[1])
            if any(f"Error={name}," in error for name in _CONTROL_FLOW):
                return False
            names = _STATE_NAME.findall(component)
            text = f"{error} at state {names[-1] if names else '?'}"
        record.msg, record.args = _cut(text), ()
        return True


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _LINE_LIMIT else text[: _LINE_LIMIT - 3] + "..."


_QUIET = _StepFunctionsDumps()


def quiet_driver_endings() -> None:
    """moto's Step Functions logs no more than Step Functions would (for the rest of the
    process: moto's threads log after the harness that caused it may have closed).

    A run ends by failing its own task with ``Completed``, ``RolledOver`` or ``Workflow.Failed``,
    which the state machine catches (``runtime/workflows/asl.py``), and a Wake task times out
    when the run's timer is due. moto logs every failed state at ERROR with a dump of the
    state's whole parse tree; Step Functions records it as a history event and logs nothing.
    Those are dropped; other failures (a step that crashed) still log, in one line.
    """
    for name in (_EVAL_LOGGER, _PROGRAM_LOGGER):
        logger = logging.getLogger(name)
        if _QUIET not in logger.filters:
            logger.addFilter(_QUIET)
