"""The workflow driver's Step Functions definition (ASL), generated as data in this one place.

CDK deploys ``driver_definition(...)`` as the workflow host's state machine and the local driver
executes that same dict in moto's Step Functions interpreter, so the two cannot drift.

The loop (DESIGN.md, "Workflows")::

    Start (Pass: keep run_id, steps = 0)
      -> Step (Task lambda:invoke, the step Lambda)       <- retried on any error (crash-safe:
      -> Route (Choice on $.kind)                             the log append is conditional)
           "step"     -> Step          run again at once (a timer was already due, news arrived)
           "park"     -> Park
           "done"     -> Done          (Succeed)
           "failed"   -> Failed        (Fail, Error/Cause taken from the step's output)
           "rollover" -> RolledOver    (Succeed; the step already started the next execution)
           otherwise  -> BadStepOutput (Fail, static error)
      Park (Task lambda:invoke.waitForTaskToken, the wake Lambda; TimeoutSecondsPath $.timeout)
           woken (SendTaskSuccess)      -> Step
           timed out (States.Timeout)   -> Step   (the timeout is the next durable timer)

State kept between states: the Step task's output replaces the state (``OutputPath
$.Payload``), so the step Lambda echoes ``run_id`` and ``steps`` from its input; build its reply
with :func:`step_output`, which does that. ``Park`` and its ``Catch`` use ``ResultPath: null``,
so after a wake or a timeout the state is still the step's reply and the next ``Step`` reads
``$.run_id`` from it. Whatever a waker sends with ``SendTaskSuccess`` is ignored: the news is in
the run's inbox partition, which the step reads.

``steps`` counts Step invocations in this execution. ``Step`` passes
``States.MathAdd($.steps, 1)``, so the count is kept by the ASL, not by step code; ``Start``
seeds it so an execution's input is just ``{"run_id": ...}`` (:func:`execution_input`). The
step uses it (and the execution's start time) to roll over: :func:`should_roll_over`.

Limits of real Step Functions that shaped this (Standard workflows, AWS quotas page):

- An execution lasts at most 1 year; past that it fails with ``States.Timeout`` at the execution
  level, which no ``Catch`` sees. So "park until a signal, no timer" cannot be a 1-year
  (31,536,000 s) task timeout: the execution's own year ends first and kills the run's driver.
  :data:`PARK_FOREVER` is 30 days instead; an idle run wakes once a month, finds nothing, and
  parks again (one step, ~13 history events). :func:`should_roll_over` starts a new execution
  once the current one is older than a year minus :data:`PARK_FOREVER` (minus a day of slack),
  so every park ends inside the execution's year.
- ``TimeoutSecondsPath`` must select a positive integer (the ASL reference; a missing field
  fails the execution with ``States.Runtime``, in moto at least). :func:`park_timeout` clamps to
  ``[1, PARK_FOREVER]`` and rounds up; a timer already due is answered with kind "step", not a
  0-second park.
- History is capped at 25,000 events per execution, after which the execution fails. One loop
  costs 13 events (Step 5, Route 2, Park 6) plus 3 per retried invoke; see
  :data:`ROLLOVER_STEPS`.
- State input/output is capped at 262,144 bytes. The driver's state is a few ids and numbers:
  results and errors live in the run index, and :func:`step_output` truncates ``error`` /
  ``cause`` to 256 / 32,768 characters (the limits ``SendTaskFailure`` documents for the same
  pair), which also keeps the Fail event readable.

What moto 5.2.5's interpreter (``stepfunctions.execute_state_machine``) does with this document,
found by running it in ``tests/test_workflow_driver.py``:

- ``TimeoutSecondsPath`` on a ``waitForTaskToken`` task works; the timeout is real wall time,
  so the local harness wakes due runs itself (``SendTaskSuccess`` from its virtual clock)
  rather than waiting for ``States.Timeout``.
- A ``Catch`` on ``States.Timeout`` with ``ResultPath: null`` loops back to ``Step`` with the
  park state's input intact.
- ``ErrorPath`` / ``CausePath`` on ``Fail`` work: ``describe_execution`` reports the step's
  error and cause. Both are in the real service's Fail state reference (JSONPath states; the
  path must select a string, which :func:`step_output` guarantees). No static fallback needed.
- ``States.MathAdd`` in ``Parameters`` and the context object fields ``$$.Task.Token``,
  ``$$.Execution.Id``, ``$$.Execution.StartTime``, ``$$.StateMachine.Id`` work.
- An execution started without ``name`` gets the ARN ``...:execution:<machine>:None`` (and so
  does ``$$.Execution.Id``): a second unnamed start fails with ExecutionAlreadyExists. Always name
  executions (:func:`execution_name`); real Step Functions would generate a UUID instead.
- ``$$.Execution.StartTime`` comes as ``2026-01-01T00:00:00.123456+00:00``, real Step Functions
  sends ``...Z``; :func:`execution_age` reads both.
- moto's history has 5 + 2 + 6 events per loop (:data:`EVENTS_PER_LOOP`, asserted by the
  tests). That the real service writes the same per loop is assumed, not measured here; the
  rollover budget leaves 6 events per loop and 5,000 overall of margin for that.
- ``Retry`` works, and sleeps the real ``IntervalSeconds`` between attempts. A Lambda function
  error (``X-Amz-Function-Error`` set by the invoke seam) surfaces as the payload's
  ``errorType``, which ``States.ALL`` matches.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, NotRequired, TypedDict

# ---------------------------------------------------------------------------------------------
# Limits and budgets

#: Seconds a run parks when it waits only for a signal (no durable timer). 30 days, not a year:
#: see the module docstring (an execution's 1-year cap would end the execution first).
PARK_FOREVER = 30 * 24 * 3600

#: Standard workflows: an execution lasts at most this long (hard quota).
MAX_EXECUTION_SECONDS = 365 * 24 * 3600

#: Roll over once an execution is this old, so that any park (at most PARK_FOREVER) still ends
#: inside the execution's year. A day of slack covers step time and clock skew.
ROLLOVER_AGE_SECONDS = MAX_EXECUTION_SECONDS - PARK_FOREVER - 24 * 3600

#: Standard workflows: an execution's history holds at most this many events (hard quota).
MAX_HISTORY_EVENTS = 25_000

#: History events one Step -> Route -> Park loop adds, without retries: Step 5 (TaskStateEntered,
#: TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited), Route 2, Park 6 (the same plus
#: TaskSubmitted; TaskTimedOut instead of TaskSucceeded on a timer).
EVENTS_PER_LOOP = 13

#: The per-loop budget used for rollover: EVENTS_PER_LOOP plus two retried invokes (3 each:
#: TaskFailed, TaskScheduled, TaskStarted) plus one spare.
EVENTS_PER_LOOP_BUDGET = EVENTS_PER_LOOP + 2 * 3 + 1

#: Roll over when a step is about to be the this-many-th of its execution: 1,000 loops at the
#: budget above are 20,000 events, leaving 5,000 for bursts of retries and the execution's own
#: start and end events.
ROLLOVER_STEPS = 1_000

# Step retry policy: a crashed or timed-out step is safe to run again (replay plus conditional
# appends), so retry anything; after the last attempt the execution fails with that error.
STEP_RETRY_INTERVAL_SECONDS = 1
STEP_RETRY_MAX_ATTEMPTS = 4
STEP_RETRY_BACKOFF_RATE = 2.0

#: Step Functions names (state machines, executions) are 1 to 80 characters, without
#: whitespace, ``?*<>{}[]"#%\^|~`$&,;:/`` or control characters.
MAX_EXECUTION_NAME_CHARS = 80
_NAME_FORBIDDEN = frozenset(' \t\n\r?*<>{}[]"#%\\^|~`$&,;:/')
_GENERATION_SEPARATOR = "--"

#: Error of the Fail state reached when the step's reply has no known ``kind``.
BAD_STEP_OUTPUT_ERROR = "Driver.BadStepOutput"

# Size caps of the Fail state's fields (the same limits SendTaskFailure documents).
MAX_ERROR_CHARS = 256
MAX_CAUSE_CHARS = 32_768

# State names, exported so tests and tooling do not spell them twice.
START = "Start"
STEP = "Step"
ROUTE = "Route"
PARK = "Park"
DONE = "Done"
FAILED = "Failed"
ROLLED_OVER = "RolledOver"
BAD_STEP_OUTPUT = "BadStepOutput"

# ---------------------------------------------------------------------------------------------
# The step and wake Lambdas' contract

StepKind = Literal["step", "park", "done", "failed", "rollover"]
STEP_KINDS: tuple[StepKind, ...] = ("step", "park", "done", "failed", "rollover")


class ExecutionInput(TypedDict):
    """What an execution of the driver starts with (``start_execution(input=...)``)."""

    run_id: str


class StepInput(TypedDict):
    """The step Lambda's event."""

    run_id: str
    #: This invocation's number in the current execution, from 1. Echo it back.
    steps: int
    #: The current execution's ARN (``$$.Execution.Id``).
    execution: str
    #: When the current execution started, ISO 8601 (``$$.Execution.StartTime``).
    started: str
    #: The driver state machine's ARN (``$$.StateMachine.Id``): where a rollover starts the
    #: next execution.
    state_machine: str


