"""The workflow driver's ASL, executed by moto's own Step Functions interpreter.

The state machine is exactly ``asl.driver_definition(...)``. Its Wake task reaches
``LambdaSimpleBackend.invoke`` (moto's Lambda without Docker), which the ``deployed`` fixture
replaces with a router to an in-process fake step handler (and restores afterwards). Each fake
step acts from a per-run script the way the real step ends its task after replaying the run's
log: park (keep the token), go on (SendTaskSuccess to itself), end (SendTaskFailure).

moto runs every execution in its own thread, so tests poll ``describe_execution`` (bounded by a
deadline). The only real waits are that polling, one 1-second timeout and one 1-second retry
interval.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend

from runtime import moto_fidelity
from runtime.workflows import asl

REGION = "us-east-1"
ACCOUNT = "123456789012"
STEP_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:wf-step"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/wf-driver"

#: Seconds any single execution may take before a test gives up on it.
DEADLINE = 5.0
POLL = 0.02

Reply = Callable[["FakeStep", asl.StepInput], Any]


class Crash(Exception):
    """Raised by a scripted step to make the step Lambda fail (an unhandled function error)."""


@dataclass
class FakeStep:
    """The step Lambda behind moto's Lambda invoke: each invocation runs the run's next
    scripted action, recording the inputs and the tokens it kept."""

    sfn: Any = None
    scripts: dict[str, list[Reply]] = field(default_factory=dict)
    inputs: dict[str, list[asl.StepInput]] = field(default_factory=lambda: defaultdict(list))
    parked: dict[str, str] = field(default_factory=dict)
    #: Unexpected handler errors: moto would only show them as a failed task, so keep them.
    errors: list[str] = field(default_factory=list)

    def invoke(self, function_name: str, body: Any, response_headers: dict[str, Any]) -> bytes:
        try:
            event = json.loads(body)
            if function_name != STEP_ARN:
                raise AssertionError(f"invoke of unknown function {function_name}")
            self.inputs[event["run_id"]].append(event)
            result = self.scripts[event["run_id"]].pop(0)(self, event) or {}
        except Exception as exc:  # becomes a Lambda function error, as in the real service
            if not isinstance(exc, Crash):
                self.errors.append(f"{function_name}: {exc!r}")
            response_headers["x-amz-function-error"] = "Unhandled"
            result = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        return json.dumps(result).encode()


def go_on(timeout: int = asl.PARK_FOREVER, rearm: bool = False) -> Reply:
    """The step went on: its own task ends with the next wait's state."""

    def act(fake: FakeStep, event: asl.StepInput) -> None:
        state = asl.task_state(event["run_id"], timeout, rearm=rearm)
        fake.sfn.send_task_success(taskToken=event["token"], output=json.dumps(state))

    return act


def park(fake: FakeStep, event: asl.StepInput) -> None:
    """The step parked: it keeps the token for a waker (or the timeout)."""
    fake.parked[event["run_id"]] = event["token"]


def end(error: str, cause: str = "") -> Reply:
    def act(fake: FakeStep, event: asl.StepInput) -> None:
        fake.sfn.send_task_failure(taskToken=event["token"], error=error, cause=cause)

    return act


def crash(fake: FakeStep, event: asl.StepInput) -> Any:
    raise Crash(f"step for {event['run_id']} killed")


@dataclass
class Driver:
    """The deployed driver state machine in moto, plus the fake behind its Wake task."""

    sfn: Any
    state_machine: str
    fake: FakeStep

    def start(self, run_id: str, *script: Reply, timeout: int = asl.PARK_FOREVER) -> str:
        """Start the run's first execution; its wakes act out ``script``, in order."""
        self.fake.scripts[run_id] = list(script)
        return self.sfn.start_execution(
            stateMachineArn=self.state_machine,
            name=asl.execution_name(run_id),
            input=json.dumps(asl.task_state(run_id, timeout)),
        )["executionArn"]

    def wait(self, execution: str) -> dict[str, Any]:
        """describe_execution once the execution has left RUNNING."""
        return poll(
            lambda: (
                (d := self.sfn.describe_execution(executionArn=execution))["status"] != "RUNNING"
                and d
            )
        )

    def token(self, run_id: str) -> str:
        """The task token the run's step kept when it parked."""
        return poll(lambda: self.fake.parked.get(run_id))

    def history(self, execution: str) -> list[dict[str, Any]]:
        return self.sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]


