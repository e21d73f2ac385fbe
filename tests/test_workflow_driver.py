"""The workflow driver's ASL, executed by moto's own Step Functions interpreter.

The state machine is exactly ``asl.driver_definition(...)``. Its Lambda tasks reach
``LambdaSimpleBackend.invoke`` (moto's Lambda without Docker), which the ``deployed`` fixture
replaces with a router to in-process fake step and wake handlers (and restores afterwards). Each fake step replies from a
per-run script, the way the real step would after replaying the run's log.

moto runs every execution in its own thread, so tests poll ``describe_execution`` (bounded by a
deadline). The only real waits are that polling, one 1-second park timeout and one 1-second
retry interval.
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

from runtime.workflows import asl

REGION = "us-east-1"
ACCOUNT = "123456789012"
STEP_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:wf-step"
WAKE_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:wf-wake"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/wf-driver"

#: Seconds any single execution may take before a test gives up on it.
DEADLINE = 5.0
POLL = 0.02

Reply = Callable[[asl.StepInput], Any]


class Crash(Exception):
    """Raised by a scripted reply to make the step Lambda fail (an unhandled function error)."""


def reply(kind: asl.StepKind, **fields: Any) -> Reply:
    """A scripted step reply of ``kind``, built like the real step builds it."""
    return lambda step_input: asl.step_output(step_input, kind, **fields)


def crash(step_input: asl.StepInput) -> Any:
    raise Crash(f"step for {step_input['run_id']} killed")


@dataclass
class FakeLambdas:
    """The step and wake handlers behind moto's Lambda invoke, recording what they were sent."""

    scripts: dict[str, list[Reply]] = field(default_factory=dict)
    step_inputs: dict[str, list[asl.StepInput]] = field(default_factory=lambda: defaultdict(list))
    wake_inputs: dict[str, list[asl.WakeInput]] = field(default_factory=lambda: defaultdict(list))
    #: Unexpected handler errors: moto would only show them as a failed task, so keep them.
    errors: list[str] = field(default_factory=list)

    def invoke(self, function_name: str, body: Any, response_headers: dict[str, Any]) -> bytes:
        try:
            event = json.loads(body)
            if function_name == STEP_ARN:
                self.step_inputs[event["run_id"]].append(event)
                result = self.scripts[event["run_id"]].pop(0)(event)
            elif function_name == WAKE_ARN:
                self.wake_inputs[event["run_id"]].append(event)
                result = {}
            else:
                raise AssertionError(f"invoke of unknown function {function_name}")
        except Exception as exc:  # becomes a Lambda function error, as in the real service
            if not isinstance(exc, Crash):
                self.errors.append(f"{function_name}: {exc!r}")
            response_headers["x-amz-function-error"] = "Unhandled"
            result = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
        return json.dumps(result).encode()


