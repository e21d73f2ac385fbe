"""Workflows end to end in the harness: the driver's ASL executed by moto's Step Functions
interpreter, the step/wake/activity handlers in-process, the log in moto's DynamoDB, the
activity queue in moto's SQS, durable time on the harness clock."""

from __future__ import annotations

import json

import boto3
import pytest

from runtime.errors import UnitError
from runtime.testing import LocalCloud
from tests.conftest import ROOT

APP = ROOT / "tests" / "apps" / "flows"


@pytest.fixture
def cloud():
    with LocalCloud(APP) as c:
        yield c


def types(cloud, run_id):
    return [e["type"] for e in cloud.history(run_id)]


def test_a_run_with_activities_a_24_hour_sleep_and_a_failed_activity(cloud):
    run_id = cloud.start_workflow("app:sequence", {"n": 5})
    assert cloud.run_workflows() == 1
    assert cloud.result(run_id).status == "running"  # asleep for a day
    cloud.advance_time(24 * 3600)
    result = cloud.result(run_id)
    assert result.status == "completed"
    assert result.result["total"] == 30 and result.result["slept"] == 86400
    assert result.result["err"] == "no stock"
    assert types(cloud, run_id) == [
        "WorkflowStarted",
        "ActivityScheduled",
        "ActivityCompleted",
        "TimerStarted",
        "TimerFired",
        "ActivityScheduled",
        "ActivityCompleted",
        "ActivityScheduled",
        "ActivityFailed",
        "WorkflowCompleted",
    ]


def test_a_signal_reaches_the_run_and_the_timeout_path_also_works(cloud):
    approved = cloud.start_workflow("app:approval", {"wait": "1h"})
    timed_out = cloud.start_workflow("app:approval", {"wait": "1h"})
    cloud.run_workflows()
    cloud.signal(approved, "other", 1)
    cloud.signal(approved, "approve", "ada")
    cloud.run_workflows()
    assert cloud.result(approved).result == {"approved": True, "by": "ada", "noted": ["other"]}
    assert cloud.result(timed_out).status == "running"
    cloud.advance_time(3600)
    assert cloud.result(timed_out).result == {"approved": False, "noted": {}}


def test_children_waited_for_watched_and_failing(cloud):
    run_id = cloud.start_workflow("app:parent", {"n": 4})
    cloud.run_workflows()
    result = cloud.result(run_id)
    assert result.status == "completed", result.error
    assert result.result == {
        "doubled": 8,
        "exit_from_watched": True,
        "watched_result": 200,
        "child_err": "child workflow app:sequence_child: sequence_child.lua:4: negative input -1",
    }
    children = [e for e in cloud.history(run_id) if e["type"] == "ChildStarted"]
    assert len(children) == 3
    assert all(cloud.result(c["run_id"]).status in ("completed", "failed") for c in children)


def test_cancel_lets_the_code_compensate_terminate_does_not(cloud):
    canceled = cloud.start_workflow("app:cancellable", {})
    terminated = cloud.start_workflow("app:cancellable", {})
    cloud.run_workflows()
    cloud.advance_time(2 * 3600)  # one round: the next tick is set from when this one fired
    cloud.cancel_workflow(canceled, "enough")
    assert cloud.terminate_workflow(terminated, "operator") is True
    cloud.run_workflows()
    assert cloud.result(canceled).result == {"canceled": True, "reason": "enough", "undone": 2}
    ended = cloud.result(terminated)
    assert ended.status == "terminated"
    assert ended.error == {"kind": "Canceled", "message": "terminated: operator"}
    assert types(cloud, terminated)[-1] == "WorkflowTerminated"
    assert cloud.terminate_workflow(terminated) is False  # already ended


def test_named_starts_follow_the_conflict_policy(cloud):
    first = cloud.start_workflow("app:approval", {"wait": "1h"}, name="order-1")
    assert (
        cloud.start_workflow("app:approval", {}, name="order-1", conflict="use_existing") == first
    )
    with pytest.raises(UnitError) as err:
        cloud.start_workflow("app:approval", {}, name="order-1")
    assert err.value.kind == "AlreadyExists"
    assert f"workflow name 'order-1' is taken by run {first}" in err.value.message
    second = cloud.start_workflow(
        "app:approval", {"wait": "1h"}, name="order-1", conflict="terminate_existing"
    )
    cloud.run_workflows()
    assert second != first
    assert cloud.result(first).status == "terminated"
    assert cloud.result(second).status == "running"


