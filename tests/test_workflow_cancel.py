"""Cancel means cancel: a canceled activity tries no more, and a timer the code gave up on
(stopped, or a ``time.after`` that lost a select and is no longer reachable) is not what the
run waits for. End to end in the harness, against the log (the step's next timer), and as
replays of the histories, old ones included."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from runtime import manifest
from runtime.aws.dynamodb import create_table
from runtime.clock import ManualClock
from runtime.durable import events as ev
from runtime.durable.events import Event
from runtime.durable.replay import Replay
from runtime.engine import Engine
from runtime.inspection import Inspector, pending_commands
from runtime.processes.local import TABLE_NAME
from runtime.testing import REGION, LocalCloud
from runtime.workflows.log import EventLog
from runtime.workflows.step import WorkflowStepper
from tests.conftest import ROOT

APP = ROOT / "tests" / "apps" / "flows"
START = 1_700_000_000.0


@pytest.fixture
def cloud():
    with LocalCloud(APP) as c:
        yield c


@pytest.fixture
def world(aws_credentials):
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE_NAME)
        clock = ManualClock(START)
        engine = Engine(manifest.load_app(APP), clock=clock)
        yield WorkflowStepper(engine, EventLog(client, TABLE_NAME), clock), engine
        engine.close()


def inspector(cloud: LocalCloud) -> Inspector:
    out = cloud.outputs()
    return Inspector(
        boto3.client("dynamodb", region_name=REGION),
        out["ProcessTableName"],
        machines=json.loads(out["WorkflowMachines"]),
    )


def attempts_run(cloud: LocalCloud) -> list[tuple[float, int]]:
    """(when, attempt) of every activity attempt the activity Lambda runs from now on: the
    function's side effects, whatever the history says."""
    host = cloud.workflows.hosts["app:flows"].activity_host
    seen: list[tuple[float, int]] = []
    original = host.run_activity

    def counting(message):
        seen.append((cloud.clock.now(), int(message.get("attempt", 1))))
        return original(message)

    host.run_activity = counting
    return seen


def brief(history):
    return [(e["type"], e.get("cmd")) for e in history if e["type"] != "WorkflowStarted"]


def replayed(registry, entry, run_id, history, now):
    """One step of a fresh engine that never saw the run, over ``history`` (event dicts)."""
    events = [Event.from_dict(e) for e in history]
    engine = Engine(registry, clock=ManualClock(now))
    try:
        return Replay(engine, entry, run_id, events).run(now)
    finally:
        engine.close()


# -- a canceled activity ---------------------------------------------------------------------


def test_a_canceled_activity_runs_no_attempt_after_the_cancel(cloud):
    """Five attempts 10 s apart of a function that always fails; the future is canceled at
    5 s, while the retry timer waits: nothing runs after, the run waits for nothing but its
    signal, and the code saw CANCELED."""
    runs = attempts_run(cloud)
    view = inspector(cloud)
    t0 = cloud.clock.now()
    run_id = cloud.start_workflow("app:abandon", {"give_up_after": "5s"})
    cloud.run_workflows()
    (retry,) = [p for p in view.pending(run_id) if p.retry_of == 1]  # attempt 1 failed
    assert retry.fire_at == pytest.approx(t0 + 10)
    cloud.advance_time(5)  # the cancel
    assert [p.to_dict() for p in view.pending(run_id)] == []  # the retry timer is dropped
    before = cloud.history(run_id)
    assert brief(before)[-2:] == [("TimerFired", 2), ("ActivityCanceled", 3)]
    cloud.advance_time(3600)  # every retry would have been due
    assert runs == [(t0, 1)]
    assert cloud.history(run_id) == before  # no attempt, no wake
    cloud.signal(run_id, "done", "bye")
    cloud.run_workflows()
    assert cloud.result(run_id).result == {"kind": "Canceled", "canceled": True, "word": "bye"}
    history = cloud.history(run_id)
    assert [e["type"] for e in history].count("ActivityScheduled") == 1
    # Replayed by an engine that never saw it: the same commands and the same result.
    step = replayed(cloud.registry, "app:abandon", run_id, history[:-1], history[-1]["time"])
    assert [e.type for e in step.new_events] == ["WorkflowCompleted"]
    assert step.result == cloud.result(run_id).result


