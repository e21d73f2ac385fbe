"""Steps of runs against the DynamoDB log (moto): appends, inbox, races, redelivery."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from runtime import manifest
from runtime.aws.dynamodb import create_table
from runtime.clock import ManualClock
from runtime.durable import events as ev
from runtime.durable.replay import Replay
from runtime.engine import Engine
from runtime.errors import UnitError
from runtime.processes.local import TABLE_NAME
from runtime.workflows.log import CHUNK_BYTES, EventLog, LogConflict
from runtime.workflows.step import WorkflowStepper
from tests.conftest import ROOT

APP = ROOT / "tests" / "apps" / "flows"


@pytest.fixture
def world(aws_credentials):
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE_NAME)
        clock = ManualClock(1_700_000_000.0)
        engine = Engine(manifest.load_app(APP), clock=clock)
        log = EventLog(client, TABLE_NAME)
        # Queued activities, run by hand below: what the log does with each step. Inline
        # attempts have their own tests at the end.
        yield WorkflowStepper(engine, log, clock, inline=False), log, engine
        engine.close()


def run_activities(log, engine, run_id, scheduled, *, times=1):
    for event in scheduled:
        try:
            outcome = (
                ev.ACTIVITY_COMPLETED,
                {"cmd": event.cmd, "value": engine.call(event.fields["id"], event.fields["args"])},
            )
        except UnitError as exc:
            outcome = (ev.ACTIVITY_FAILED, {"cmd": event.cmd, "error": exc.to_dict()})
        for _ in range(times):  # times > 1: the activity was delivered more than once
            log.post(run_id, outcome[0], outcome[1], engine.clock.now())


def drive(stepper, log, engine, run_id, *, times=1, rounds=50):
    for _ in range(rounds):
        out = stepper.step(run_id)
        if out.kind != "park":
            return out
        run_activities(log, engine, run_id, out.activities, times=times)
        if not out.activities and out.timeout is not None:
            engine.clock.advance(out.timeout)
    raise AssertionError("did not finish")


def test_a_run_from_start_to_end_in_the_log(world):
    stepper, log, engine = world
    run_id = stepper.start("app:sequence", {"n": 5})
    out = drive(stepper, log, engine, run_id)
    assert out.kind == "done"
    history = log.load(run_id)
    assert [e.seq for e in history] == list(range(1, len(history) + 1))
    assert history[-1].type == ev.WORKFLOW_COMPLETED
    info = log.describe(run_id)
    assert info["status"] == "completed" and info["result"]["total"] == 30
    assert log.inbox(run_id) == []
    assert stepper.step(run_id).kind == "done"  # stepping an ended run changes nothing


def test_a_redelivered_activity_result_is_recorded_once(world):
    stepper, log, engine = world
    run_id = stepper.start("app:sequence", {"n": 1})
    drive(stepper, log, engine, run_id, times=2)
    history = log.load(run_id)
    outcomes = [e.cmd for e in history if e.type in ev.OUTCOMES]
    assert len(outcomes) == len(set(outcomes))
    assert log.describe(run_id)["result"]["total"] == 6


def test_two_steps_of_one_run_race_and_one_loses(world):
    stepper, log, engine = world
    run_id = stepper.start("app:sequence", {"n": 2})
    original = log.load
    raced = []

    def load_then_lose(rid, after=0):
        history = original(rid, after)
        if not raced:
            log.load = original
            raced.append(stepper.step(rid))  # the other step gets in between load and append
        return history

    log.load = load_then_lose
    with pytest.raises(LogConflict):
        stepper.step(run_id)
    log.load = original
    history = log.load(run_id)
    assert [e.type for e in history] == [ev.WORKFLOW_STARTED, ev.ACTIVITY_SCHEDULED]
    # The loser steps again from the winner's history and the run goes on exactly once.
    out = stepper.step(run_id)
    assert out.kind == "park" and out.activities == []  # nothing scheduled twice
    run_activities(log, engine, run_id, raced[0].activities)  # the winner's dispatch
    assert drive(stepper, log, engine, run_id).kind == "done"
    assert log.describe(run_id)["result"]["total"] == 12


def test_start_refuses_unknown_workflows_taken_ids_and_bad_input(world):
    stepper, _, _ = world
    with pytest.raises(UnitError) as exc:
        stepper.start("app:nope", {})
    assert exc.value.kind == "NotFound"
    with pytest.raises(UnitError) as exc:
        stepper.start("app:double", {})
    assert "not a workflow.lua" in exc.value.message
    stepper.start("app:sequence", {"n": 1}, run_id="order-1")
    with pytest.raises(UnitError) as exc:
        stepper.start("app:sequence", {"n": 1}, run_id="order-1")
    assert exc.value.kind == "AlreadyExists"
    with pytest.raises(UnitError) as exc:
        stepper.start("app:sequence", {"f": float("nan")})
    assert exc.value.kind == "Invalid"


def test_signals_reach_listen_and_inbox_in_order(world):
    stepper, log, _engine = world
    run_id = stepper.start("app:approval", {"wait": "1h"})
    assert stepper.step(run_id).kind == "park"
    stepper.signal(run_id, "note", "first")
    stepper.signal(run_id, "approve", "ada")
    out = stepper.step(run_id)
    assert out.kind == "done"
    assert log.describe(run_id)["result"] == {"approved": True, "by": "ada", "noted": ["note"]}
    with pytest.raises(UnitError) as exc:
        stepper.signal(run_id, "approve", "late")
    assert "has ended (completed): no signals" in exc.value.message


def test_without_a_signal_the_durable_timeout_wins(world):
    stepper, log, engine = world
    run_id = stepper.start("app:approval", {"wait": "1h"})
    out = stepper.step(run_id)
    assert (out.kind, out.timeout) == ("park", 3600.0)
    engine.clock.advance(3600)
    assert stepper.step(run_id).kind == "done"
    assert log.describe(run_id)["result"] == {"approved": False, "noted": {}}


def test_a_signal_that_came_before_anyone_listened_waits(world):
    stepper, log, _engine = world
    run_id = stepper.start("app:approval", {"wait": "1h"})
    stepper.signal(run_id, "approve", "early")  # before the first step ran any code
    assert stepper.step(run_id).kind == "done"
    assert log.describe(run_id)["result"]["by"] == "early"


def grow_history(engine, workflow, input_, run_id="long"):
    """Run ``workflow`` to its end in memory (a kept replay, activities answered at once)."""
    now = engine.clock.now()
    history = [ev.Event(ev.WORKFLOW_STARTED, now, {"input": input_}, seq=1)]
    replay = Replay(engine, workflow, run_id, history)
    pending = []
    while True:
        result = replay.resume(pending, now)
        if result.status != "running":
            replay.close()
            return replay.history
        pending = [
            ev.Event(
                ev.ACTIVITY_COMPLETED,
                now,
                {"cmd": a.cmd, "value": engine.call(a.fields["id"], a.fields["args"])},
            )
            for a in result.new_activities
        ]


def test_a_1000_event_history_replays_after_a_cold_start_to_the_same_commands(world):
    _, _, engine = world
    history = grow_history(engine, "app:loop", {"n": 499})
    assert len(history) == 1000 and history[-1].type == ev.WORKFLOW_COMPLETED
    # A cold container: nothing kept; replaying the whole history issues exactly the recorded
    # commands (a mismatch would raise NonDeterminism) and ends the same way.
    result = Replay(engine, "app:loop", "long", history[:-1]).run(history[-1].time)
    assert [e.type for e in result.new_events] == [ev.WORKFLOW_COMPLETED]
    assert result.result == history[-1].fields["result"]


def test_the_sticky_cache_changes_cost_not_outcome(world):
    stepper, log, engine = world
    cold = WorkflowStepper(engine, log, engine.clock, sticky_runs=0, inline=False)
    warm_run = stepper.start("app:loop", {"n": 30})
    cold_run = cold.start("app:loop", {"n": 30}, run_id="cold-" + warm_run)
    warm_out = drive(stepper, log, engine, warm_run)
    cold_out = drive(cold, log, engine, cold_run)
    assert warm_out.kind == cold_out.kind == "done"
    strip = lambda events: [(e.type, e.fields.get("cmd"), e.fields.get("value")) for e in events]  # noqa: E731
    assert strip(log.load(warm_run)) == strip(log.load(cold_run))
    assert stepper.stats.sticky_hits == 30 and stepper.stats.sticky_misses == 1
    assert cold.stats.sticky_hits == 0


def test_a_kept_replay_is_dropped_when_someone_else_appended(world):
    stepper, log, engine = world
    other = WorkflowStepper(engine, log, engine.clock, inline=False)
    run_id = stepper.start("app:loop", {"n": 3})
    first = stepper.step(run_id)  # kept by `stepper`
    run_activities(log, engine, run_id, first.activities)
    other.step(run_id)  # another container steps the run meanwhile
    out = stepper.step(run_id)  # its kept replay is stale: a full replay instead
    assert stepper.stats.sticky_misses == 2
    assert out.kind == "park"
    seqs = [e.seq for e in log.load(run_id)]
    assert seqs == list(range(1, len(seqs) + 1))


def test_an_activity_past_its_deadline_fails_with_timeout_and_is_retried(world):
    """The worker running attempt 1 is lost: the step records a TIMEOUT at the deadline, the
    retry runs, and attempt 1's late answer is dropped, not delivered twice."""
    stepper, log, engine = world
    run_id = stepper.start("app:timeboxed", {"sleep": "5s"})
    first = stepper.step(run_id)
    [attempt1] = first.activities
    assert attempt1.fields["timeout"] == 1.0 and first.timeout == 1.0  # wake at the deadline
    engine.clock.advance(1.0)
    lapsed = stepper.step(run_id)
    failed, retry_timer = lapsed.events
    assert (failed.type, failed.cmd, failed.fields["error"]) == (
        ev.ACTIVITY_FAILED,
        attempt1.cmd,
        {"kind": "Timeout", "message": "activity app:sleepy did not answer within 1s"},
    )
    assert retry_timer.type == ev.TIMER_STARTED and retry_timer.fields["retry_of"] == attempt1.cmd
    late = {"cmd": attempt1.cmd, "value": "late"}
    log.post(run_id, ev.ACTIVITY_COMPLETED, late, engine.clock.now())
    engine.clock.advance(1.0)
    retried = stepper.step(run_id)
    [attempt2] = retried.activities
    assert attempt2.fields["attempt"] == 2
    log.post(run_id, ev.ACTIVITY_COMPLETED, {"cmd": attempt2.cmd, "value": "on time"}, 0)
    out = stepper.step(run_id)
    assert out.kind == "done" and out.result == {"value": "on time"}
    history = log.load(run_id)
    completed = [e.cmd for e in history if e.type == ev.ACTIVITY_COMPLETED]
    assert completed == [attempt2.cmd]  # the late answer of attempt 1 never reached the code
    assert log.inbox(run_id) == []