def test_bad_input_is_refused_with_a_clear_error_and_nothing_is_created(cloud):
    with pytest.raises(UnitError, match="no workflow 'app:nope'"):
        cloud.start_workflow("app:nope", {})
    with pytest.raises(
        UnitError, match=r"no workflow host 'app:other' \(workflow hosts: app:flows\)"
    ):
        cloud.start_workflow("app:sequence", {}, host="app:other")
    with pytest.raises(UnitError, match=r"app:double is a function\.lua, not a workflow\.lua"):
        cloud.start_workflow("app:double", {})
    with pytest.raises(UnitError, match="workflow input"):
        cloud.start_workflow("app:sequence", {"f": object()})
    with pytest.raises(UnitError, match="unknown conflict policy 'maybe'"):
        cloud.start_workflow("app:sequence", {}, name="x", conflict="maybe")
    with pytest.raises(UnitError, match="no workflow run nope"):
        cloud.signal("nope", "approve", 1)
    assert cloud.run_workflows() == 0


def test_a_signal_to_a_finished_run_is_an_error_and_changes_nothing(cloud):
    run_id = cloud.start_workflow("app:approval", {"wait": "1h"})
    cloud.run_workflows()
    cloud.signal(run_id, "approve", "ada")
    cloud.run_workflows()
    before = cloud.history(run_id)
    with pytest.raises(UnitError) as err:
        cloud.signal(run_id, "approve", "bob")
    assert err.value.kind == "Invalid"
    assert err.value.message == f"cannot signal run {run_id}: it has ended (completed)"
    assert cloud.history(run_id) == before


def test_a_workflow_failure_is_the_runs_error(cloud):
    run_id = cloud.start_workflow("app:sequence_child", {"n": -3})
    cloud.run_workflows()
    result = cloud.result(run_id)
    assert result.status == "failed"
    assert result.error["message"] == "sequence_child.lua:4: negative input -3"


@pytest.mark.parametrize("point", ["before_append", "after_append", "after_dispatch"])
def test_a_step_killed_at_each_boundary_is_retried_and_the_run_is_exact(cloud, point):
    """The driver's Retry runs the step again (moto sleeps its 1-second interval)."""
    run_id = cloud.start_workflow("app:loop", {"n": 3})
    cloud.crash_step_at(point, run_id)
    cloud.run_workflows()
    result = cloud.result(run_id)
    assert result.status == "completed"
    assert result.result["total"] == 2 * (1 + 2 + 3)
    history = types(cloud, run_id)
    assert history.count("ActivityScheduled") == 3
    assert history.count("ActivityCompleted") == 3
    assert [e["seq"] for e in cloud.history(run_id)] == list(range(1, len(history) + 1))


def test_a_lost_wake_is_made_up_by_the_timer(cloud):
    """An activity's result lands in the inbox but its wake is lost: the run's next timer
    steps it anyway, and that step takes the result from the inbox."""
    flows = cloud.workflows
    lose = {"on": True}
    original = flows.workflows.notify

    def notify(run_id):
        if lose["on"]:
            return False  # as if SendTaskSuccess never reached Step Functions
        return original(run_id)

    flows.workflows.notify = notify
    run_id = cloud.start_workflow("app:race", {"deadline": "10m"})
    cloud.run_workflows()
    assert cloud.result(run_id).status == "running"
    # The inline one is in the history; the queued one's result waits in the inbox.
    assert types(cloud, run_id).count("ActivityCompleted") == 1
    lose["on"] = False
    cloud.advance_time(600)
    assert cloud.result(run_id).result == ["a=2", "b=4"]  # both results came before the timer


def test_a_redelivered_activity_is_not_run_again_and_counts_once(cloud):
    run_id = cloud.start_workflow("app:queued_sequence", {"n": 5})
    flows = cloud.workflows
    host = flows.hosts["app:flows"]
    flows.settle()
    sqs = boto3.client("sqs", region_name="us-east-1")
    reply = sqs.receive_message(QueueUrl=host.activities.queue_url)
    message = json.loads(reply["Messages"][0]["Body"])
    assert message["key"] == f"{run_id}:2"  # the run and the command's sequence number
    assert host.activity_host.run_activity(message) is True
    assert host.activity_host.run_activity(message) is False  # redelivered: skipped
    cloud.run_workflows()  # the queued copy is delivered too, and skipped
    assert types(cloud, run_id).count("ActivityCompleted") == 1
    assert cloud.result(run_id).status == "running"  # asleep for a day, as it should be


