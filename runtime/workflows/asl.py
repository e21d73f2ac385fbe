"""The workflow driver's Step Functions definition (ASL), generated as data in this one place.

CDK deploys ``driver_definition(...)`` as the workflow host's state machine and the local driver
executes that same dict in moto's Step Functions interpreter, so the two cannot drift.

One state per wake (DESIGN.md, "Workflows"): Standard workflows bill per state entered, so the
driver enters a state only when the run must wait::

    Wake (Task lambda:invoke.waitForTaskToken, the step Lambda; TimeoutSecondsPath $.timeout)
      the Lambda steps the run, then either
        parks: stores its task token in the run's index and returns; the task waits for
               SendTaskSuccess from whoever brings news (a signal, a queued activity's
               outcome, a child's end) or for its timeout, which is the run's next timer
        goes on: SendTaskSuccess with its own token (the task's output is the next state)
        ends:  SendTaskFailure with its own token, error Completed / RolledOver /
               Workflow.Failed, which the Catch routes
      woken (SendTaskSuccess, output = the next TaskState)    -> Wake
      timed out (States.Timeout; ResultPath $.rearm)          -> Wake   (the timer is due)
      Completed                                               -> Done        (Succeed)
      RolledOver (the step started the next execution first)  -> RolledOver  (Succeed)
      anything else (Workflow.Failed, a step that kept failing) -> Failed    (Fail)

So a run costs one transition per wake plus its end: a workflow of any number of inline
activities and no waits is Wake + Done; each queued activity adds one Wake (its outcome wakes
the run). There is no Choice state: the step's decision is which task API it calls.

The state between wakes is a :class:`TaskState`: ``run_id``, ``timeout`` (seconds the task
waits, a positive integer) and ``rearm``. Whoever ends the task writes the next one: the step
itself, or a waker (``runtime.workflows.client.Workflows.notify``), who reads the run's next
timer from its index to give the next wait the right timeout. ``rearm: true`` asks for a
park only: the previous step wanted a shorter timeout than its task had, so this wake just
stores its token (no replay). A timeout puts the error object at ``$.rearm`` instead, which is
not ``true``: the wake steps the run, whose timer is due.

Limits of real Step Functions that shaped this (Standard workflows, AWS quotas page):

- An execution lasts at most 1 year; past that it fails with ``States.Timeout`` at the execution
  level, which no ``Catch`` sees. So "park until a signal, no timer" cannot be a 1-year task
  timeout: :data:`PARK_FOREVER` is 30 days instead; an idle run wakes once a month, finds
  nothing, and parks again. :func:`should_roll_over` starts a new execution once the current
  one is older than a year minus :data:`PARK_FOREVER` (minus a day of slack), so every wait
  ends inside the execution's year.
- ``TimeoutSecondsPath`` must select a positive integer: :func:`wait_seconds` rounds up and
  clamps to ``[1, PARK_FOREVER]``.
- History is capped at 25,000 events per execution. One wake costs :data:`EVENTS_PER_WAKE`
  (TaskStateEntered, TaskScheduled, TaskStarted, TaskSubmitted, TaskSucceeded or TaskTimedOut,
  TaskStateExited) plus 3 per retried invoke; the step counts its parks per execution in the
  run's index and rolls over at :data:`ROLLOVER_PARKS`.
- A task's output (what SendTaskSuccess sends) and a failure's cause are capped (256 KB;
  error 256 and cause 32,768 characters): the state is a few ids and numbers, results and
  errors live in the run index, and :func:`end_error` truncates.

What moto 5.2.5's interpreter does with this document, found by running it
(``tests/test_workflow_driver.py``): ``lambda:invoke.waitForTaskToken`` passes
``$$.Task.Token`` and the invoked function may call SendTaskSuccess / SendTaskFailure on its own
token before it returns; ``TimeoutSecondsPath`` works in wall time (the harness wakes due runs
itself from its virtual clock instead); a ``Catch`` on ``States.Timeout`` with a ``ResultPath``
keeps the rest of the state; ``Catch`` on a custom error reaches Succeed and Fail states, and
``ErrorPath`` / ``CausePath`` on Fail work. An execution started without ``name`` gets a fixed
ARN in moto, so executions are always named (:func:`execution_name`).
"""

from __future__ import annotations

import functools
import math
from datetime import datetime
from typing import Any, NotRequired, TypedDict

# ---------------------------------------------------------------------------------------------
# Limits and budgets

#: Seconds a run waits when it waits only for news (no durable timer). 30 days, not a year:
#: see the module docstring (an execution's 1-year cap would end the execution first).
PARK_FOREVER = 30 * 24 * 3600

