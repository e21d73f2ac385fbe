"""runtime.inspection: read views of processes and runs, over the harness's moto resources."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from runtime.errors import NOT_FOUND, UnitError
from runtime.inspection import Inspector, pending_commands, readable_error
from runtime.testing import REGION, LocalCloud
from tests.conftest import EXAMPLES, ROOT

ACTORS = ROOT / "tests" / "apps" / "actors"
FLOWS = ROOT / "tests" / "apps" / "flows"
HOST = "app:workers"


def inspector(cloud: LocalCloud) -> Inspector:
    """An inspector built from the cloud's outputs, as the CLI builds one from a stack's."""
    out = cloud.outputs()
    maps = {k: json.loads(v) for k, v in out.items() if k != "ProcessTableName"}
    return Inspector(
        boto3.client("dynamodb", region_name=REGION),
        out["ProcessTableName"],
        sqs=boto3.client("sqs", region_name=REGION),
        sfn=boto3.client("stepfunctions", region_name=REGION),
        queues=maps.get("ProcessQueues"),
        delay_queues=maps.get("ProcessDelayQueues"),
        dead_letter_queues=maps.get("ProcessDeadLetterQueues"),
        machines=maps.get("WorkflowMachines"),
    )


@pytest.fixture
def actors():
    with LocalCloud(ACTORS, auto_start=False) as cloud:
        yield cloud, inspector(cloud)


@pytest.fixture
def flows():
    with LocalCloud(FLOWS) as cloud:
        yield cloud, inspector(cloud)


def test_processes_are_listed_with_names_status_and_queue_depth(actors):
    cloud, view = actors
    first_b = cloud.spawn("app:counter", HOST, 2)
    a = cloud.spawn("app:counter", HOST, 1, name="first")
    assert view.processes() == []  # spawned, not yet started: only queued
    assert view.queue_depths()[0].to_dict() == {
        "host": HOST,
        "queued": 2,
        "in_flight": 0,
        "delayed": 0,
        "dead_letters": 0,
    }
    cloud.drain()
    cloud.clock.advance(1)
    b = cloud.spawn("app:counter", HOST, 2)  # started a second after the first
    cloud.drain()
    cloud.send(b, "stop")
    cloud.drain()
    listed = view.processes()
    # Oldest first (ties by pid).
    assert [(p.pid, p.entry, p.host, p.status, p.names) for p in listed] == [
        *sorted(
            [
                (a, "app:counter", HOST, "running", ["first"]),
                (first_b, "app:counter", HOST, "running", []),
            ]
        ),
        (b, "app:counter", HOST, "exited", []),
    ]
    assert [p.pid for p in view.processes(status="exited")] == [b]
    assert view.queue_depths()[0].queued == 0


def test_one_process_in_full_by_pid_or_name(actors):
    cloud, view = actors
    parent = cloud.spawn("app:parent", HOST, "monitored", name="boss")
    cloud.drain()
    detail = view.process("boss")
    assert detail.pid == parent and detail.status == "running"
    child = detail.state["child"]
    assert view.process(child).monitors == [parent]
    cloud.send(child, "stop")
    cloud.drain()
    stopped = view.process(child)
    assert (stopped.status, stopped.result, stopped.error) == ("exited", 0, None)
    cloud.send(parent, "kill_child")  # to the dead child: dropped
    crashing = cloud.spawn("app:counter", HOST, 3)
    cloud.drain()
    cloud.send(crashing, "boom")
    cloud.drain()
    crashed = view.process(crashing)
    assert crashed.status == "crashed" and "boom at 3" in crashed.error["message"]


def test_unknown_pids_and_names(actors):
    _, view = actors
    with pytest.raises(UnitError) as exc:
        view.process("app:workers/nope")
    assert (exc.value.kind, exc.value.message) == (NOT_FOUND, "no process app:workers/nope")
    with pytest.raises(UnitError) as exc:
        view.process("nobody")
    assert exc.value.message == "no process is named 'nobody'"


def test_runs_are_listed_and_filtered_and_described(flows):
    cloud, view = flows
    done = cloud.start_workflow("app:libflow", 4)
    cloud.clock.advance(1)
    waiting = cloud.start_workflow("app:approval", {"wait": "1h"})
    cloud.run_workflows()
    listed = view.runs()
    assert [(r.run_id, r.workflow, r.host, r.status) for r in listed] == [
        (waiting, "app:approval", "app:flows", "running"),
        (done, "app:libflow", "app:flows", "completed"),
    ]
    assert listed[1].closed is not None and listed[0].closed is None
    assert [r.run_id for r in view.runs(status="running")] == [waiting]
    assert [r.run_id for r in view.runs(workflow="app:libflow")] == [done]
    assert view.run(done)["result"] == 8
    assert view.history(done)[0]["type"] == "WorkflowStarted"
    assert view.pending(done) == []
    assert view.parked_error(waiting, "app:flows") is None  # its driver is parked, not failed


def test_pending_timers_and_activities_come_from_the_history(flows):
    cloud, view = flows
    run = cloud.start_workflow("app:approval", {"wait": "1h"})
    cloud.run_workflows()
    (timer,) = view.pending(run)
    assert (timer.kind, timer.target, timer.cmd) == ("timer", "timer", 1)
    assert timer.fire_at == pytest.approx(cloud.clock.now() + 3600)
    cloud.advance_time(3600)
    assert view.pending(run) == []  # fired, and the run ended


def test_pending_commands_of_a_history():
    history = [
        {"seq": 1, "type": "WorkflowStarted", "time": 1.0, "input": None},
        {"seq": 2, "type": "ActivityScheduled", "time": 1.0, "cmd": 1, "id": "app:a", "attempt": 1},
        {"seq": 3, "type": "TimerStarted", "time": 1.0, "cmd": 2, "fire_at": 61.0},
        {"seq": 4, "type": "ChildStarted", "time": 1.0, "cmd": 3, "id": "app:c", "run_id": "k"},
        {"seq": 5, "type": "MessageSent", "time": 1.0, "cmd": 4, "to": "x/y", "topic": "t"},
        {"seq": 6, "type": "ActivityFailed", "time": 2.0, "cmd": 1},
        {"seq": 7, "type": "TimerStarted", "time": 2.0, "cmd": 5, "fire_at": 3.0, "retry_of": 1},
    ]
    assert [p.to_dict() for p in pending_commands(history)] == [
        {"kind": "timer", "cmd": 2, "seq": 3, "since": 1.0, "target": "timer", "fire_at": 61.0},
        {"kind": "child", "cmd": 3, "seq": 4, "since": 1.0, "target": "app:c", "child_run": "k"},
        {
            "kind": "timer",
            "cmd": 5,
            "seq": 7,
            "since": 2.0,
            "target": "timer",
            "fire_at": 3.0,
            "retry_of": 1,
        },
    ]
    continued = [
        *history,
        {"seq": 8, "type": "WorkflowContinuedAsNew", "time": 4.0},
        {"seq": 9, "type": "WorkflowStarted", "time": 4.0, "input": 1},
        {"seq": 10, "type": "TimerStarted", "time": 4.0, "cmd": 1, "fire_at": 9.0},
    ]
    assert [(p.cmd, p.seq) for p in pending_commands(continued)] == [(1, 10)]
    ended = [*history, {"seq": 8, "type": "WorkflowTerminated", "time": 4.0, "reason": "x"}]
    assert pending_commands(ended) == []


def test_unknown_runs(flows):
    _, view = flows
    for read in (view.run, view.history, view.pending):
        with pytest.raises(UnitError) as exc:
            read("nope")
        assert (exc.value.kind, exc.value.message) == (NOT_FOUND, "no workflow run nope")


def failed_driver(sfn, run_id: str) -> tuple[str, str]:
    """A driver state machine whose execution for ``run_id`` has failed the way a step failing
    past the driver's retries fails it; returns the machine's and the execution's ARNs."""
    failing = {
        "StartAt": "Step",
        "States": {"Step": {"Type": "Fail", "Error": "NonDeterminism", "Cause": "line 3: x"}},
    }
    machine = sfn.create_state_machine(
        name=f"failing-{run_id}"[:80],
        definition=json.dumps(failing),
        roleArn="arn:aws:iam::123456789012:role/units-driver",
    )["stateMachineArn"]
    arn = sfn.start_execution(stateMachineArn=machine, name=f"{run_id}--0")["executionArn"]
    # moto's interpreter runs the execution in its own thread; a Fail state ends it at once.
    stop = time.monotonic() + 10.0
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < stop, "moto did not end the execution"
    return machine, arn