def test_a_signal_sent_between_the_step_and_the_wait_is_not_lost(cloud):
    run_id = cloud.start_workflow("app:approval", {"wait": "1h"})
    cloud.run_workflows()
    flows = cloud.workflows
    log = flows.log
    park = log.park
    sent = []

    def signal_then_park(*args, **kwargs):
        # The signal lands after the step read the inbox and before it stored its token:
        # its poster finds only the old token, already used.
        if not sent:
            cloud.signal(run_id, "approve", "ada")
            sent.append(True)
        return park(*args, **kwargs)

    log.park = signal_then_park
    cloud.signal(run_id, "other", 1)  # wakes the run: the step that parks is the racy one
    cloud.run_workflows()
    assert sent
    # The parking step looked at the inbox after storing its token, and woke the run itself.
    assert cloud.result(run_id).result == {"approved": True, "by": "ada", "noted": ["other"]}


def test_an_activity_that_runs_past_its_timeout_is_retried_then_returns_the_timeout(cloud):
    quick = cloud.start_workflow("app:timeboxed", {"sleep": "500ms"})
    cloud.run_workflows()
    assert cloud.result(quick).result == {"value": "woke after 500ms"}
    slow = cloud.start_workflow("app:timeboxed", {"sleep": "5s"})
    cloud.run_workflows()  # attempt 1 is cut off at its deadline; the retry waits 1 s
    assert cloud.result(slow).status == "running"
    cloud.advance_time(1)
    assert cloud.result(slow).result == {
        "kind": "Timeout",
        "err": "activity app:sleepy did not answer within 1s",
    }
    attempts = [e for e in cloud.history(slow) if e["type"] == "ActivityScheduled"]
    assert [(a["attempt"], a["timeout"]) for a in attempts] == [(1, 1.0), (2, 1.0)]


def test_continue_as_new_keeps_the_run_and_starts_a_fresh_history(cloud):
    run_id = cloud.start_workflow("app:batches", {"left": 7, "per": 3})
    cloud.run_workflows()
    result = cloud.result(run_id)
    assert result.status == "completed"
    assert result.result["total"] == 2 * sum(range(1, 8))
    # Three generations (3, 3 and 1 activities): each replays only its own history ...
    assert result.result["generation"] == 3 and result.result["length"] == 3
    # ... draws its own random ids, and the log keeps every generation, in order.
    ids = result.result["ids"]
    assert len(ids) == 3 == len(set(ids))
    history = cloud.history(run_id)
    assert [e["seq"] for e in history] == list(range(1, len(history) + 1))
    assert [e["type"] for e in history].count("WorkflowContinuedAsNew") == 2
    starts = [e for e in history if e["type"] == "WorkflowStarted"]
    assert [s.get("generation", 1) for s in starts] == [1, 2, 3]
    assert starts[1]["input"] == {"total": 36, "left": 4, "per": 3, "ids": ids[:1]}


def test_signals_the_old_generation_did_not_take_reach_the_new_one(cloud):
    run_id = cloud.start_workflow("app:mailbox", {})
    for topic, word in [("w", "a"), ("w", "b"), ("w", "c"), ("w", "d"), ("stop", "e")]:
        cloud.signal(run_id, topic, word)
    cloud.run_workflows()
    assert cloud.result(run_id).result == {"seen": ["a", "b", "c", "d", "e"], "generation": 3}


def test_a_long_run_rolls_over_to_new_executions_and_finishes_exactly(cloud, monkeypatch):
    from runtime.workflows import asl

    monkeypatch.setattr(asl, "ROLLOVER_PARKS", 3)  # the deployed 1,000, scaled down
    run_id = cloud.start_workflow("app:loop", {"n": 7, "queued": True})
    cloud.run_workflows()
    result = cloud.result(run_id)
    assert result.status == "completed" and result.result["total"] == 2 * sum(range(1, 8))
    history = cloud.history(run_id)
    assert [e["type"] for e in history].count("ActivityScheduled") == 7  # nothing twice
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    machine = cloud.workflows.driver.machines["app:flows"]
    executions = sfn.list_executions(stateMachineArn=machine)["executions"]
    executions = [e for e in executions if e["name"].startswith(run_id)]
    assert len(executions) >= 3  # 7 parks, at most 3 per execution
    for execution in executions:
        assert execution["status"] == "SUCCEEDED"
    ends = [
        sfn.get_execution_history(executionArn=e["executionArn"], reverseOrder=True)["events"]
        for e in executions
    ]
    rolled = [
        h
        for h in ends
        if any(ev.get("stateEnteredEventDetails", {}).get("name") == "RolledOver" for ev in h)
    ]
    assert len(rolled) == len(executions) - 1  # every execution but the last handed over


def test_a_function_starts_a_workflow_with_process_spawn_and_signals_its_address(cloud):
    out = cloud.call("app:starter")
    assert out["refused"].startswith("process.spawn_linked/spawn_monitored of a workflow")
    host, _, run_id = out["address"].rpartition("/")
    assert host == "app:flows"
    cloud.run_workflows()
    assert cloud.result(run_id).result == {"approved": True, "by": "a function", "noted": {}}


