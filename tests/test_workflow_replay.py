"""The replay engine: one step of a run against its history (no AWS: the history is a list)."""

from __future__ import annotations

import pytest

from runtime import manifest
from runtime.clock import ManualClock
from runtime.durable import events as ev
from runtime.durable.events import Event
from runtime.durable.replay import NonDeterminism, Replay
from runtime.engine import Engine
from runtime.errors import UnitError
from tests.conftest import ROOT

APP = ROOT / "tests" / "apps" / "flows"
START = 1_700_000_000.0


@pytest.fixture
def engine():
    clock = ManualClock(START)
    e = Engine(manifest.load_app(APP), clock=clock)
    yield e
    e.close()


def append(history, events):
    for event in events:
        event.seq = len(history) + 1
        history.append(event)


def drive(engine, entry, input_, *, run_id="run-1", hold=(), until_done=True, steps=100):
    """A minimal driver: step, run new activities inline (except those in ``hold``), fire
    timers by moving the clock. Returns the history."""
    clock = engine.clock
    history = [Event(ev.WORKFLOW_STARTED, clock.now(), {"input": input_}, seq=1)]
    for _ in range(steps):
        step = Replay(engine, entry, run_id, history).run(clock.now())
        append(history, step.new_events)
        if step.status != "running":
            return history
        outcomes = []
        for scheduled in step.new_activities:
            if scheduled.fields["id"] in hold:
                continue
            try:
                value = engine.call(scheduled.fields["id"], scheduled.fields["args"])
                outcomes.append(
                    Event(
                        ev.ACTIVITY_COMPLETED, clock.now(), {"cmd": scheduled.cmd, "value": value}
                    )
                )
            except UnitError as exc:
                outcomes.append(
                    Event(
                        ev.ACTIVITY_FAILED,
                        clock.now(),
                        {"cmd": scheduled.cmd, "error": exc.to_dict()},
                    )
                )
        append(history, outcomes)
        if not outcomes and step.next_timer is not None:
            clock.set(step.next_timer)
        elif not outcomes and not until_done:
            return history
    raise AssertionError("the run did not settle")


def test_a_run_with_activities_a_durable_sleep_and_a_failure(engine):
    history = drive(engine, "app:sequence", {"n": 5})
    assert [e.type for e in history] == [
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
    result = history[-1].fields["result"]
    assert (result["total"], result["slept"], result["err"]) == (30, 86400, "no stock")
    assert [e.seq for e in history] == list(range(1, len(history) + 1))


def test_replaying_a_history_gives_the_same_commands_time_and_ids(engine):
    history = drive(engine, "app:sequence", {"n": 5})
    # Every prefix that ends before the run did replays to exactly what came next.
    for cut in range(2, len(history)):
        step = Replay(engine, "app:sequence", "run-1", history[:cut]).run(engine.clock.now())
        recorded = [e for e in history[cut:] if e.type in ev.COMMANDS or e.type in ev.ENDINGS]
        if step.new_events and step.new_events[0].type in ev.COMMANDS | ev.ENDINGS:
            new = step.new_events[0]
            assert (new.type, new.fields.get("cmd"), new.fields.get("id")) == (
                recorded[0].type,
                recorded[0].fields.get("cmd"),
                recorded[0].fields.get("id"),
            )
        if step.status == "completed":
            assert step.result == history[-1].fields["result"]  # same time, same uuid


def test_select_follows_the_order_in_the_history(engine):
    # b's result is recorded before a's: replay must deliver b first although a was asked first.
    clock = engine.clock
    history = [Event(ev.WORKFLOW_STARTED, clock.now(), {"input": {"deadline": "1h"}}, seq=1)]
    step = Replay(engine, "app:race", "r", history).run(clock.now())
    append(history, step.new_events)
    a, b = step.new_activities
    append(history, [Event(ev.ACTIVITY_COMPLETED, clock.now(), {"cmd": b.cmd, "value": 4})])
    step = Replay(engine, "app:race", "r", history).run(clock.now())
    append(history, step.new_events)
    append(history, [Event(ev.ACTIVITY_COMPLETED, clock.now(), {"cmd": a.cmd, "value": 2})])
    step = Replay(engine, "app:race", "r", history).run(clock.now())
    assert step.status == "completed" and step.result == ["b=4", "a=2"]


def test_a_timer_wins_the_select_when_it_is_due_first(engine):
    history = drive(engine, "app:race", {"deadline": "10s"}, hold={"app:slow"})
    assert history[-1].fields["result"] == ["a=2", "deadline"]
    assert [e.type for e in history if e.type.startswith("Timer")] == ["TimerStarted", "TimerFired"]


def test_changed_code_is_a_non_determinism_error_naming_the_line(engine, tmp_path):
    history = drive(engine, "app:sequence", {"n": 1})
    changed = (
        (APP / "sequence.lua")
        .read_text()
        .replace('funcs.call("app:double", a)', 'funcs.call("app:slow", a)')
    )
    app = tmp_path / "flows"
    app.mkdir()
    for path in APP.iterdir():
        (app / path.name).write_text(path.read_text())
    (app / "sequence.lua").write_text(changed)
    other = Engine(manifest.load_app(app), clock=ManualClock(START))
    try:
        with pytest.raises(NonDeterminism) as exc:
            Replay(other, "app:sequence", "run-1", history[:-1]).run(START)
    finally:
        other.close()
    message = exc.value.message
    assert "command #3: the history has activity app:double" in message
    assert "the code now issues activity app:slow at sequence.lua:10" in message


def test_an_ended_run_cannot_be_stepped(engine):
    history = drive(engine, "app:sequence", {"n": 1})
    with pytest.raises(UnitError) as exc:
        Replay(engine, "app:sequence", "run-1", history).run(START)
    assert "has already ended" in exc.value.message


def test_a_library_shared_with_functions_still_records_activities_in_a_workflow(engine):
    assert engine.call("app:via_lib", [4]) == 8  # the library's funcs resolved in a function
    history = drive(engine, "app:libflow", 4)
    assert [e.type for e in history] == [
        "WorkflowStarted",
        "ActivityScheduled",
        "ActivityCompleted",
        "WorkflowCompleted",
    ]
    assert history[-1].fields["result"] == 8


def test_a_failing_activity_is_retried_on_durable_timers_with_backoff(engine):
    history = drive(engine, "app:retrying", {"attempts": 5, "ok_from": 3})
    assert history[-1].fields["result"] == {"value": "ok on call 3"}
    scheduled = [e for e in history if e.type == ev.ACTIVITY_SCHEDULED]
    assert [e.fields["attempt"] for e in scheduled] == [1, 2, 3]
    timers = [e for e in history if e.type == ev.TIMER_STARTED]
    # 1 s, then 2 s: the backoff, each a durable timer started when the failure was recorded.
    assert [t.fields["fire_at"] - t.time for t in timers] == [1.0, 2.0]
    # A replay of the whole history reaches the same end, retries included.
    step = Replay(engine, "app:retrying", "run-1", history[:-1]).run(engine.clock.now())
    assert step.status == "completed" and step.result == {"value": "ok on call 3"}


def test_retries_exhausted_give_nil_err(engine):
    history = drive(engine, "app:retrying", {"attempts": 2, "ok_from": 100})
    assert history[-1].fields["result"] == {
        "err": "upstream timed out",
        "kind": "Timeout",
    }


def test_non_retryable_kinds_fail_at_once(engine):
    history = drive(engine, "app:sequence", {"n": 1})
    assert [e.fields["id"] for e in history if e.type == ev.ACTIVITY_SCHEDULED].count(
        "app:fail"
    ) == 1