@dataclass
class Driver:
    """The deployed driver state machine in moto, plus the fakes behind its Lambda tasks."""

    sfn: Any
    state_machine: str
    fakes: FakeLambdas

    def start(self, run_id: str, *script: Reply) -> str:
        """Start the run's first execution; its steps reply with ``script``, in order."""
        self.fakes.scripts[run_id] = list(script)
        return self.sfn.start_execution(
            stateMachineArn=self.state_machine,
            name=asl.execution_name(run_id),
            input=json.dumps(asl.execution_input(run_id)),
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
        """The task token the wake Lambda stored for the run's current park."""
        return poll(lambda: self.fakes.wake_inputs[run_id] and self.fakes.wake_inputs[run_id][-1])[
            "token"
        ]

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


def step_entries(history: list[dict[str, Any]]) -> list[int]:
    """History event ids at which the Step state was entered."""
    return [
        e["id"]
        for e in history
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == asl.STEP
    ]


@dataclass
class _Deployed:
    """One moto account with the driver deployed, shared by the module's tests.

    Sharing it skips a mock_aws setup per test; the tests stay apart because each uses its own
    run ids and gets fresh fakes.
    """

    sfn: Any
    state_machine: str
    fakes: FakeLambdas


@pytest.fixture(scope="module")
def deployed() -> Iterator[_Deployed]:
    config = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
    with mock_aws(config=config):  # type: ignore[arg-type]
        sfn = boto3.client("stepfunctions", region_name=REGION)
        definition = asl.driver_definition(STEP_ARN, WAKE_ARN)
        arn = sfn.create_state_machine(
            name="wf-driver", definition=json.dumps(definition), roleArn=ROLE_ARN
        )["stateMachineArn"]
        env = _Deployed(sfn, arn, FakeLambdas())

        # moto's own signature; only the function name, body and response headers matter here.
        def routed(
            self: LambdaSimpleBackend,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: dict[str, Any],
        ) -> bytes:
            return env.fakes.invoke(function_name, body, response_headers)

        original = LambdaSimpleBackend.invoke
        LambdaSimpleBackend.invoke = routed  # type: ignore[method-assign]
        try:
            yield env
        finally:
            LambdaSimpleBackend.invoke = original  # type: ignore[method-assign]


@pytest.fixture
def driver(deployed: _Deployed) -> Iterator[Driver]:
    deployed.fakes = fakes = FakeLambdas()
    sfn = deployed.sfn
    try:
        yield Driver(sfn, deployed.state_machine, fakes)
        assert fakes.errors == []
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


def test_runs_to_done_after_n_steps_keeping_run_id(driver: Driver) -> None:
    # Two runs at once on one state machine: each execution keeps its own run id.
    a = driver.start("run-a", reply("step"), reply("step"), reply("step"), reply("done"))
    b = driver.start("run-b", reply("step"), reply("done"))

    for execution, run_id, n in ((a, "run-a", 4), (b, "run-b", 2)):
        described = driver.wait(execution)
        assert described["status"] == "SUCCEEDED"
        assert json.loads(described["output"]) == {"run_id": run_id, "steps": n, "kind": "done"}
        inputs = driver.fakes.step_inputs[run_id]
        assert [i["run_id"] for i in inputs] == [run_id] * n
        assert [i["steps"] for i in inputs] == list(range(1, n + 1))
        assert {i["execution"] for i in inputs} == {execution}
        assert {i["state_machine"] for i in inputs} == {driver.state_machine}
        assert driver.fakes.wake_inputs[run_id] == []
    # A step's "started" is the execution's start, readable by execution_age.
    started = driver.sfn.describe_execution(executionArn=a)["startDate"].timestamp()
    age = asl.execution_age(driver.fakes.step_inputs["run-a"][0]["started"], started + 5)
    assert age == pytest.approx(5, abs=0.01)


def test_park_then_wake_early(driver: Driver) -> None:
    execution = driver.start("run-w", reply("park", timeout=asl.PARK_FOREVER), reply("done"))

    token = driver.token("run-w")
    assert driver.fakes.wake_inputs["run-w"] == [{"run_id": "run-w", "token": token}]
    assert driver.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    # What a waker sends is dropped (ResultPath null): the next step still sees the run id.
    driver.sfn.send_task_success(taskToken=token, output=json.dumps({"noise": True}))

    assert driver.wait(execution)["status"] == "SUCCEEDED"
    inputs = driver.fakes.step_inputs["run-w"]
    assert [(i["run_id"], i["steps"]) for i in inputs] == [("run-w", 1), ("run-w", 2)]
    history = driver.history(execution)
    assert "TaskTimedOut" not in {e["type"] for e in history}
    first, second = step_entries(history)
    assert second - first == asl.EVENTS_PER_LOOP


def test_park_timeout_fires_and_loops_back_to_step(driver: Driver) -> None:
    began = time.monotonic()
    execution = driver.start("run-t", reply("park", timeout=1), reply("done"))

    assert driver.wait(execution)["status"] == "SUCCEEDED"
    assert time.monotonic() - began >= 1
    inputs = driver.fakes.step_inputs["run-t"]
    assert [(i["run_id"], i["steps"]) for i in inputs] == [("run-t", 1), ("run-t", 2)]
    assert len(driver.fakes.wake_inputs["run-t"]) == 1  # stored a token nobody used
    history = driver.history(execution)
    assert "TaskTimedOut" in {e["type"] for e in history}
    first, second = step_entries(history)
    assert second - first == asl.EVENTS_PER_LOOP


def test_failed_fails_the_execution_with_the_steps_error(driver: Driver) -> None:
    execution = driver.start(
        "run-f", reply("step"), reply("failed", error="NonDeterminism", cause="line 3: x")
    )

    described = driver.wait(execution)
    assert described["status"] == "FAILED"
    assert (described["error"], described["cause"]) == ("NonDeterminism", "line 3: x")


def test_unknown_kind_fails_instead_of_looping(driver: Driver) -> None:
    execution = driver.start(
        "run-x", lambda i: {"run_id": i["run_id"], "steps": i["steps"], "kind": "bogus"}
    )

    described = driver.wait(execution)
    assert described["status"] == "FAILED"
    assert described["error"] == asl.BAD_STEP_OUTPUT_ERROR
    assert len(driver.fakes.step_inputs["run-x"]) == 1


def test_rollover_succeeds_with_the_marker_and_the_next_execution_continues(
    driver: Driver,
) -> None:
    def roll_over(step_input: asl.StepInput) -> asl.StepOutput:
        # What the real step does: start the next execution first (twice here: a retried step
        # must find the same execution, not fork a second driver), then reply "rollover".
        start = {
            "stateMachineArn": step_input["state_machine"],
            "name": asl.next_execution_name(step_input["execution"]),
            "input": json.dumps(asl.execution_input(step_input["run_id"])),
        }
        arn = driver.sfn.start_execution(**start)["executionArn"]
        assert driver.sfn.start_execution(**start)["executionArn"] == arn
        return asl.step_output(step_input, "rollover", next_execution=arn)

    first = driver.start("run-r", reply("step"), roll_over, reply("done"))

    described = driver.wait(first)
    assert described["status"] == "SUCCEEDED"
    marker = json.loads(described["output"])
    assert marker["kind"] == "rollover"
    assert marker["run_id"] == "run-r"
    second = marker["next_execution"]
    assert second.endswith(":" + asl.execution_name("run-r", 1))
    assert driver.wait(second)["status"] == "SUCCEEDED"
    inputs = driver.fakes.step_inputs["run-r"]
    assert [(i["run_id"], i["steps"], i["execution"]) for i in inputs] == [
        ("run-r", 1, first),
        ("run-r", 2, first),
        ("run-r", 1, second),  # a new execution counts its steps from 1 again
    ]


def test_crashed_step_is_retried_with_the_same_input(driver: Driver) -> None:
    execution = driver.start("run-c", crash, reply("done"))

    assert driver.wait(execution)["status"] == "SUCCEEDED"
    first, retried = driver.fakes.step_inputs["run-c"]
    assert first == retried
    assert "TaskFailed" in {e["type"] for e in driver.history(execution)}


# ---------------------------------------------------------------------------------------------
# Pure


def test_validate_accepts_the_driver_definition() -> None:
    definition = asl.driver_definition(STEP_ARN, WAKE_ARN)
    asl.validate(definition)
    assert json.loads(json.dumps(definition)) == definition  # JSON-ready as is


def test_validate_names_every_structural_problem() -> None:
    broken = asl.driver_definition(STEP_ARN, WAKE_ARN)
    broken["StartAt"] = "Begin"
    broken["States"][asl.PARK]["Catch"][0]["Next"] = "Stepp"
    broken["States"][asl.ROUTE]["Default"] = "Nowhere"
    broken["States"][asl.DONE]["Next"] = asl.STEP
    del broken["States"][asl.START]["Next"]
    broken["States"]["Orphan"] = {"Type": "Succeed"}

    with pytest.raises(ValueError) as excinfo:
        asl.validate(broken)
    message = str(excinfo.value)
    for expected in (
        "StartAt 'Begin' is not a state",
        "Catch[0].Next 'Stepp' is not a state",
        "Default 'Nowhere' is not a state",
        "Succeed state 'Done' must not have Next or End",
        "state 'Start' needs exactly one of Next or End",
    ):
        assert expected in message

    unreachable = asl.driver_definition(STEP_ARN, WAKE_ARN)
    unreachable["States"]["Orphan"] = {"Type": "Succeed"}
    with pytest.raises(ValueError, match="state 'Orphan' is unreachable"):
        asl.validate(unreachable)
    with pytest.raises(ValueError, match="no States"):
        asl.validate({"StartAt": "Step", "States": {}})


def test_step_output_carries_the_state_and_checks_each_kind() -> None:
    step_input: asl.StepInput = {
        "run_id": "r",
        "steps": 7,
        "execution": "arn:aws:states:us-east-1:1:execution:m:r--0",
        "started": "2026-01-01T00:00:00Z",
        "state_machine": "arn:aws:states:us-east-1:1:stateMachine:m",
    }
    assert asl.step_output(step_input, "park", timeout=30) == {
        "run_id": "r",
        "steps": 7,
        "kind": "park",
        "timeout": 30,
    }
    failed = asl.step_output(step_input, "failed", error="E" * 300, cause="c")
    assert (len(failed["error"]), failed["cause"]) == (asl.MAX_ERROR_CHARS, "c")
    for kind, fields in (("park", {}), ("park", {"timeout": 0}), ("rollover", {})):
        with pytest.raises(ValueError):
            asl.step_output(step_input, kind, **fields)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown step kind"):
        asl.step_output(step_input, "later")  # type: ignore[arg-type]


def test_park_timeout_and_rollover_rules() -> None:
    assert asl.park_timeout(None) == asl.PARK_FOREVER
    assert asl.park_timeout(0) == 1  # due timers never make a 0-second park
    assert asl.park_timeout(2.1) == 3  # a timer never fires early
    assert asl.park_timeout(10**9) == asl.PARK_FOREVER
    # Every park must end inside the execution's one-year limit.
    assert asl.ROLLOVER_AGE_SECONDS + asl.PARK_FOREVER < asl.MAX_EXECUTION_SECONDS
    assert asl.ROLLOVER_STEPS * asl.EVENTS_PER_LOOP_BUDGET < asl.MAX_HISTORY_EVENTS
    assert not asl.should_roll_over(asl.ROLLOVER_STEPS - 1, 0)
    assert asl.should_roll_over(asl.ROLLOVER_STEPS, 0)
    assert asl.should_roll_over(1, asl.ROLLOVER_AGE_SECONDS)


def test_execution_names_are_deterministic_and_valid() -> None:
    assert asl.execution_name("order-17") == "order-17--0"
    arn = "arn:aws:states:us-east-1:1:execution:m:" + asl.execution_name("a--1", 4)
    assert asl.next_execution_name(arn) == "a--1--5"
    with pytest.raises(ValueError, match="characters not allowed"):
        asl.execution_name("a b:c")
    with pytest.raises(ValueError, match="at most 80"):
        asl.execution_name("x" * 80)
    with pytest.raises(ValueError, match="not named by"):
        asl.next_execution_name("arn:aws:states:us-east-1:1:execution:m:free-form")
    assert asl.execution_age("2026-01-01T00:00:10Z", 1_767_225_620.0) == 10.0
    assert asl.execution_age("2026-01-01T00:00:10.500000+00:00", 1_767_225_620.0) == 9.5