def test_a_timed_out_history_replays_to_the_same_outcome(world):
    stepper, log, engine = world
    run_id = stepper.start("app:timeboxed", {"sleep": "5s", "attempts": 1})
    stepper.step(run_id)
    engine.clock.advance(1.5)
    out = stepper.step(run_id)
    assert out.kind == "done"
    assert out.result == {
        "kind": "Timeout",
        "err": "activity app:sleepy did not answer within 1s",
    }
    history = log.load(run_id)
    replay = Replay(engine, "app:timeboxed", run_id, history[:-1])
    try:
        again = replay.run(engine.clock.now())
    finally:
        replay.close()
    assert [e.type for e in again.new_events] == [ev.WORKFLOW_COMPLETED]
    assert again.result == out.result


def test_an_abandoned_activitys_answer_does_not_reach_the_next_generation(world):
    stepper, log, _ = world
    run_id = stepper.start("app:impatient", {"n": 1})
    [old] = stepper.step(run_id).activities
    log.post(run_id, ev.SIGNAL_RECEIVED, {"topic": "again", "payload": None}, 0)
    out = stepper.step(run_id)  # continues as new, and steps the new generation at once
    [new] = [e for e in out.activities if e.seq > old.seq]
    assert new.cmd == old.cmd == 1 and log.describe(run_id)["base"] == new.seq - 2
    # The old attempt answers late: same command number, but of the earlier generation.
    log.post(run_id, ev.ACTIVITY_COMPLETED, {"cmd": 1, "command_seq": old.seq, "value": 2}, 0)
    assert stepper.step(run_id).events == []
    assert log.inbox(run_id) == []  # consumed and dropped
    log.post(run_id, ev.ACTIVITY_COMPLETED, {"cmd": 1, "command_seq": new.seq, "value": 4}, 0)
    log.post(run_id, ev.SIGNAL_RECEIVED, {"topic": "done", "payload": None}, 0)
    out = stepper.step(run_id)
    assert out.kind == "done" and out.result == 4