#: Standard workflows: an execution lasts at most this long (hard quota).
MAX_EXECUTION_SECONDS = 365 * 24 * 3600

#: Roll over once an execution is this old, so that any wait (at most PARK_FOREVER) still ends
#: inside the execution's year. A day of slack covers step time and clock skew.
ROLLOVER_AGE_SECONDS = MAX_EXECUTION_SECONDS - PARK_FOREVER - 24 * 3600

#: Standard workflows: an execution's history holds at most this many events (hard quota).
MAX_HISTORY_EVENTS = 25_000

#: History events one wake adds without retries (see the module docstring).
EVENTS_PER_WAKE = 6

#: Parks per execution before the step rolls over: 1,000 wakes of 6 events plus, say, three
#: retried invokes each (9 more) are 15,000 events, leaving 10,000 for wakes that are not
#: parks (a rearm, a step that goes on) and the execution's own start and end.
ROLLOVER_PARKS = 1_000

# A step Lambda that fails (a crash, a throttled write, the Lambda service) is safe to run again
# (replay plus conditional appends): retried; after the last attempt the execution fails.
STEP_RETRY_INTERVAL_SECONDS = 1
STEP_RETRY_MAX_ATTEMPTS = 4
STEP_RETRY_BACKOFF_RATE = 2.0

#: Step Functions names (state machines, executions) are 1 to 80 characters, without
#: whitespace, ``?*<>{}[]"#%\^|~`$&,;:/`` or control characters.
MAX_EXECUTION_NAME_CHARS = 80
_NAME_FORBIDDEN = frozenset(' \t\n\r?*<>{}[]"#%\\^|~`$&,;:/')
_GENERATION_SEPARATOR = "--"

# Size caps of SendTaskFailure's error and cause (also what the Fail state shows).
MAX_ERROR_CHARS = 256
MAX_CAUSE_CHARS = 32_768

#: The errors a step ends its task with (SendTaskFailure) to end the execution.
COMPLETED_ERROR = "Completed"
ROLLED_OVER_ERROR = "RolledOver"
FAILED_ERROR = "Workflow.Failed"
ENDING_ERRORS = (COMPLETED_ERROR, ROLLED_OVER_ERROR, FAILED_ERROR)

# State names, exported so tests and tooling do not spell them twice.
WAKE = "Wake"
DONE = "Done"
FAILED = "Failed"
ROLLED_OVER = "RolledOver"

# ---------------------------------------------------------------------------------------------
# The step Lambda's contract


class TaskState(TypedDict):
    """The driver's state between wakes: an execution's input, and every task's output."""

    run_id: str
    #: Seconds the next Wake waits for news before it times out (the run's next timer).
    timeout: int
    #: True: the wake only stores its token (see the module docstring); a timeout puts the
    #: task's error object here.
    rearm: NotRequired[Any]


class StepInput(TypedDict):
    """The step Lambda's event (the Wake task's Payload)."""

    run_id: str
    #: This wake's task token: the step parks by storing it, or ends the task with it.
    token: str
    #: The seconds this task waits (its TimeoutSecondsPath value).
    timeout: int
    rearm: Any
    #: When this task was entered, ISO 8601 (``$$.State.EnteredTime``): its timeout counts from
    #: there, and a stored token is never replaced by an older wake's.
    entered: str
    #: The current execution's ARN (``$$.Execution.Id``) and start (``$$.Execution.StartTime``).
    execution: str
    started: str
    #: The driver state machine's ARN (``$$.StateMachine.Id``): where a rollover starts the
    #: next execution.
    state_machine: str


#: The step Lambda's event as JSON Schema (checked by :func:`check_step_input`).
STEP_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["run_id", "token", "timeout", "entered", "execution", "started", "state_machine"],
    "properties": {
        "run_id": {"type": "string", "minLength": 1},
        "token": {"type": "string", "minLength": 1},
        "timeout": {"type": "integer", "minimum": 1},
        "entered": {"type": "string", "minLength": 1},
        "execution": {"type": "string", "minLength": 1},
        "started": {"type": "string", "minLength": 1},
        "state_machine": {"type": "string", "minLength": 1},
    },
}


def check_step_input(event: Any) -> StepInput:
    """``event`` once it is a step input the driver sends; a clear error otherwise (a hand-made
    invoke, an old definition's payload) before anything is read or written.

    Raises:
        UnitError: INVALID naming what is wrong.
    """
    from fastjsonschema import JsonSchemaException

    from runtime.errors import INVALID, UnitError

    try:
        _step_input_validator()(event)
        for field in ("entered", "started"):
            iso_seconds(event[field])
        generation_of(event["execution"])
    except JsonSchemaException as exc:
        raise UnitError(INVALID, f"not a workflow step input: {exc.message}") from None
    except ValueError as exc:
        raise UnitError(INVALID, f"not a workflow step input: {exc}") from None
    return event  # type: ignore[no-any-return]


