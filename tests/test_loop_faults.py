"""Crash-safety of loop-style processes: the worker killed before the journal append, after it
before the sends, after the sends before the delete; duplicate deliveries; two workers racing on
one process. Every message is seen exactly once, in order, and the final state is exact."""

from __future__ import annotations

import pytest

from runtime.processes import envelope as env
from runtime.processes.local import lambda_handler_for
from runtime.processes.worker import ProcessWorker, WorkerCrash
from runtime.testing import LocalCloud
from tests.conftest import ROOT

APP = ROOT / "tests" / "apps" / "loops"
HOST = "app:procs"
N = 5
#: Where a loop process's batch passes: before the append, after it, after the sends.
POINTS = ("before_commit", "after_commit", "after_send")


@pytest.fixture
def cloud():
    with LocalCloud(APP, auto_start=False) as c:
        yield c


def relay_pair(cloud):
    sink = cloud.spawn("app:sink", HOST)
    relay = cloud.spawn("app:relay", HOST, sink)
    cloud.drain()
    return relay, sink


def assert_exact(cloud, relay, sink, n=N):
    cloud.send(relay, "stop")
    cloud.drain()
    assert cloud.status(relay).result == n
    assert cloud.received(sink, "n") == list(range(1, n + 1))


@pytest.mark.parametrize(("point", "times"), [(p, 1) for p in POINTS] + [("before_commit", 2)])
def test_worker_killed_at_each_step_boundary(cloud, point, times):
    relay, sink = relay_pair(cloud)
    cloud.crash_at(point, relay, times=times)
    for _ in range(N):
        cloud.send(relay, "inc")
    cloud.drain()
    assert all(f.times == 0 for f in cloud._faults), "the fault point was never reached"
    assert_exact(cloud, relay, sink)


@pytest.mark.parametrize("point", POINTS)
def test_killed_on_a_cold_worker(cloud, point):
    relay, sink = relay_pair(cloud)
    for _ in range(2):
        cloud.send(relay, "inc")
    cloud.drain()
    cloud.processes.hosts[HOST].worker.loops.warm.clear()
    cloud.crash_at(point, relay)
    for _ in range(N - 2):
        cloud.send(relay, "inc")
    cloud.drain()
    assert_exact(cloud, relay, sink)


def test_both_ends_killed(cloud):
    relay, sink = relay_pair(cloud)
    cloud.crash_at("after_commit", relay)
    cloud.crash_at("before_commit", sink)
    cloud.crash_at("after_send", sink)
    for _ in range(N):
        cloud.send(relay, "inc")
    cloud.drain()
    assert_exact(cloud, relay, sink)


def test_duplicate_delivery_is_applied_once(cloud):
    relay, sink = relay_pair(cloud)
    system = cloud.processes.system
    url = system.mailboxes.queues[HOST]
    envelope = env.message(relay, "fixed-id", None, "inc", None)
    for dedup in ("a", "b"):  # two SQS messages, one logical message
        cloud.processes.sqs.send_message(
            QueueUrl=url,
            MessageBody=envelope.to_body(),
            MessageGroupId=relay,
            MessageDeduplicationId=dedup,
        )
        cloud.drain()  # the second arrives in a later batch, on a warm worker
    cloud.processes.hosts[HOST].worker.loops.warm.clear()
    cloud.processes.sqs.send_message(
        QueueUrl=url, MessageBody=envelope.to_body(), MessageGroupId=relay,
        MessageDeduplicationId="c",
    )  # fmt: skip
    cloud.drain()  # and a third on a cold one
    assert_exact(cloud, relay, sink, n=1)


def test_two_workers_racing_on_one_process(cloud):
    """Worker A's batch is overtaken before its append by worker B running the same messages
    (as after a visibility timeout); A's append finds the chunk taken, A reloads and finds them
    applied. Then A, with a stale warm copy, loses again to B on new messages and redoes."""
    relay, sink = relay_pair(cloud)
    system = cloud.processes.system
    host = cloud.processes.hosts[HOST]
    worker_a = host.worker
    engine_b = cloud._new_engine(processes=system)
    worker_b = ProcessWorker(engine_b, system, HOST)
    pending = {}

    def overtake(point, pid):
        if point == "before_commit" and pid == relay and "records" in pending:
            worker_b.handle(pending.pop("records"))
        return False

    original = worker_a.handle

    def handle_a(records):
        pending["records"] = records
        return original(records)

    worker_a.fault = overtake
    try:
        for _ in range(3):
            cloud.send(relay, "inc")
        host.queue.poll(lambda_handler_for(handle_a), WorkerCrash)
        assert worker_a.stats.races == 1
        for _ in range(2):
            cloud.send(relay, "inc")
        pending["records"] = None
        del pending["records"]
        worker_b.loops.warm.clear()
        host.queue.poll(lambda_handler_for(worker_b.handle), WorkerCrash)
        host.queue.poll(lambda_handler_for(worker_a.handle), WorkerCrash)
        cloud.drain()
    finally:
        engine_b.close()
    assert_exact(cloud, relay, sink)


def test_a_thousand_messages_over_a_hundred_processes(cloud):
    sink_of = {}
    relays = []
    for _ in range(100):
        sink = cloud.spawn("app:sink", HOST)
        relays.append(cloud.spawn("app:relay", HOST, sink))
        sink_of[relays[-1]] = sink
    cloud.drain()
    for round_ in range(10):
        for relay in relays:
            cloud.send(relay, "inc")
        if round_ == 5:
            cloud.processes.hosts[HOST].worker.loops.warm.clear()
    cloud.drain()
    for relay in relays:
        assert cloud.received(sink_of[relay], "n") == list(range(1, 11))


def test_a_monitor_arriving_in_the_batch_after_the_end_gets_exit(cloud):
    relay, sink = relay_pair(cloud)
    system = cloud.processes.system
    url = system.mailboxes.queues[HOST]
    cloud.send(relay, "stop")
    monitor = env.Envelope(env.MONITOR, relay, "late-monitor", sink)
    cloud.processes.sqs.send_message(
        QueueUrl=url, MessageBody=monitor.to_body(), MessageGroupId=relay,
        MessageDeduplicationId="late",
    )  # fmt: skip
    cloud.drain()
    assert cloud.status(relay).result == 0
    [exit_event] = [e for e in cloud.journal(sink) if e["type"] == "EventReceived"]
    assert (exit_event["event"], exit_event["from"]) == ("EXIT", relay)
    assert exit_event["result"] == {"value": 0}


@pytest.mark.parametrize("point", POINTS)
def test_killed_around_the_end_the_end_still_happens_once(cloud, point):
    sink = cloud.spawn("app:sink", HOST)
    relay = cloud.spawn("app:relay", HOST, sink, name="r1")
    boss = cloud.spawn("app:boss", HOST, "watch", relay)
    cloud.drain()
    cloud.send(relay, "inc")
    cloud.drain()
    from runtime.inspection import Inspector

    view = Inspector(cloud.processes.system.store.client, cloud.processes.system.store.table)
    assert view.process(relay).monitors == [boss]  # from the journal, while it runs
    cloud.crash_at(point, relay)
    cloud.send(relay, "stop")
    cloud.drain()
    assert all(f.times == 0 for f in cloud._faults)
    assert view.process(relay).monitors == [boss]  # and in its item once it ended
    assert cloud.status(relay).result == 1
    assert cloud.lookup("r1") is None  # the name released
    exits = [e for e in cloud.journal(boss) if e["type"] == "EventReceived"]
    assert [(e["event"], e["result"]) for e in exits] == [("EXIT", {"value": 1})]
    assert cloud.received(sink, "n") == [1]