class StepOutput(TypedDict):
    """The step Lambda's reply; it becomes the driver's state (build it with step_output)."""

    run_id: str
    steps: int
    kind: StepKind
    #: "park" only: seconds until the next durable timer, or PARK_FOREVER; a positive int.
    timeout: NotRequired[int]
    #: "failed" only: the Fail state's Error and Cause.
    error: NotRequired[str]
    cause: NotRequired[str]
    #: "rollover" only: the ARN of the execution that continues the run.
    next_execution: NotRequired[str]


class WakeInput(TypedDict):
    """The wake Lambda's event: store ``token``; ``SendTaskSuccess`` with it wakes the run."""

    run_id: str
    token: str


def execution_input(run_id: str) -> ExecutionInput:
    """The input of a new driver execution for ``run_id`` (first start or a rollover)."""
    return {"run_id": run_id}


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


def is_first_execution(execution_arn: str) -> bool:
    """Whether ``execution_arn`` (StepInput["execution"]) is its run's first driver execution
    (not one a rollover started)."""
    return execution_arn.rsplit(":", 1)[-1].endswith(f"{_GENERATION_SEPARATOR}0")


def next_execution_name(execution_arn: str) -> str:
    """The name a rollover gives the execution after ``execution_arn`` (StepInput["execution"])."""
    name = execution_arn.rsplit(":", 1)[-1]
    run_id, sep, generation = name.rpartition(_GENERATION_SEPARATOR)
    if not sep or not generation.isdigit():
        raise ValueError(f"execution {execution_arn!r} was not named by execution_name()")
    return execution_name(run_id, int(generation) + 1)