def test_a_canceled_attempt_in_flight_is_not_waited_for_and_its_late_answer_is_dropped(world):
    stepper, engine = world
    run_id = stepper.start("app:abandon", {"give_up_after": "5s"})
    out = stepper.step(run_id)
    (attempt,) = out.activities  # sent, and not answered before the cancel
    assert out.timeout == 5.0
    engine.clock.advance(5)
    out = stepper.step(run_id)
    assert [(e.type, e.cmd) for e in out.events] == [
        (ev.TIMER_FIRED, 2),
        (ev.ACTIVITY_CANCELED, attempt.cmd),
    ]
    assert (out.kind, out.timeout, out.activities) == ("park", None, [])  # the signal only
    # The attempt answers after all (best effort: it was already running): dropped.
    error = {"kind": "Timeout", "message": "upstream timed out"}
    stepper.log.post(run_id, ev.ACTIVITY_FAILED, {"cmd": attempt.cmd, "error": error}, START)
    out = stepper.step(run_id)
    assert (out.kind, out.timeout, out.events, out.activities) == ("park", None, [], [])
    stepper.forget(run_id)  # the next step replays in full
    stepper.signal(run_id, "done", "bye")
    out = stepper.step(run_id)
    assert out.kind == "done" and out.result["kind"] == "Canceled"
    types = [e.type for e in stepper.log.load(run_id)]
    assert types.count(ev.ACTIVITY_SCHEDULED) == 1 and ev.ACTIVITY_FAILED not in types


def test_a_future_canceled_before_its_attempt_was_recorded_sends_nothing(world, make_app):
    app = make_app(
        (APP / "_index.yaml").read_text()
        + "  - name: hasty\n    kind: workflow.lua\n    source: file://hasty.lua\n"
        "    modules: [funcs]\n",
        {
            "hasty.lua": """
local funcs = require("funcs")
local function main()
  local f = funcs.async("app:flaky", 1000000)
  f:cancel()
  return { value = funcs.call("app:double", 21), canceled = f:is_canceled() }
end
return { main = main }
""",
            **{p.name: p.read_text() for p in APP.glob("*.lua")},
        },
    )
    engine = Engine(manifest.load_app(app), clock=ManualClock(START))
    try:
        history = [Event(ev.WORKFLOW_STARTED, START, {"input": None}, seq=1)]
        step = Replay(engine, "app:hasty", "run-1", history).run(START)
        # The canceled call's command (#1) is never recorded: nothing to send or wait for.
        assert [(e.type, e.cmd, e.fields.get("id")) for e in step.new_events] == [
            (ev.ACTIVITY_SCHEDULED, 2, "app:double")
        ]
        assert step.next_timer is None
    finally:
        engine.close()


def test_a_history_recorded_before_cancels_were_recorded_replays_and_then_stops(cloud):
    """Before the fix a canceled activity went on retrying: such a history (attempt 2 ran
    after the cancel, attempt 3 waits on its retry timer) replays with no non-determinism, and
    the step that replays it cancels what the activity now waits on."""
    t = cloud.clock.now()
    error = {"kind": "Timeout", "message": "upstream timed out"}
    old = [
        {"seq": 1, "type": "WorkflowStarted", "time": t, "input": {"give_up_after": "5s"}},
        {
            "seq": 2,
            "type": "ActivityScheduled",
            "time": t,
            "cmd": 1,
            "id": "app:flaky",
            "args": [1000000],
            "attempt": 1,
        },
        {"seq": 3, "type": "TimerStarted", "time": t, "cmd": 2, "fire_at": t + 5},
        {"seq": 4, "type": "ActivityFailed", "time": t, "cmd": 1, "error": error},
        {"seq": 5, "type": "TimerStarted", "time": t, "cmd": 3, "fire_at": t + 10, "retry_of": 1},
        {"seq": 6, "type": "TimerFired", "time": t + 5, "cmd": 2},
        {"seq": 7, "type": "TimerFired", "time": t + 10, "cmd": 3},
        {
            "seq": 8,
            "type": "ActivityScheduled",
            "time": t + 10,
            "cmd": 4,
            "id": "app:flaky",
            "args": [1000000],
            "attempt": 2,
        },
        {"seq": 9, "type": "ActivityFailed", "time": t + 10, "cmd": 4, "error": error},
        {"seq": 10, "type": "TimerStarted", "time": t + 10, "cmd": 5, "fire_at": t + 20},
    ]
    old[-1]["retry_of"] = 4
    step = replayed(cloud.registry, "app:abandon", "run-old", old, t + 11)
    assert [(e.type, e.cmd) for e in step.new_events] == [(ev.ACTIVITY_CANCELED, 5)]
    assert (step.status, step.next_timer, step.new_activities) == ("running", None, [])
    # With its cancel recorded the history replays to the same place and records nothing.
    again = [*old, {"seq": 11, "type": "ActivityCanceled", "time": t + 11, "cmd": 5}]
    step = replayed(cloud.registry, "app:abandon", "run-old", again, t + 12)
    assert (step.new_events, step.next_timer) == ([], None)


