"""The fault matrix: for each unit, every AWS call its handlers make is, in turn, the point
where the handler dies before the call, dies after it, or gets the service's throttling error;
then the event source redelivers (or the driver retries) and the final state must be exact:
nothing lost, nothing applied twice. ``pytest tests/faults -rA`` prints the table."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl

from runtime.testing import LocalCloud
from tests.conftest import ROOT
from tests.faults.injection import MODES, AwsFaults, FunctionCrash, injected

ACTORS = ROOT / "tests" / "apps" / "actors"
LOOPS = ROOT / "tests" / "apps" / "loops"
LOOP_HOST = "app:procs"
FLOWS = ROOT / "tests" / "apps" / "flows"
HOST = "app:workers"
N = 3
#: Every occurrence of each call in the process scenario (a spawn, then N turns) is a point;
#: for workflows the first two of each (a step killed waits out the driver's real 1 s Retry).
PROCESS_OCCURRENCES = 10
WORKFLOW_OCCURRENCES = 2


# -- processes ----------------------------------------------------------------------------------
def relay_pair(cloud: LocalCloud) -> tuple[str, str]:
    collector = cloud.spawn("app:collector", HOST)
    relay = cloud.spawn("app:relay", HOST, collector)
    cloud.drain()
    return relay, collector


def send_and_check(cloud: LocalCloud, relay: str, collector: str) -> None:
    for _ in range(N):
        cloud.send(relay, "inc")
    cloud.drain()
    assert cloud.state(relay)["n"] == N
    assert cloud.state(collector)["seen"] == list(range(1, N + 1))  # once each, in order
    assert cloud.dead_letters(HOST) == []


@pytest.mark.parametrize("mode", MODES)
def test_process_worker_faults_at_every_aws_call(monkeypatch, outcomes, mode):
    with injected(monkeypatch) as faults, LocalCloud(ACTORS, auto_start=False) as cloud:
        send_and_check(cloud, *relay_pair(cloud))  # the clean run shows the calls
        points = faults.points("process", most=PROCESS_OCCURRENCES)
        assert points, "the worker made no AWS call"
        for handler, call, nth in points:
            fault = faults.arm(handler, call, mode, nth)
            outcome = _outcome(lambda: send_and_check(cloud, *relay_pair(cloud)), fault)
            outcomes[("process", handler, f"{call} #{nth}", mode)] = outcome
    _assert_all_exact(outcomes, "process", mode)


def test_process_messages_delivered_twice_are_applied_once(monkeypatch, outcomes):
    with injected(monkeypatch) as faults, LocalCloud(ACTORS, auto_start=False) as cloud:
        relay, collector = relay_pair(cloud)
        faults.lost_deletes = 2  # the event source's next two deletes never reach SQS
        send_and_check(cloud, relay, collector)
        assert faults.lost_deletes == 0
    outcomes[("process", "event source", "sqs.DeleteMessageBatch", "lost (redelivery)")] = "exact"


# -- loop-style processes -------------------------------------------------------------------------
def loop_pair(cloud: LocalCloud) -> tuple[str, str]:
    sink = cloud.spawn("app:sink", LOOP_HOST)
    relay = cloud.spawn("app:relay", LOOP_HOST, sink)
    cloud.drain()
    return relay, sink


def loop_send_and_check(cloud: LocalCloud, relay: str, sink: str) -> None:
    for _ in range(N):
        cloud.send(relay, "inc")
    cloud.drain()
    cloud.send(relay, "stop")
    cloud.drain()
    assert cloud.status(relay).result == N
    assert cloud.received(sink, "n") == list(range(1, N + 1))  # once each, in order
    assert cloud.dead_letters(LOOP_HOST) == []


@pytest.mark.parametrize("mode", MODES)
def test_loop_process_faults_at_every_aws_call(monkeypatch, outcomes, mode):
    """The same for loop-style processes: the journal's append (a chunk put, or the
    transaction with the actor item at birth and end), the sends, the reads of a cold worker."""
    with injected(monkeypatch) as faults, LocalCloud(LOOPS, auto_start=False) as cloud:
        loop_send_and_check(cloud, *loop_pair(cloud))
        points = faults.points("process", most=PROCESS_OCCURRENCES)
        assert any("TransactWriteItems" in call for _, call, _ in points)
        for handler, call, nth in points:
            fault = faults.arm(handler, call, mode, nth)
            outcome = _outcome(lambda: loop_send_and_check(cloud, *loop_pair(cloud)), fault)
            outcomes[("loop process", handler, f"{call} #{nth}", mode)] = outcome
    _assert_all_exact(outcomes, "loop process", mode)


def test_loop_messages_delivered_twice_are_applied_once(monkeypatch, outcomes):
    with injected(monkeypatch) as faults, LocalCloud(LOOPS, auto_start=False) as cloud:
        relay, sink = loop_pair(cloud)
        faults.lost_deletes = 2
        for _ in range(N):
            cloud.send(relay, "inc")
        cloud.drain()
        assert faults.lost_deletes == 0
        # (The lost batches stay in flight for the visibility timeout, in moto's wall time,
        # holding their groups back: what the journals hold is checked, not a later message.)
        journal = cloud.journal(relay)
        assert [e["topic"] for e in journal if e["type"] == "MessageReceived"] == ["inc"] * N
        assert sum(e["type"] == "EnvelopeSent" for e in journal) == N
        assert cloud.received(sink, "n") == list(range(1, N + 1))
    outcomes[("loop process", "event source", "sqs.DeleteMessageBatch", "lost (redelivery)")] = (
        "exact"
    )


# -- workflows ----------------------------------------------------------------------------------
def run_and_check(cloud: LocalCloud, faults: AwsFaults | None = None) -> None:
    """N activities inline (each run and checkpointed in the step), N queued (each a park, a
    message, an activity Lambda, a wake), and an inline attempt that times out and is retried
    after a timer: each recorded once, in a gapless history."""
    inline = cloud.start_workflow("app:loop", {"n": N})
    queued = cloud.start_workflow("app:loop", {"n": N, "queued": True})
    # An inline attempt cut off at its 1 s deadline, retried after a 1 s durable timer: the
    # step re-arms its wait for the timer (SendTaskSuccess to its own task), then parks.
    timed = cloud.start_workflow("app:timeboxed", {"sleep": "5s"})
    cloud.run_workflows()
    cloud.advance_time(1)
    timed_out = cloud.result(timed)
    assert timed_out.status == "completed", timed_out
    assert timed_out.result["kind"] == "Timeout"
    attempts = [e for e in cloud.history(timed) if e["type"] == "ActivityScheduled"]
    assert [(e["attempt"], e.get("inline")) for e in attempts] == [(1, True), (2, True)]
    for run_id in (inline, queued):
        result = cloud.result(run_id)
        assert result.status == "completed", result
        assert result.result["total"] == 2 * sum(range(1, N + 1))
        history = cloud.history(run_id)
        types = [e["type"] for e in history]
        assert types.count("ActivityScheduled") == types.count("ActivityCompleted") == N
        assert [e["seq"] for e in history] == list(range(1, len(history) + 1))
        inline_marks = [e.get("inline", False) for e in history if e["type"] == "ActivityScheduled"]
        assert inline_marks == [run_id == inline] * N


@pytest.mark.parametrize("mode", MODES)
def test_workflow_faults_at_every_aws_call(monkeypatch, outcomes, mode):
    # moto's interpreter sleeps a Retry's real interval (1 s and up); the matrix retries
    # dozens of steps, so here the wait is skipped. The document is the deployed one.
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=lambda _seconds: None))
    with injected(monkeypatch) as faults, LocalCloud(FLOWS) as cloud:
        run_and_check(cloud)
        points = faults.points("workflow", most=WORKFLOW_OCCURRENCES)
        assert {h for h, _, _ in points} >= {"workflow step", "workflow activity"}
        for handler, call, nth in points:
            fault = faults.arm(handler, call, mode, nth)
            outcome = _outcome(lambda: run_and_check(cloud), fault)
            outcomes[("workflow", handler, f"{call} #{nth}", mode)] = outcome
    _assert_all_exact(outcomes, "workflow", mode)


def test_activities_delivered_twice_are_recorded_once(monkeypatch, outcomes):
    with injected(monkeypatch) as faults, LocalCloud(FLOWS) as cloud:
        faults.lost_deletes = 2
        run_and_check(cloud)
        assert faults.lost_deletes == 0
    outcomes[("workflow", "event source", "sqs.DeleteMessageBatch", "lost (redelivery)")] = "exact"


# -- helpers ------------------------------------------------------------------------------------
def _outcome(scenario, fault) -> str:
    try:
        scenario()
    except Exception as exc:  # the row says what broke; the assertion below fails the test
        return f"BROKEN: {type(exc).__name__}: {str(exc)[:120]}"
    return "exact" if fault.fired else "exact (point not reached)"


def _assert_all_exact(outcomes, unit: str, mode: str) -> None:
    rows = {k: v for k, v in outcomes.items() if k[0] == unit and k[3] == mode}
    broken = {f"{k[1]} / {k[2]}": v for k, v in rows.items() if not v.startswith("exact")}
    assert not broken, broken
    assert any(v == "exact" for v in rows.values()), "no fault point was reached"


# -- functions ----------------------------------------------------------------------------------
REMOTE_APP = """
version: "1.0"
namespace: app
entries:
  - name: square
    kind: function.lua
    source: file://square.lua
    deploy: {remote: true}
  - name: caller
    kind: function.lua
    source: file://caller.lua
    modules: [funcs]