def test_values_too_large_for_the_log_are_clear_errors_and_the_run_goes_on(cloud):
    limit = "over the 358400 bytes (350 KB) a workflow event holds"
    run_id = cloud.start_workflow("app:bulky", {"size": 400_000})
    cloud.run_workflows()
    out = cloud.result(run_id).result
    assert out["err"].startswith("the result of activity app:big: 400002 bytes, " + limit)
    assert out["kind"] == "Invalid" and "got" not in out
    assert out["arg_err"].startswith("the arguments of activity app:double: 400004 bytes")
    assert "the message payload: 400002 bytes" in out["send_err"]
    history = cloud.history(run_id)
    # Tried once (no retry can shrink it), and nothing oversized was scheduled or sent.
    assert [e["type"] for e in history].count("ActivityScheduled") == 1
    assert "MessageSent" not in [e["type"] for e in history]

    failed = cloud.start_workflow("app:bulky", {"size": 400_000, "big_result": True})
    cloud.run_workflows()
    result = cloud.result(failed)
    assert result.status == "failed"
    assert result.error["message"].startswith("the workflow's result: 400002 bytes, " + limit)
    waiting = cloud.start_workflow("app:approval", {"wait": "1h"})
    with pytest.raises(UnitError, match="the signal payload: 400002 bytes"):
        cloud.signal(waiting, "t", "s" * 400_000)
    with pytest.raises(UnitError, match="the workflow input: 4000"):
        cloud.start_workflow("app:bulky", {"size": "s" * 400_000})


def test_a_run_whose_step_keeps_failing_is_parked_unchanged_and_resumes_after_a_fix(monkeypatch):
    from runtime.workflows import asl

    monkeypatch.setattr(asl, "STEP_RETRY_MAX_ATTEMPTS", 0)  # give up at once (moto sleeps)
    with LocalCloud(APP) as cloud:
        run_id = cloud.start_workflow("app:loop", {"n": 3, "queued": True})
        cloud.crash_step_at("after_append", run_id)  # the step dies: a bug, a bad deploy
        cloud.run_workflows()
        parked = cloud.result(run_id)
        assert parked.status == "parked"
        assert parked.error["kind"] == "StepCrash"
        assert "killed after its append" in parked.error["message"]
        before = cloud.history(run_id)
        with pytest.raises(UnitError, match="its driver execution is running"):
            cloud.resume_workflow(cloud.start_workflow("app:approval", {"wait": "1h"}))
        cloud.resume_workflow(run_id)  # the fix is deployed: the run goes on from its log
        cloud.run_workflows()
        assert cloud.result(run_id).result["total"] == 2 * (1 + 2 + 3)
        after = cloud.history(run_id)
        assert after[: len(before)] == before  # nothing the failing steps did was lost
        assert [e["type"] for e in after].count("ActivityScheduled") == 3
        with pytest.raises(UnitError, match="it has ended"):
            cloud.resume_workflow(run_id)


def test_an_answer_ahead_of_an_older_open_activity_is_taken_once_and_wakes_nobody(cloud):
    """An activity's answer stays in the inbox once taken (its own spent key); the step reads
    the inbox from the oldest open activity on, so the later answer it took is read again
    until the older one comes, and it must neither count twice nor wake the run again."""
    run_id = cloud.start_workflow("app:out_of_order", {"a": 1, "b": 2})
    flows = cloud.workflows
    host = flows.hosts["app:flows"]
    flows.settle()
    sqs = boto3.client("sqs", region_name="us-east-1")
    messages = []
    while len(messages) < 2:
        reply = sqs.receive_message(QueueUrl=host.activities.queue_url, MaxNumberOfMessages=10)
        messages += [json.loads(m["Body"]) for m in reply.get("Messages", [])]
    first, second = sorted(messages, key=lambda m: int(m["seq"]))
    stats = host.host.stepper.stats
    assert host.activity_host.run_activity(second) is True
    flows.settle()
    steps = stats.steps
    assert host.activity_host.run_activity(second) is False  # redelivered: not run again
    flows.settle()
    assert stats.steps == steps + 1  # its wake: one step, which found nothing new
    assert types(cloud, run_id).count("ActivityCompleted") == 1
    assert host.activity_host.run_activity(first) is True
    flows.settle()
    cloud.advance_time(60)
    cloud.run_workflows()  # the queued copies are delivered too, and skipped
    assert cloud.result(run_id).result == {"a": 2, "b": 4}
    assert types(cloud, run_id).count("ActivityCompleted") == 2