def poll(probe: Callable[[], Any]) -> Any:
    """The first truthy ``probe()``, retried until DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while not (value := probe()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the driver")
        time.sleep(POLL)
    return value


def wake_entries(history: list[dict[str, Any]]) -> list[int]:
    """History event ids at which the Wake state was entered."""
    return [
        e["id"]
        for e in history
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == asl.WAKE
    ]


def entered(history: list[dict[str, Any]]) -> list[str]:
    """The states entered, in order: each is one billed transition."""
    return [e["stateEnteredEventDetails"]["name"] for e in history if e["type"].endswith("Entered")]


@dataclass
class _Deployed:
    """One moto account with the driver deployed, shared by the module's tests.

    Sharing it skips a mock_aws setup per test; the tests stay apart because each uses its own
    run ids and gets fresh fakes.
    """

    sfn: Any
    state_machine: str
    fake: FakeStep


@pytest.fixture(scope="module")
def deployed() -> Iterator[_Deployed]:
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):  # type: ignore[arg-type]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        definition = asl.driver_definition(STEP_ARN)
        arn = sfn.create_state_machine(
            name="wf-driver", definition=json.dumps(definition), roleArn=ROLE_ARN
        )["stateMachineArn"]
        env = _Deployed(sfn, arn, FakeStep(sfn))

        # moto's own signature; only the function name, body and response headers matter here.
        def routed(
            self: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: dict[str, Any],
        ) -> bytes:
            return env.fake.invoke(function_name, body, response_headers)

        original = LambdaSimpleBackend.invoke
        LambdaSimpleBackend.invoke = routed  # type: ignore[method-assign]
        undo = moto_fidelity.pass_task_failure_causes()
        try:
            yield env
        finally:
            undo()
            LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]


@pytest.fixture
def driver(deployed: _Deployed) -> Iterator[Driver]:
    sfn = deployed.sfn
    deployed.fake = fake = FakeStep(sfn)
    try:
        yield Driver(sfn, deployed.state_machine, fake)
        assert fake.errors == []
    finally:
        # A test that failed may leave a run parked in moto's threads: stop it, so that it
        # cannot wake into the next test's fakes.
        running = sfn.list_executions(
            stateMachineArn=deployed.state_machine, statusFilter="RUNNING"
        )
        for ex in running["executions"]:
            sfn.stop_execution(executionArn=ex["executionArn"])


# ---------------------------------------------------------------------------------------------
# Executed by moto


def test_a_run_that_goes_on_twice_then_ends_is_one_transition_per_wake(driver: Driver) -> None:
    # Two runs at once on one state machine: each execution keeps its own run id.
    a = driver.start("run-a", go_on(), go_on(), end(asl.COMPLETED_ERROR))
    b = driver.start("run-b", end(asl.COMPLETED_ERROR))

    for execution, run_id, n in ((a, "run-a", 3), (b, "run-b", 1)):
        assert driver.wait(execution)["status"] == "SUCCEEDED"
        inputs = driver.fake.inputs[run_id]
        assert [i["run_id"] for i in inputs] == [run_id] * n
        assert {i["execution"] for i in inputs} == {execution}
        assert {i["state_machine"] for i in inputs} == {driver.state_machine}
        assert len({i["token"] for i in inputs}) == n  # a token per wake
        # Billed: a Wake per wake, then Done. No Choice, no Pass.
        assert entered(driver.history(execution)) == [asl.WAKE] * n + [asl.DONE]
    # "started" is the execution's start and "entered" the task's, both readable as seconds.
    first = driver.fake.inputs["run-a"][0]
    started = driver.sfn.describe_execution(executionArn=a)["startDate"].timestamp()
    assert asl.iso_seconds(first["started"]) == pytest.approx(started, abs=0.01)
    assert asl.iso_seconds(first["entered"]) >= asl.iso_seconds(first["started"]) - 0.01


def test_a_parked_run_is_woken_early_by_a_waker_with_the_next_wait(driver: Driver) -> None:
    execution = driver.start("run-w", park, end(asl.COMPLETED_ERROR))

    token = driver.token("run-w")
    assert driver.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    driver.sfn.send_task_success(taskToken=token, output=json.dumps(asl.task_state("run-w", 30)))

    assert driver.wait(execution)["status"] == "SUCCEEDED"
    first, second = driver.fake.inputs["run-w"]
    assert (first["timeout"], second["timeout"]) == (asl.PARK_FOREVER, 30)
    assert second["rearm"] is False
    history = driver.history(execution)
    assert "TaskTimedOut" not in {e["type"] for e in history}
    one, two = wake_entries(history)
    assert two - one == asl.EVENTS_PER_WAKE


def test_a_parked_runs_timeout_is_its_timer_and_wakes_it_to_step(driver: Driver) -> None:
    began = time.monotonic()
    execution = driver.start("run-t", park, end(asl.COMPLETED_ERROR), timeout=1)

    assert driver.wait(execution)["status"] == "SUCCEEDED"
    assert time.monotonic() - began >= 1
    _, second = driver.fake.inputs["run-t"]
    # The timeout's error object is in rearm: not `true`, so the wake steps the run.
    assert second["rearm"]["Error"] == "States.Timeout" and not asl.wants_park_only(second)
    assert asl.wants_park_only({**second, "rearm": True})
    history = driver.history(execution)
    assert "TaskTimedOut" in {e["type"] for e in history}
    one, two = wake_entries(history)
    assert two - one == asl.EVENTS_PER_WAKE


def test_a_rearm_asks_the_next_wake_to_park_only(driver: Driver) -> None:
    execution = driver.start("run-a2", go_on(5, rearm=True), end(asl.COMPLETED_ERROR))
    assert driver.wait(execution)["status"] == "SUCCEEDED"
    _, second = driver.fake.inputs["run-a2"]
    assert second["timeout"] == 5 and second["rearm"] is True


def test_a_failed_run_fails_the_execution_with_its_error(driver: Driver) -> None:
    error, cause = asl.end_error({"kind": "Internal", "message": "non-determinism: line 3"})
    execution = driver.start("run-f", go_on(), end(error, cause))

    described = driver.wait(execution)
    assert described["status"] == "FAILED"
    assert (described["error"], described["cause"]) == (
        "Workflow.Failed",
        "Internal: non-determinism: line 3",
    )
    assert entered(driver.history(execution))[-1] == asl.FAILED


def test_a_rollover_ends_this_execution_well_and_the_next_continues(driver: Driver) -> None:
    def roll_over(fake: FakeStep, event: asl.StepInput) -> None:
        # What the real step does: start the next execution first (twice here: a retried step
        # must find the same execution, not fork a second driver), then end its own.
        start = {
            "stateMachineArn": event["state_machine"],
            "name": asl.next_execution_name(event["execution"]),
            "input": json.dumps(asl.task_state(event["run_id"], 60)),
        }
        arn = driver.sfn.start_execution(**start)["executionArn"]
        assert driver.sfn.start_execution(**start)["executionArn"] == arn
        fake.sfn.send_task_failure(taskToken=event["token"], error=asl.ROLLED_OVER_ERROR)

    first = driver.start("run-r", go_on(), roll_over, end(asl.COMPLETED_ERROR))

    assert driver.wait(first)["status"] == "SUCCEEDED"
    assert entered(driver.history(first))[-1] == asl.ROLLED_OVER
    second = first.rsplit(":", 1)[0] + ":" + asl.execution_name("run-r", 1)
    assert driver.wait(second)["status"] == "SUCCEEDED"
    inputs = driver.fake.inputs["run-r"]
    assert [(i["execution"], i["timeout"]) for i in inputs] == [
        (first, asl.PARK_FOREVER),
        (first, asl.PARK_FOREVER),
        (second, 60),
    ]
    assert asl.generation_of(second) == 1


def test_a_crashed_step_is_retried_and_an_ending_is_not(driver: Driver) -> None:
    execution = driver.start("run-c", crash, end(asl.COMPLETED_ERROR))

    assert driver.wait(execution)["status"] == "SUCCEEDED"
    first, retried = driver.fake.inputs["run-c"]
    assert {k: v for k, v in first.items() if k != "token"} == {
        k: v for k, v in retried.items() if k != "token"
    }
    assert "TaskFailed" in {e["type"] for e in driver.history(execution)}
    # An ending error goes straight to its Catch: one step, no retry.
    ended = driver.start("run-e", end(asl.FAILED_ERROR, "Invalid: bad"))
    assert driver.wait(ended)["status"] == "FAILED"
    assert len(driver.fake.inputs["run-e"]) == 1


# ---------------------------------------------------------------------------------------------
# Pure


def test_validate_accepts_the_driver_definition() -> None:
    definition = asl.driver_definition(STEP_ARN)
    asl.validate(definition)
    assert json.loads(json.dumps(definition)) == definition  # JSON-ready as is
    assert set(definition["States"]) == {asl.WAKE, asl.DONE, asl.FAILED, asl.ROLLED_OVER}


def test_validate_names_every_structural_problem() -> None:
    broken = asl.driver_definition(STEP_ARN)
    broken["StartAt"] = "Begin"
    broken["States"][asl.WAKE]["Catch"][0]["Next"] = "Donne"
    broken["States"][asl.DONE]["Next"] = asl.WAKE
    broken["States"]["Loose"] = {"Type": "Pass"}

    with pytest.raises(ValueError) as excinfo:
        asl.validate(broken)
    message = str(excinfo.value)
    for expected in (
        "StartAt 'Begin' is not a state",
        "Catch[0].Next 'Donne' is not a state",
        "Succeed state 'Done' must not have Next or End",
        "state 'Loose' needs exactly one of Next or End",
    ):
        assert expected in message

    unreachable = asl.driver_definition(STEP_ARN)
    unreachable["States"]["Orphan"] = {"Type": "Succeed"}
    with pytest.raises(ValueError, match="state 'Orphan' is unreachable"):
        asl.validate(unreachable)
    with pytest.raises(ValueError, match="no States"):
        asl.validate({"StartAt": "Wake", "States": {}})


def test_task_states_and_endings_are_checked_and_capped() -> None:
    assert asl.task_state("r", 30) == {"run_id": "r", "timeout": 30, "rearm": False}
    assert asl.task_state("r", 10**9)["timeout"] == asl.PARK_FOREVER
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            asl.task_state("r", bad)  # type: ignore[arg-type]
    error, cause = asl.end_error({"kind": "Invalid", "message": "m" * 40_000})
    assert error == asl.FAILED_ERROR and len(cause) == asl.MAX_CAUSE_CHARS
    assert cause.startswith("Invalid: mmm")
    assert asl.end_error(None) == (asl.FAILED_ERROR, "Internal: ")


def test_wait_and_rollover_rules() -> None:
    assert asl.wait_seconds(None) == asl.PARK_FOREVER
    assert asl.wait_seconds(0) == 1  # due timers never make a 0-second wait
    assert asl.wait_seconds(2.1) == 3  # a timer never fires early
    assert asl.wait_seconds(10**9) == asl.PARK_FOREVER
    # Every wait must end inside the execution's one-year limit.
    assert asl.ROLLOVER_AGE_SECONDS + asl.PARK_FOREVER < asl.MAX_EXECUTION_SECONDS
    # Parks up to the rollover, each with three retried invokes, fit the history with room
    # for as many wakes again that are not parks.
    per_park = asl.EVENTS_PER_WAKE + 3 * 3
    assert 2 * asl.ROLLOVER_PARKS * per_park <= asl.MAX_HISTORY_EVENTS + 5_000
    assert not asl.should_roll_over(asl.ROLLOVER_PARKS - 1, 0)
    assert asl.should_roll_over(asl.ROLLOVER_PARKS, 0)
    assert asl.should_roll_over(1, asl.ROLLOVER_AGE_SECONDS)


def test_execution_names_are_deterministic_and_valid() -> None:
    assert asl.execution_name("order-17") == "order-17--0"
    arn = "arn:aws:states:us-east-1:1:execution:m:" + asl.execution_name("a--1", 4)
    assert asl.next_execution_name(arn) == "a--1--5"
    assert asl.generation_of(arn) == 4
    with pytest.raises(ValueError, match="characters not allowed"):
        asl.execution_name("a b:c")
    with pytest.raises(ValueError, match="at most 80"):
        asl.execution_name("x" * 80)
    with pytest.raises(ValueError, match="not named by"):
        asl.next_execution_name("arn:aws:states:us-east-1:1:execution:m:free-form")
    assert asl.iso_seconds("2026-01-01T00:00:10Z") == 1_767_225_610.0
    assert asl.iso_seconds("2026-01-01T00:00:10.500000+00:00") == 1_767_225_610.5