def execution_age(started: str, now: float) -> float:
    """Seconds between StepInput["started"] (ISO 8601, ``Z`` or an offset) and ``now``."""
    return now - datetime.fromisoformat(started).timestamp()


def park_timeout(seconds_until_timer: float | None) -> int:
    """The ``timeout`` of a "park" reply: seconds until the next timer, or PARK_FOREVER.

    Rounded up (a timer never fires early) and clamped to ``[1, PARK_FOREVER]``: Step Functions
    rejects a non-positive or non-integer ``TimeoutSecondsPath`` value, and a timer further off
    than PARK_FOREVER is met by parking again when the shorter wait ends.
    """
    if seconds_until_timer is None:
        return PARK_FOREVER
    whole = int(seconds_until_timer)
    if whole < seconds_until_timer:
        whole += 1
    return max(1, min(PARK_FOREVER, whole))


def should_roll_over(steps: int, execution_age_seconds: float) -> bool:
    """Whether the step should continue the run in a new execution instead of this one.

    ``steps`` is StepInput["steps"]; ``execution_age_seconds`` is now minus StepInput["started"].
    The step starts the next execution (input :func:`execution_input`) itself, then replies
    "rollover" so this one ends with Succeed.
    """
    return steps >= ROLLOVER_STEPS or execution_age_seconds >= ROLLOVER_AGE_SECONDS


def step_output(
    step_input: StepInput,
    kind: StepKind,
    *,
    timeout: int | None = None,
    error: str | None = None,
    cause: str | None = None,
    next_execution: str | None = None,
) -> StepOutput:
    """The step Lambda's reply for ``kind``, carrying ``run_id`` and ``steps`` over.

    Raises ValueError when a field the kind needs is missing or out of range: the driver would
    otherwise fail the execution with ``States.Runtime`` far from the cause.
    """
    if kind not in STEP_KINDS:
        raise ValueError(f"unknown step kind {kind!r}; expected one of {', '.join(STEP_KINDS)}")
    out: StepOutput = {"run_id": step_input["run_id"], "steps": step_input["steps"], "kind": kind}
    if kind == "park":
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1:
            raise ValueError(f"a park needs a positive integer timeout, got {timeout!r}")
        out["timeout"] = min(timeout, PARK_FOREVER)
    elif kind == "failed":
        out["error"] = (error or "WorkflowFailed")[:MAX_ERROR_CHARS]
        out["cause"] = (cause or "")[:MAX_CAUSE_CHARS]
    elif kind == "rollover":
        if not next_execution:
            raise ValueError("a rollover needs the ARN of the execution it started")
        out["next_execution"] = next_execution
    return out