# -- timers nobody waits for -----------------------------------------------------------------


def test_a_time_after_that_lost_a_select_and_is_unreachable_is_dropped(cloud):
    view = inspector(cloud)
    run_id = cloud.start_workflow("app:lost_timer", {})
    cloud.run_workflows()
    (timer,) = view.pending(run_id)
    assert timer.kind == "timer"
    cloud.signal(run_id, "go", "yes")  # the signal wins the select
    cloud.run_workflows()
    assert view.pending(run_id) == []
    history = cloud.history(run_id)
    assert [(e["type"], e.get("cmd"), e.get("reason")) for e in history][-1] == (
        "TimerCanceled",
        timer.cmd,
        "unreachable",
    )
    cloud.advance_time(2 * 3600)
    assert cloud.history(run_id) == history  # the hour passed: no wake, no TimerFired
    cloud.signal(run_id, "done", "bye")
    cloud.run_workflows()
    result = cloud.result(run_id).result
    assert result == {"first": "yes", "word": "bye"}
    history = cloud.history(run_id)
    step = replayed(cloud.registry, "app:lost_timer", run_id, history[:-1], history[-1]["time"])
    assert [e.type for e in step.new_events] == ["WorkflowCompleted"]
    assert step.result == result


def test_a_timer_the_code_still_holds_stays_live_and_fires(cloud):
    view = inspector(cloud)
    run_id = cloud.start_workflow("app:lost_timer", {"keep": True})
    cloud.run_workflows()
    cloud.signal(run_id, "go", "yes")
    cloud.run_workflows()
    (timer,) = view.pending(run_id)  # lost the select, but the code selects on it again
    assert timer.kind == "timer"
    assert "TimerCanceled" not in [e["type"] for e in cloud.history(run_id)]
    cloud.advance_time(3600)
    assert cloud.result(run_id).result == {"first": "yes", "word": "timeout"}


def test_a_stopped_timer_is_dropped(cloud):
    view = inspector(cloud)
    run_id = cloud.start_workflow("app:lost_timer", {"stop": True})
    cloud.run_workflows()
    cloud.signal(run_id, "go", "yes")
    cloud.run_workflows()
    assert view.pending(run_id) == []
    canceled = [e for e in cloud.history(run_id) if e["type"] == "TimerCanceled"]
    assert [(e["cmd"], e["reason"]) for e in canceled] == [(1, "stopped")]
    before = cloud.history(run_id)
    cloud.advance_time(2 * 3600)
    assert cloud.history(run_id) == before
    cloud.signal(run_id, "done", "bye")
    cloud.run_workflows()
    assert cloud.result(run_id).result == {"first": "yes", "word": "bye"}


def test_the_steps_next_timer_leaves_out_a_lost_select_timer(world):
    stepper, _engine = world
    run_id = stepper.start("app:lost_timer", {})
    assert stepper.step(run_id).timeout == 3600.0
    stepper.signal(run_id, "go", "yes")
    out = stepper.step(run_id)
    assert (out.kind, out.timeout) == ("park", None)
    assert [e.type for e in out.events] == [ev.SIGNAL_RECEIVED, ev.TIMER_CANCELED]
    # A cold replay of that history honours the recorded drop and decides nothing new.
    stepper.forget(run_id)
    out = stepper.step(run_id)
    assert (out.kind, out.timeout, out.events) == ("park", None, [])