@functools.cache
def _step_input_validator() -> Any:
    """STEP_INPUT_SCHEMA compiled once per process: Powertools' ``validate`` (over the same
    fastjsonschema) compiles on every call, most of a warm step's CPU."""
    import fastjsonschema

    return fastjsonschema.compile(STEP_INPUT_SCHEMA)


def task_state(run_id: str, timeout: int = PARK_FOREVER, *, rearm: bool = False) -> TaskState:
    """The next wait of ``run_id``: an execution's input, or what a waker sends."""
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1:
        raise ValueError(f"a wait needs a positive integer timeout, got {timeout!r}")
    return {"run_id": run_id, "timeout": min(timeout, PARK_FOREVER), "rearm": rearm}


def wants_park_only(step_input: StepInput) -> bool:
    """Whether this wake only re-arms the run's timer (``rearm`` is exactly true)."""
    return step_input.get("rearm") is True


def wait_seconds(seconds_until_timer: float | None) -> int:
    """The ``timeout`` of a wait: seconds until the next timer, or PARK_FOREVER.

    Rounded up (a timer never fires early) and clamped to ``[1, PARK_FOREVER]``: Step Functions
    rejects a non-positive or non-integer ``TimeoutSecondsPath`` value, and a timer further off
    than PARK_FOREVER is met by waiting again when the shorter wait ends.
    """
    if seconds_until_timer is None:
        return PARK_FOREVER
    return max(1, min(PARK_FOREVER, math.ceil(seconds_until_timer)))


def end_error(error: dict[str, Any] | None) -> tuple[str, str]:
    """SendTaskFailure's ``error`` and ``cause`` for a run that failed with ``error``."""
    error = error or {}
    cause = f"{error.get('kind') or 'Internal'}: {error.get('message', '')}"
    return FAILED_ERROR, cause[:MAX_CAUSE_CHARS]


def iso_seconds(stamp: str) -> float:
    """Epoch seconds of an ISO 8601 time as Step Functions sends it (``Z`` or an offset)."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def execution_name(run_id: str, generation: int = 0) -> str:
    """The name of the run's ``generation``-th driver execution: ``<run_id>--<generation>``.

    Deterministic, so starting it twice (a retried step, a retried start) with the same input
    returns the running execution instead of forking a second driver: Standard workflows treat
    StartExecution with an open execution's name and input as idempotent. The suffix is always
    there, which keeps the mapping one-to-one whatever ``run_id`` contains.
    """
    name = f"{run_id}{_GENERATION_SEPARATOR}{generation}"
    if generation < 0 or not run_id:
        raise ValueError(f"bad run id {run_id!r} or generation {generation!r}")
    if len(name) > MAX_EXECUTION_NAME_CHARS:
        raise ValueError(
            f"execution name {name!r} is {len(name)} characters; Step Functions allows at most "
            f"{MAX_EXECUTION_NAME_CHARS}: use a shorter run id"
        )
    bad = sorted(
        {c for c in name if c in _NAME_FORBIDDEN or ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F}
    )
    if bad:
        raise ValueError(
            f"run id {run_id!r} has characters not allowed in an execution name: {bad}"
        )
    return name


def generation_of(execution_arn: str) -> int:
    """The generation of a driver execution named by :func:`execution_name`."""
    name = execution_arn.rsplit(":", 1)[-1]
    _, sep, generation = name.rpartition(_GENERATION_SEPARATOR)
    if not sep or not generation.isdigit():
        raise ValueError(f"execution {execution_arn!r} was not named by execution_name()")
    return int(generation)


def next_execution_name(execution_arn: str) -> str:
    """The name a rollover gives the execution after ``execution_arn``."""
    name = execution_arn.rsplit(":", 1)[-1]
    run_id = name.rpartition(_GENERATION_SEPARATOR)[0]
    return execution_name(run_id, generation_of(execution_arn) + 1)


def should_roll_over(parks: int, execution_age_seconds: float) -> bool:
    """Whether the step should continue the run in a new execution instead of this one:
    ``parks`` is how many times the run parked in this execution (the index counts them),
    ``execution_age_seconds`` is now minus the execution's start."""
    return parks >= ROLLOVER_PARKS or execution_age_seconds >= ROLLOVER_AGE_SECONDS


# ---------------------------------------------------------------------------------------------
# The definition