def test_the_error_of_a_parked_run_is_its_failed_driver_execution(flows):
    _, view = flows
    sfn = boto3.client("stepfunctions", region_name=REGION)
    assert view.parked_error("run-1", "app:flows") is None  # no execution at all
    machine, arn = failed_driver(sfn, "run-1")
    view.machines["app:other"] = machine
    parked = view.parked_error("run-1", "app:other")
    assert parked is not None
    assert parked.to_dict() == {
        "execution_arn": arn,
        "error": "NonDeterminism",
        "cause": "line 3: x",
        "status": "FAILED",
        "message": "NonDeterminism: line 3: x",
    }
    assert view.parked_error("run-1", "app:unknown") is None


@pytest.mark.parametrize(
    ("error", "cause", "shown"),
    [
        # A step that raised a UnitError: Lambda's JSON, whose message leads with the kind.
        (
            "UnitError",
            json.dumps(
                {
                    "errorType": "UnitError",
                    "errorMessage": "Internal: order.lua:3: boom\nstack traceback:\n  x",
                    "stackTrace": ["  File ..."],
                }
            ),
            "Internal: order.lua:3: boom stack traceback: x",
        ),
        (
            "StepCrash",
            '{"errorType": "StepCrash", "errorMessage": "killed after its append"}',
            "StepCrash: killed after its append",
        ),
        ("NonDeterminism", "line 3: x", "NonDeterminism: line 3: x"),
        ("States.Timeout", "", "States.Timeout"),
    ],
)
def test_a_parked_runs_error_reads_as_kind_and_message(error, cause, shown):
    assert readable_error(error, cause) == shown


def test_the_orders_example_waits_on_its_child_whose_timer_is_pending():
    with LocalCloud(EXAMPLES / "orders") as cloud:
        view = inspector(cloud)
        reply = cloud.http("POST", "/orders", body={"id": "o1", "items": [1, 2], "total": 120})
        order = reply.body["workflow"].rsplit("/", 1)[1]
        cloud.run_workflows()
        runs = {r.workflow: r for r in view.runs(status="running")}
        assert set(runs) == {"orders:order", "orders:follow_up"}
        child = runs["orders:follow_up"]
        assert (runs["orders:order"].run_id, child.parent) == (order, order)
        assert [(p.kind, p.target) for p in view.pending(order)] == [("child", "orders:follow_up")]
        assert [p.kind for p in view.pending(child.run_id)] == ["timer"]