def test_a_lost_timer_in_an_old_history_is_dropped_at_the_next_step(cloud):
    """Histories from before the drop was recorded: one where the run still waits for the
    lost timer, and one where it woke for it (the firing delivered nothing)."""
    t = cloud.clock.now()
    old = [
        {"seq": 1, "type": "WorkflowStarted", "time": t, "input": {}},
        {"seq": 2, "type": "TimerStarted", "time": t, "cmd": 1, "fire_at": t + 3600},
        {"seq": 3, "type": "SignalReceived", "time": t, "topic": "go", "payload": "yes"},
    ]
    step = replayed(cloud.registry, "app:lost_timer", "run-old", old, t + 1)
    assert [(e.type, e.cmd, e.fields.get("reason")) for e in step.new_events] == [
        (ev.TIMER_CANCELED, 1, "unreachable")
    ]
    assert step.next_timer is None
    woke = [*old, {"seq": 4, "type": "TimerFired", "time": t + 3600, "cmd": 1}]
    step = replayed(cloud.registry, "app:lost_timer", "run-old", woke, t + 3601)
    assert (step.new_events, step.next_timer) == ([], None)


def test_a_loop_whose_signal_keeps_winning_waits_only_for_its_current_timer(cloud):
    view = inspector(cloud)
    run_id = cloud.start_workflow("app:lost_timer", {"loop": True})
    cloud.run_workflows()
    for word in ("a", "b", "c"):
        cloud.advance_time(600)
        cloud.signal(run_id, "go", word)
        cloud.run_workflows()
    (timer,) = view.pending(run_id)  # the select the code is blocked in holds this one
    assert timer.fire_at == pytest.approx(cloud.clock.now() + 3600)
    history = cloud.history(run_id)
    dropped = [e["cmd"] for e in history if e["type"] == "TimerCanceled"]
    started = [e["cmd"] for e in history if e["type"] == "TimerStarted"]
    assert dropped == started[:3] and timer.cmd == started[3]
    cloud.advance_time(3600)
    assert cloud.result(run_id).result == {"seen": ["a", "b", "c"]}
    assert [e["type"] for e in cloud.history(run_id)].count("TimerFired") == 1


def test_pending_commands_leave_out_canceled_activities_and_dropped_timers():
    history = [
        {"seq": 1, "type": "WorkflowStarted", "time": 1.0, "input": None},
        {"seq": 2, "type": "ActivityScheduled", "time": 1.0, "cmd": 1, "id": "app:a", "attempt": 1},
        {"seq": 3, "type": "ActivityFailed", "time": 2.0, "cmd": 1},
        {"seq": 4, "type": "TimerStarted", "time": 2.0, "cmd": 2, "fire_at": 3.0, "retry_of": 1},
        {"seq": 5, "type": "ActivityCanceled", "time": 2.5, "cmd": 2, "id": "app:a"},
        {"seq": 6, "type": "ActivityScheduled", "time": 2.5, "cmd": 3, "id": "app:b", "attempt": 1},
        {"seq": 7, "type": "ActivityCanceled", "time": 2.5, "cmd": 3, "id": "app:b"},
        {"seq": 8, "type": "TimerStarted", "time": 2.5, "cmd": 4, "fire_at": 9.0},
        {"seq": 9, "type": "TimerCanceled", "time": 2.5, "cmd": 4, "reason": "unreachable"},
        {"seq": 10, "type": "TimerStarted", "time": 2.5, "cmd": 5, "fire_at": 9.0},
    ]
    assert [p.cmd for p in pending_commands(history)] == [5]


def test_a_canceled_inline_activity_runs_no_attempt_after_the_cancel(cloud):
    """The same give-up, the attempts run inline in the step: the cancel drops the retry
    timer, and no step runs another attempt."""
    stepper = cloud.workflows.hosts["app:flows"].host.stepper
    run_id = cloud.start_workflow("app:abandon", {"give_up_after": "5s", "inline": True})
    cloud.run_workflows()
    assert stepper.inline.attempts == 1
    cloud.advance_time(5)
    assert brief(cloud.history(run_id))[-1] == ("ActivityCanceled", 3)
    cloud.advance_time(3600)
    assert stepper.inline.attempts == 1
    cloud.signal(run_id, "done", "bye")
    cloud.run_workflows()
    assert cloud.result(run_id).result == {"kind": "Canceled", "canceled": True, "word": "bye"}
    scheduled = [e for e in cloud.history(run_id) if e["type"] == "ActivityScheduled"]
    assert [e.get("inline") for e in scheduled] == [True]