def test_continue_as_new_where_the_history_goes_on_is_non_determinism(world):
    stepper, log, engine = world
    run_id = stepper.start("app:impatient", {"n": 1})
    stepper.step(run_id)
    # Two steps, so the answer is an event of its own after the signal's.
    log.post(run_id, ev.SIGNAL_RECEIVED, {"topic": "later", "payload": None}, 0)
    stepper.step(run_id)
    log.post(run_id, ev.ACTIVITY_COMPLETED, {"cmd": 1, "value": 2}, 0)
    assert stepper.step(run_id).result == 2
    history = log.load(run_id)
    history[2].fields["topic"] = "again"  # the code would now continue where it did not
    replay = Replay(engine, "app:impatient", run_id, history[:-1])
    with pytest.raises(UnitError, match="continued as new, but the history goes on"):
        replay.run(engine.clock.now())


def test_a_large_append_is_split_into_chunk_items_within_dynamodbs_item_limit(world):
    _, log, _ = world
    started = ev.Event(ev.WORKFLOW_STARTED, 0.0, {"input": None})
    log.create_run("big", "app:sequence", started)
    puts = []
    original = log.client.put_item

    def counting(**kwargs):
        puts.append(len(kwargs["Item"]["data"]["S"].encode()))
        return original(**kwargs)

    log.client.put_item = counting
    value = "v" * 300_000  # one of these per chunk: two are over the 400 KB an item holds
    events = [ev.Event(ev.SIGNAL_RECEIVED, 0.0, {"payload": value}, seq=i) for i in range(2, 14)]
    events += [ev.Event(ev.SIGNAL_RECEIVED, 0.0, {"payload": 1}, seq=i) for i in range(14, 214)]
    log.append("big", events)
    log.client.put_item = original
    # 12 large ones, a chunk each; the 200 small ones fit in the last large one's chunk.
    assert len(puts) == 12 and max(puts) <= CHUNK_BYTES
    assert log.load("big") == [started, *events]
    assert log.load("big", after=13) == events[12:]