def driver_definition(step_function_arn: str) -> dict[str, Any]:
    """The driver state machine's ASL for one workflow host, as a JSON-ready dict.

    ``step_function_arn`` is the step Lambda's ARN (a CDK token is fine: the dict is
    serialized by the stack).
    """
    return {
        "Comment": "Workflow driver: one Wake task per wake until Done/Failed/RolledOver",
        "StartAt": WAKE,
        "States": {
            WAKE: {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": step_function_arn,
                    "Payload": {
                        "run_id.$": "$.run_id",
                        "token.$": "$$.Task.Token",
                        "timeout.$": "$.timeout",
                        "rearm.$": "$.rearm",
                        "entered.$": "$$.State.EnteredTime",
                        "execution.$": "$$.Execution.Id",
                        "started.$": "$$.Execution.StartTime",
                        "state_machine.$": "$$.StateMachine.Id",
                    },
                },
                "TimeoutSecondsPath": "$.timeout",
                "Retry": [
                    # An ending is not a failure to retry.
                    {"ErrorEquals": list(ENDING_ERRORS), "MaxAttempts": 0},
                    # The step Lambda failing is retried; States.TaskFailed matches every task
                    # error except States.Timeout, which the Catch must see.
                    {
                        "ErrorEquals": ["States.TaskFailed"],
                        "IntervalSeconds": STEP_RETRY_INTERVAL_SECONDS,
                        "MaxAttempts": STEP_RETRY_MAX_ATTEMPTS,
                        "BackoffRate": STEP_RETRY_BACKOFF_RATE,
                    },
                ],
                "Catch": [
                    {"ErrorEquals": [COMPLETED_ERROR], "Next": DONE},
                    {"ErrorEquals": [ROLLED_OVER_ERROR], "Next": ROLLED_OVER},
                    # The timeout is the run's next durable timer: due, so wake and step.
                    {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.rearm", "Next": WAKE},
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.ended", "Next": FAILED},
                ],
                "Next": WAKE,
            },
            DONE: {"Type": "Succeed"},
            # The step started the next execution before ending this one.
            ROLLED_OVER: {"Type": "Succeed"},
            FAILED: {
                "Type": "Fail",
                "ErrorPath": "$.ended.Error",
                "CausePath": "$.ended.Cause",
            },
        },
    }


# ---------------------------------------------------------------------------------------------
# Structural validation

_STATE_TYPES = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}
_TERMINAL_TYPES = {"Succeed", "Fail"}


def validate(definition: dict[str, Any]) -> None:
    """Check the definition's structure; raise ValueError naming every problem found.

    Checks: StartAt names a state; every state has a known Type; every Next, Default, Choice
    and Catch target exists; states that continue have exactly one of Next / End (Choice: a
    Default or Choices only); terminal states have neither; every state is reachable. It does
    not type-check paths or parameters: running the document (tests) does that.
    """
    problems: list[str] = []
    states = definition.get("States")
    if not isinstance(states, dict) or not states:
        raise ValueError("definition has no States")
    start = definition.get("StartAt")
    if start not in states:
        problems.append(f"StartAt {start!r} is not a state")

    edges: dict[str, list[str]] = {}
    for name, state in states.items():
        kind = state.get("Type")
        targets: list[tuple[str, Any]] = []
        if kind not in _STATE_TYPES:
            problems.append(f"state {name!r} has unknown Type {kind!r}")
        if kind == "Choice":
            choices = state.get("Choices")
            if not isinstance(choices, list) or not choices:
                problems.append(f"Choice state {name!r} has no Choices")
                choices = []
            targets += [(f"Choices[{i}].Next", c.get("Next")) for i, c in enumerate(choices)]
            if "Default" in state:
                targets.append(("Default", state["Default"]))
            if "Next" in state or "End" in state:
                problems.append(f"Choice state {name!r} must not have Next or End")
        elif kind in _TERMINAL_TYPES:
            if "Next" in state or "End" in state:
                problems.append(f"{kind} state {name!r} must not have Next or End")
        elif kind in _STATE_TYPES:
            has_next, ends = "Next" in state, state.get("End") is True
            if has_next == ends:
                problems.append(f"state {name!r} needs exactly one of Next or End")
            if has_next:
                targets.append(("Next", state["Next"]))
        for i, catcher in enumerate(state.get("Catch", [])):
            targets.append((f"Catch[{i}].Next", catcher.get("Next")))
        for where, target in targets:
            if target not in states:
                problems.append(f"state {name!r}: {where} {target!r} is not a state")
        edges[name] = [t for _, t in targets if t in states]

    if start in states:
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges.get(todo.pop(), []):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        problems += [f"state {name!r} is unreachable" for name in states if name not in seen]

    if problems:
        raise ValueError("invalid state machine definition: " + "; ".join(problems))