"""
SQUARE = "return { handler = function(n) return n * n end }"
CALLER = """
local funcs = require("funcs")
return { handler = function(n)
  local v, err = funcs.call("app:square", n)
  if err then return { kind = err:kind(), message = err:message() } end
  return { v = v }
end }
"""


@pytest.mark.parametrize("mode", MODES)
def test_a_remote_call_that_fails_is_a_clear_error_and_the_next_one_works(
    monkeypatch, outcomes, make_app, mode
):
    app = make_app(REMOTE_APP, {"square.lua": SQUARE, "caller.lua": CALLER})
    with injected(monkeypatch) as faults, LocalCloud(app) as cloud:
        assert cloud.call("app:caller", 3) == {"v": 9}
        fault = faults.arm("function", "lambda.Invoke", mode)
        if mode == "throttle":
            out = cloud.call("app:caller", 4)
            assert out["kind"] == "Internal" and "TooManyRequestsException" in out["message"]
        else:  # the calling Lambda died: its request fails (API Gateway answers 502)
            with pytest.raises(FunctionCrash):
                cloud.call("app:caller", 4)
        assert fault.fired
        assert cloud.call("app:caller", 5) == {"v": 25}  # stateless: nothing left behind
    outcomes[("function", "function", "lambda.Invoke #1", mode)] = (
        "exact (clear error, next call fine)"
    )


# -- reordering across actors -------------------------------------------------------------------
def test_batches_reordered_across_actors_keep_each_actors_order(monkeypatch, outcomes):
    """SQS FIFO orders messages within a group (an actor), not across groups: shuffle every
    batch across actors (each actor's own messages kept in order) and every state is exact."""
    from runtime.processes import event_source

    rng = random.Random(7)
    original = event_source.QueuePoller.poll

    def shuffled_poll(self, handler, crash_type):
        def reordered(event):
            records = event["Records"]
            groups = {r["attributes"].get("MessageGroupId") for r in records}
            rank = {g: rng.random() for g in groups}
            records.sort(key=lambda r: rank[r["attributes"].get("MessageGroupId")])  # stable
            return handler(event)

        return original(self, reordered, crash_type)

    monkeypatch.setattr(event_source.QueuePoller, "poll", shuffled_poll)
    with LocalCloud(ACTORS, auto_start=False) as cloud:
        tallies = [cloud.spawn("app:tally", HOST) for _ in range(12)]
        cloud.drain()
        for seq in range(1, 6):
            for pid in tallies:
                cloud.send(pid, "n", seq)
        cloud.drain()
        for pid in tallies:
            assert cloud.state(pid) == {"count": 5, "last": 5, "out_of_order": 0}
    outcomes[("process", "event source", "batches across actors", "reordered")] = "exact"


# -- child runs ---------------------------------------------------------------------------------
def parent_and_check(cloud: LocalCloud) -> None:
    run_id = cloud.start_workflow("app:parent", {"n": 4})
    cloud.run_workflows()
    result = cloud.result(run_id)
    assert result.status == "completed", result
    assert result.result["doubled"] == 8 and result.result["watched_result"] == 200
    types = [e["type"] for e in cloud.history(run_id)]
    assert types.count("ChildCompleted") == 2 and types.count("ChildFailed") == 1


@pytest.mark.parametrize("mode", ["crash_before", "crash_after"])
def test_a_childs_end_reaches_its_parent_whatever_call_of_the_report_dies(
    monkeypatch, outcomes, mode
):
    """A child's last step posts its end to the parent's inbox, then wakes the parent; killed
    before the wake, the retried step must still wake it; killed after, the retried step finds
    the parent already woken (its token spent) and the parent takes the end once."""
    monkeypatch.setattr(retrier_decl, "time", SimpleNamespace(sleep=lambda _seconds: None))
    with injected(monkeypatch) as faults, LocalCloud(FLOWS) as cloud:
        parent_and_check(cloud)
        wakes = [p for p in faults.points("workflow step", most=3) if "SendTaskSuccess" in p[1]]
        assert wakes, "no step woke a parent"
        for handler, call, nth in wakes:
            fault = faults.arm(handler, call, mode, nth)
            outcome = _outcome(lambda: parent_and_check(cloud), fault)
            outcomes[("workflow", "child's last step", f"{call} #{nth}", mode)] = outcome
    _assert_all_exact(outcomes, "workflow", mode)