def test_a_non_deterministic_step_changes_nothing_and_the_fixed_code_goes_on(world, tmp_path):
    stepper, log, engine = world
    run_id = stepper.start("app:sequence", {"n": 1})
    first = stepper.step(run_id)
    run_activities(log, engine, run_id, first.activities)
    engine.clock.advance(10)  # inside the 24 h sleep
    assert stepper.step(run_id).kind == "park"
    engine.clock.advance(24 * 3600)
    [second] = stepper.step(run_id).activities  # the timer fired: activity #3 scheduled
    run_activities(log, engine, run_id, [second])
    before, inbox = log.load(run_id), log.inbox(run_id)

    app = tmp_path / "flows"
    app.mkdir()
    for path in APP.iterdir():
        (app / path.name).write_text(path.read_text())
    source = (APP / "sequence.lua").read_text()
    changed = source.replace('funcs.call("app:double", a)', 'funcs.call("app:slow", a)')
    (app / "sequence.lua").write_text(changed)
    deployed = Engine(manifest.load_app(app), clock=engine.clock)
    try:
        with pytest.raises(
            UnitError, match=r"non-determinism: .* issues activity app:slow at sequence.lua:10"
        ):
            WorkflowStepper(deployed, log, engine.clock).step(run_id)
    finally:
        deployed.close()
    assert log.load(run_id) == before and log.inbox(run_id) == inbox  # parked, unchanged
    stepper.forget(run_id)  # a cold container with the fixed (original) code
    out = drive(stepper, log, engine, run_id)
    assert out.kind == "done" and out.result["slept"] == 86400