# ---------------------------------------------------------------------------------------------
# The definition


def driver_definition(step_function_arn: str, wake_function_arn: str) -> dict[str, Any]:
    """The driver state machine's ASL for one workflow host, as a JSON-ready dict.

    ``step_function_arn`` / ``wake_function_arn`` are the step and wake Lambdas' ARNs (CDK
    tokens are fine: the dict is serialized by the stack).
    """
    return {
        "Comment": "Workflow driver: Step -> Route -> Park -> Step until Done/Failed/RolledOver",
        "StartAt": START,
        "States": {
            # Normalizes the execution input to exactly the state the loop keeps, and seeds the
            # step counter so StartExecution needs only the run id.
            START: {
                "Type": "Pass",
                "Parameters": {"run_id.$": "$.run_id", "steps": 0},
                "Next": STEP,
            },
            STEP: {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {
                    "FunctionName": step_function_arn,
                    "Payload": {
                        "run_id.$": "$.run_id",
                        "steps.$": "States.MathAdd($.steps, 1)",
                        "execution.$": "$$.Execution.Id",
                        "started.$": "$$.Execution.StartTime",
                        "state_machine.$": "$$.StateMachine.Id",
                    },
                },
                # The reply is the whole next state (it echoes run_id and steps).
                "OutputPath": "$.Payload",
                "Retry": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "IntervalSeconds": STEP_RETRY_INTERVAL_SECONDS,
                        "MaxAttempts": STEP_RETRY_MAX_ATTEMPTS,
                        "BackoffRate": STEP_RETRY_BACKOFF_RATE,
                    }
                ],
                "Next": ROUTE,
            },
            ROUTE: {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.kind", "StringEquals": "step", "Next": STEP},
                    {"Variable": "$.kind", "StringEquals": "park", "Next": PARK},
                    {"Variable": "$.kind", "StringEquals": "done", "Next": DONE},
                    {"Variable": "$.kind", "StringEquals": "failed", "Next": FAILED},
                    {"Variable": "$.kind", "StringEquals": "rollover", "Next": ROLLED_OVER},
                ],
                # Not back to Step: a step that replies nonsense would otherwise spin, paying
                # for transitions until the history cap fails the execution anyway.
                "Default": BAD_STEP_OUTPUT,
            },
            PARK: {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {
                    "FunctionName": wake_function_arn,
                    "Payload": {"run_id.$": "$.run_id", "token.$": "$$.Task.Token"},
                },
                "TimeoutSecondsPath": "$.timeout",
                # Keep the state (run_id, steps): what a waker sends is not needed.
                "ResultPath": None,
                # The wake Lambda failing (a crash, a throttled DynamoDB write, the Lambda
                # service) is retried like the step: without it one failed wake would fail the
                # execution and park the run. A retry waits the full timeout again, so a timer
                # may fire a few seconds late; that beats a stopped run. States.TaskFailed
                # matches every task error except States.Timeout, which the Catch must see.
                "Retry": [
                    {
                        "ErrorEquals": ["States.TaskFailed"],
                        "IntervalSeconds": STEP_RETRY_INTERVAL_SECONDS,
                        "MaxAttempts": STEP_RETRY_MAX_ATTEMPTS,
                        "BackoffRate": STEP_RETRY_BACKOFF_RATE,
                    }
                ],
                # The timeout is the run's next durable timer: due, so step.
                "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": STEP}],
                "Next": STEP,
            },
            DONE: {"Type": "Succeed"},
            FAILED: {"Type": "Fail", "ErrorPath": "$.error", "CausePath": "$.cause"},
            # The step started the next execution before replying "rollover"; this one ends
            # well, with the reply (kind "rollover", next_execution) as its output.
            ROLLED_OVER: {"Type": "Succeed"},
            BAD_STEP_OUTPUT: {
                "Type": "Fail",
                "Error": BAD_STEP_OUTPUT_ERROR,
                "Cause": "the step Lambda replied without a known kind "
                "(step, park, done, failed, rollover)",
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