def test_log_lines_are_written_once_not_on_every_replay(world):
    _, log, engine = world
    lines = []
    engine.log_sink = lambda level, message, fields: lines.append((message, fields["run_id"]))
    stepper = WorkflowStepper(engine, log, engine.clock, sticky_runs=0)  # replay every step
    run_id = stepper.start("app:chatty", {"n": 3})
    log.post(run_id, ev.SIGNAL_RECEIVED, {"topic": "ignored", "payload": None}, 0)
    assert drive(stepper, log, engine, run_id).result == 3
    assert lines == [(m, run_id) for m in ("start", "did 1", "did 2", "did 3")]


def test_a_signal_taken_before_continue_as_new_is_not_taken_again_after_a_crash(world):
    """The step that continues dies after its append, before deleting what it took from the
    inbox: the new generation must not receive those signals a second time."""
    stepper, log, _ = world
    run_id = stepper.start("app:mailbox", {})
    stepper.step(run_id)
    for word in ("a", "b"):
        log.post(run_id, ev.SIGNAL_RECEIVED, {"topic": "w", "payload": word}, 0)
    original = log.discard
    log.discard = lambda rid, ids: None  # the crash: nothing deleted
    stepper.step(run_id)  # takes a and b, continues as new, steps the new generation
    log.discard = original
    assert len(log.inbox(run_id)) == 2  # still there
    log.post(run_id, ev.SIGNAL_RECEIVED, {"topic": "stop", "payload": "c"}, 0)
    stepper.forget(run_id)  # a cold container
    out = stepper.step(run_id)
    assert out.kind == "done" and out.result == {"seen": ["a", "b", "c"], "generation": 2}


# -- inline attempts --------------------------------------------------------------------------


@pytest.fixture
def inline_world(world):
    _, log, engine = world
    stepper = WorkflowStepper(engine, log, engine.clock)  # inline, as the step Lambda runs
    calls = []
    run_all = engine.call_all

    def recording(batch):
        calls.extend(
            (c.entry_id, c.context["idempotency_key"], c.context["attempt"]) for c in batch
        )
        return run_all(batch)

    engine.call_all = recording
    yield stepper, log, engine, calls
    engine.call_all = run_all


def test_inline_activities_run_in_the_step_each_checkpointed_before_the_code_goes_on(
    inline_world,
):
    stepper, log, _, calls = inline_world
    appends = []
    original = log.append

    def counting(run_id, events, **kwargs):
        appends.append([e.type for e in events])
        return original(run_id, events, **kwargs)

    log.append = counting
    run_id = stepper.start("app:loop", {"n": 4})
    out = stepper.step(run_id)
    assert out.kind == "done" and out.result["total"] == 2 * (1 + 2 + 3 + 4)
    assert out.activities == []  # nothing for the queue
    # One append per attempt: its command and its outcome together, then the run's end.
    pair = [ev.ACTIVITY_SCHEDULED, ev.ACTIVITY_COMPLETED]
    assert appends == [pair] * 4 + [[ev.WORKFLOW_COMPLETED]]
    history = log.load(run_id)
    scheduled = [e for e in history if e.type == ev.ACTIVITY_SCHEDULED]
    assert all(e.fields["inline"] for e in scheduled)
    assert calls == [("app:double", f"{run_id}:{e.seq}", 1) for e in scheduled]


def test_parallel_inline_calls_run_together_and_checkpoint_together(inline_world):
    stepper, log, _, calls = inline_world
    run_id = stepper.start("app:race", {"deadline": "10m"})
    out = stepper.step(run_id)
    # app:double runs inline; app:slow (meta.temporal.activity.local: false) is queued.
    assert [e.fields["id"] for e in out.activities] == ["app:slow"]
    assert [c[0] for c in calls] == ["app:double"]
    types = [e.type for e in log.load(run_id)]
    assert types[:5] == [
        ev.WORKFLOW_STARTED,
        ev.ACTIVITY_SCHEDULED,
        ev.ACTIVITY_SCHEDULED,
        ev.TIMER_STARTED,
        ev.ACTIVITY_COMPLETED,
    ]


def test_a_step_that_dies_before_the_checkpoint_runs_the_attempt_again_with_the_same_key(
    inline_world,
):
    stepper, log, _, calls = inline_world
    run_id = stepper.start("app:loop", {"n": 2})
    original = log.append

    def dying(rid, events, **kwargs):
        if any(e.type == ev.ACTIVITY_COMPLETED for e in events):
            raise RuntimeError("the step Lambda died")
        return original(rid, events, **kwargs)

    log.append = dying
    with pytest.raises(RuntimeError, match="died"):
        stepper.step(run_id)
    assert [e.type for e in log.load(run_id)] == [ev.WORKFLOW_STARTED]  # nothing recorded
    log.append = original
    out = stepper.step(run_id)
    assert out.kind == "done" and out.result["total"] == 6
    first_key = f"{run_id}:2"
    assert [c[1] for c in calls].count(first_key) == 2  # at least once: here twice, same key
    completed = [e.cmd for e in log.load(run_id) if e.type == ev.ACTIVITY_COMPLETED]
    assert completed == [1, 2]  # each outcome recorded once


def test_a_step_that_dies_after_the_checkpoint_does_not_run_the_attempt_again(inline_world):
    stepper, log, _, calls = inline_world
    run_id = stepper.start("app:loop", {"n": 2})
    original = log.append
    landed = []

    def dying_after(rid, events, **kwargs):
        original(rid, events, **kwargs)
        landed.append(events)
        if len(landed) == 1:
            raise RuntimeError("the step Lambda died after its checkpoint")

    log.append = dying_after
    with pytest.raises(RuntimeError, match="after its checkpoint"):
        stepper.step(run_id)
    log.append = original
    out = stepper.step(run_id)  # a cold replay: the first outcome is in the history
    assert out.kind == "done" and out.result["total"] == 6
    assert [c[1] for c in calls] == [f"{run_id}:2", f"{run_id}:4"]  # each attempt once
    history = log.load(run_id)
    assert [e.seq for e in history] == list(range(1, len(history) + 1))


def test_an_inline_attempt_that_runs_out_of_the_steps_time_fails_timeout_and_is_retried(
    inline_world,
):
    stepper, log, engine, calls = inline_world
    policy = {"initial_interval": "1s", "maximum_attempts": 2}
    run_id = stepper.start(
        "app:napping", {"sleep": "1m", "options": {"activity.retry_policy": policy}}
    )
    # A step Lambda with 20 s left: app:sleepy may take 30 s (its deploy timeout), which does
    # not fit: the step goes on in a fresh invocation instead of starting it.
    out = stepper.step(run_id, deadline=engine.clock.now() + 20)
    assert out.kind == "step" and calls == []
    # A fresh step (60 s) starts it; it is cut off 5 s short of the step's end (55 s).
    out = stepper.step(run_id, deadline=engine.clock.now() + 60)
    assert out.kind == "park" and len(calls) == 1
    failed = [e for e in log.load(run_id) if e.type == ev.ACTIVITY_FAILED]
    assert failed[0].fields["error"] == {
        "kind": "Timeout",
        "message": "activity app:sleepy did not answer within 55s",
    }
    engine.clock.advance(1)  # the retry timer
    out = stepper.step(run_id, deadline=engine.clock.now() + 60)
    assert out.kind == "done" and [c[2] for c in calls] == [1, 2]
    assert out.result["kind"] == "Timeout"  # the second attempt ran out of time too


def test_an_activity_whose_limit_does_not_fit_a_step_is_queued(inline_world):
    stepper, _, _, calls = inline_world
    run_id = stepper.start("app:napping", {"sleep": "1s", "options": {"timeout": "2m"}})
    out = stepper.step(run_id)  # 120 s is more than a 60 s step can hold
    [queued] = out.activities
    assert "inline" not in queued.fields and calls == []
