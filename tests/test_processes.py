"""Processes: actors on SQS FIFO + DynamoDB, through the harness (moto)."""

from __future__ import annotations

import json

import pytest

from runtime.engine import Limits
from runtime.errors import INVALID, NOT_FOUND, UnitError
from runtime.testing import LocalCloud
from tests.conftest import ROOT, functions_app

APP = ROOT / "tests" / "apps" / "actors"
HOST = "app:workers"


@pytest.fixture
def cloud():
    with LocalCloud(APP, auto_start=False) as c:
        yield c


def test_spawn_send_state_and_exit(cloud):
    pid = cloud.spawn("app:counter", HOST, 5)
    assert pid.startswith(HOST + "/")
    cloud.drain()
    assert cloud.status(pid).status == "running"
    assert cloud.state(pid) == {"n": 5}
    for _ in range(3):
        cloud.send(pid, "inc", 2)
    cloud.call("app:sender", pid, "inc", 10)  # process.send from a function
    cloud.drain()
    assert cloud.state(pid) == {"n": 21}
    cloud.send(pid, "stop")
    cloud.drain()
    status = cloud.status(pid)
    assert (status.status, status.result, status.error) == ("exited", 21, None)


def test_a_crash_is_recorded_with_the_lua_error_and_other_actors_go_on(cloud):
    a = cloud.spawn("app:counter", HOST, 1)
    b = cloud.spawn("app:counter", HOST, 100)
    cloud.drain()
    cloud.send(a, "boom")
    cloud.send(b, "inc", 1)
    cloud.drain()
    status = cloud.status(a)
    assert status.status == "crashed"
    assert status.error["kind"] == "Internal"
    assert status.error["message"].startswith("counter.lua:18: boom at 1")
    assert cloud.state(b) == {"n": 101}
    # A message to the dead actor is dropped, and nothing else moves.
    cloud.send(a, "inc", 1)
    cloud.drain()
    assert cloud.status(a).status == "crashed" and cloud.state(a) == {"n": 1}


def test_sleeping_handler_lets_other_actors_run_in_the_same_batch(cloud):
    slow = cloud.spawn("app:counter", HOST, 0)
    fast = cloud.spawn("app:counter", HOST, 0)
    cloud.drain()
    start = cloud.clock.now()
    cloud.send(slow, "slow_inc")
    cloud.send(fast, "inc", 1)
    cloud.drain()
    assert cloud.state(slow) == {"n": 1} and cloud.state(fast) == {"n": 1}
    assert cloud.clock.now() - start == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("how", "trap", "expected_parent", "event_kind"),
    [
        ("monitored", False, "running", "EXIT"),
        ("linked", False, "crashed", None),
        ("linked", True, "running", "LINK_DOWN"),
    ],
)
def test_monitors_and_links_see_a_child_crash(cloud, how, trap, expected_parent, event_kind):
    parent = cloud.spawn("app:parent", HOST, how, trap)
    cloud.drain()
    child = cloud.state(parent)["child"]
    assert cloud.state(parent)["trap"] is trap
    cloud.send(parent, "kill_child")
    cloud.drain()
    assert cloud.status(child).status == "crashed"
    assert cloud.status(parent).status == expected_parent
    if event_kind is None:
        assert cloud.status(parent).error["kind"] == "Canceled"
        assert "went down" in cloud.status(parent).error["message"]
    else:
        (event,) = cloud.state(parent)["events"]
        assert (event["kind"], event["from"]) == (event_kind, child)
        assert "boom at 0" in event["error"]


def test_normal_exit_reaches_monitors_but_does_not_take_links_down(cloud):
    monitored = cloud.spawn("app:parent", HOST, "monitored", False)
    linked = cloud.spawn("app:parent", HOST, "linked", False)
    cloud.drain()
    cloud.send(monitored, "stop_child")
    cloud.send(linked, "stop_child")
    cloud.drain()
    (event,) = cloud.state(monitored)["events"]
    assert (event["kind"], event["value"]) == ("EXIT", 0)
    assert cloud.status(linked).status == "running"
    assert cloud.state(linked)["events"] == {}


def test_monitoring_a_dead_or_unknown_process_answers_at_once(cloud):
    watcher = cloud.spawn("app:parent", HOST, "plain", False)
    dead = cloud.spawn("app:counter", HOST, 3)
    cloud.drain()
    cloud.send(dead, "stop")
    cloud.drain()
    cloud.send(watcher, "monitor", dead)
    cloud.send(watcher, "monitor", HOST + "/no-such-process")
    cloud.drain()
    events = cloud.state(watcher)["events"]
    assert [(e["kind"], e.get("value"), e.get("error")) for e in events] == [
        ("EXIT", 3, None),
        ("EXIT", None, "no such process"),
    ]


def test_names_register_resolve_and_are_released_on_exit(cloud):
    spawner = "local p = process.with_name('room'):spawn('app:counter', 'app:workers', 1)"
    del spawner
    pid = cloud.spawn("app:counter", HOST, 1, name="room")
    cloud.drain()
    assert cloud.lookup("room") == pid
    cloud.send("room", "inc", 4)
    cloud.drain()
    assert cloud.state(pid) == {"n": 5}
    taken = cloud.spawn("app:counter", HOST, 0, name="room")
    cloud.drain()
    assert cloud.status(taken).error == {
        "kind": "AlreadyExists",
        "message": f"name 'room' is taken by {pid}",
    }
    cloud.send("room", "stop")
    cloud.drain()
    assert cloud.lookup("room") is None
    with pytest.raises(UnitError) as exc:
        cloud.send("room", "inc", 1)
    assert (exc.value.kind, exc.value.message) == (NOT_FOUND, "no process is named 'room'")


@pytest.mark.parametrize(
    ("call", "kind", "fragment"),
    [
        (
            lambda c: c.spawn("app:counter", "app:nowhere"),
            NOT_FOUND,
            "no process host 'app:nowhere'",
        ),
        (lambda c: c.spawn("app:nothing", HOST), NOT_FOUND, "no process entry 'app:nothing'"),
        (lambda c: c.spawn("app:sender", HOST), INVALID, "is a function.lua, not a process.lua"),
        (lambda c: c.send(HOST + "/x", "@system", 1), INVALID, "reserved"),
        (lambda c: c.send("nobody", "hi", 1), NOT_FOUND, "no process is named 'nobody'"),
        (lambda c: c.send(HOST + "/x", "big", "x" * (1024 * 1024)), INVALID, "at most 1048576"),
    ],
)
def test_bad_spawns_and_sends_are_clear_errors(cloud, call, kind, fragment):
    with pytest.raises(UnitError) as exc:
        call(cloud)
    assert exc.value.kind == kind and fragment in exc.value.message


def test_a_runaway_loop_style_process_crashes_alone_with_a_clear_error(cloud):
    looper = cloud.spawn("app:looper", HOST)
    counter = cloud.spawn("app:counter", HOST, 1)
    cloud.drain()
    status = cloud.status(looper)
    assert status.status == "crashed" and status.error["kind"] == "Timeout"
    assert cloud.status(counter).status == "running"


def test_lua_sees_bad_sends_as_nil_err(cloud):
    assert cloud.call("app:sender", "nobody", "hi", 1) == {"err": NOT_FOUND}
    assert cloud.call("app:sender", HOST + "/x", "@x", 1) == {"err": INVALID}
    assert cloud.call("app:sender", HOST + "/x", "hi", 1) == {"ok": True}


def test_state_that_cannot_be_saved_crashes_the_actor_and_keeps_the_last_state(cloud):
    pid = cloud.spawn("app:counter", HOST, 7)
    big = cloud.spawn("app:counter", HOST, 8)
    cloud.drain()
    cloud.send(pid, "bad_state")
    cloud.send(big, "grow", 500 * 1024)
    cloud.drain()
    bad = cloud.status(pid)
    assert bad.status == "crashed" and bad.error["kind"] == INVALID
    assert "the state cannot be saved: state.fn: a function cannot be sent" in bad.error["message"]
    too_big = cloud.status(big)
    assert too_big.status == "crashed"
    assert "a DynamoDB item holds at most 409600 bytes" in too_big.error["message"]
    assert cloud.state(big) == {"n": 8}


def test_runaway_handler_crashes_only_its_actor(cloud):
    pid = cloud.spawn("app:counter", HOST, 0)
    other = cloud.spawn("app:counter", HOST, 0)
    cloud.drain()
    cloud.send(pid, "spin")
    cloud.send(other, "inc", 1)
    cloud.drain()
    status = cloud.status(pid)
    assert status.status == "crashed" and status.error["kind"] == "Timeout"
    assert "instruction budget exceeded" in status.error["message"]
    assert cloud.state(other) == {"n": 1}


def test_cpu_ceiling_is_per_message_even_inside_one_turn():
    # Ten messages to one actor run in one batch, in one resume of its turn: each gets the whole
    # ceiling again, so together they may spend several ceilings; one message alone may not.
    limits = Limits(instructions=10**10, cpu_seconds=0.25)
    with LocalCloud(APP, auto_start=False, limits=limits) as cloud:
        pid = cloud.spawn("app:counter", HOST, 0)
        cloud.drain()
        for _ in range(10):
            cloud.send(pid, "burn", 2_500_000)  # ~50 ms of CPU here
        cloud.drain()
        assert cloud.state(pid) == {"n": 10}
        cloud.send(pid, "burn", 50_000_000)
        cloud.drain()
        status = cloud.status(pid)
        assert status.status == "crashed" and status.error["kind"] == "Timeout", status
        assert "CPU time limit exceeded (0.25 s)" in status.error["message"]
        assert cloud.state(pid) == {"n": 10}


def test_poison_message_goes_to_the_dlq_and_the_actor_goes_on(cloud):
    pid = cloud.spawn("app:counter", HOST, 0)
    cloud.drain()
    url = cloud.processes.system.mailboxes.queues[HOST]
    cloud.processes.sqs.send_message(
        QueueUrl=url, MessageBody="{not json", MessageGroupId=pid, MessageDeduplicationId="p1"
    )
    cloud.send(pid, "inc", 5)
    cloud.drain()
    assert cloud.state(pid) == {"n": 5}
    assert cloud.dead_letters(HOST) == ["{not json"]


def test_service_restarts_with_backoff_until_it_gives_up():
    with LocalCloud(APP) as cloud:
        cloud.drain()
        first = cloud.lookup("flaky")
        assert first is not None and cloud.status(first).status == "running"
        cloud.send("flaky", "boom")
        cloud.drain()
        assert cloud.status(first).status == "crashed"
        assert cloud.lookup("flaky") is None  # released; the restart is 5 s away
        cloud.advance_time(4.9)
        cloud.drain()
        assert cloud.lookup("flaky") is None
        cloud.advance_time(0.2)
        cloud.drain()
        second = cloud.lookup("flaky")
        assert second not in (None, first)
        assert cloud.state(second) == {"pid": second}
        cloud.send("flaky", "boom")
        cloud.drain()
        cloud.advance_time(10)  # backoff doubled
        cloud.drain()
        third = cloud.lookup("flaky")
        assert third not in (None, first, second)
        cloud.send("flaky", "boom")
        cloud.drain()
        cloud.advance_time(3600)
        cloud.drain()
        assert cloud.lookup("flaky") is None  # max_attempts: 2 restarts, then it gives up
        assert cloud.status(third).status == "crashed"


def test_services_start_once_however_often_they_are_started():
    with LocalCloud(APP) as cloud:
        cloud.processes.start_services()
        cloud.drain()
        cloud.processes.start_services()
        cloud.drain()
        pid = cloud.lookup("flaky")
        assert cloud.status(pid).version == 1


AUTO_START = """
version: "1.0"
namespace: app
entries:
  - {name: workers, kind: process.host}
  - {name: counter, kind: process.lua, source: file://counter.lua, modules: [time]}
  - name: started
    kind: process.service
    process: app:counter
    host: app:workers
    registry_name: started
    input: [1]
    lifecycle: {auto_start: true}
  - name: idle
    kind: process.service
    process: app:counter
    host: app:workers
    registry_name: idle
    input: [2]
    lifecycle: {restart: {max_attempts: 3}}
"""


def test_a_service_without_auto_start_is_not_started(make_app):
    from infra.plan import load_registry, plan_app
    from runtime.manifest import ManifestWarning

    app = make_app(AUTO_START, {"counter.lua": (APP / "counter.lua").read_text()})
    with pytest.warns(ManifestWarning) as issued, LocalCloud(app) as cloud:
        cloud.drain()
        assert cloud.state(cloud.lookup("started")) == {"n": 1}
        assert cloud.lookup("idle") is None
        # What the deploy's custom resource runs, again: the same rule, still not started.
        cloud.processes.start_services()
        cloud.drain()
        assert cloud.lookup("idle") is None
        (line,) = [line for line in cloud.warnings if "auto_start" in line]
        assert "entry 'app:idle' field 'lifecycle.auto_start': not true" in line
    assert "app:idle" in str(issued[0].message)
    # The deploy starts the same services.
    assert [s.id for s in plan_app(load_registry(app), "units-t").services] == ["app:started"]


def test_worker_batch_uses_one_write_per_actor_and_no_reads_when_warm(cloud):
    pid = cloud.spawn("app:counter", HOST, 0)
    cloud.drain()
    stats = cloud.worker_stats(HOST)
    reads, writes = stats.store_reads, stats.store_writes
    for _ in range(10):
        cloud.send(pid, "inc", 1)
    cloud.drain()
    assert cloud.state(pid) == {"n": 10}
    assert stats.store_writes - writes == 1  # ten messages, one batch, one commit
    assert stats.store_reads - reads == 0  # the warm cache held


def test_bodies_on_the_wire_are_envelopes(cloud):
    pid = cloud.spawn("app:counter", HOST, 0)
    reply = cloud.processes.sqs.receive_message(
        QueueUrl=cloud.processes.system.mailboxes.queues[HOST], AttributeNames=["All"]
    )
    (message,) = reply["Messages"]
    body = json.loads(message["Body"])
    assert (body["kind"], body["to"], body["entry"], body["args"]) == (
        "spawn",
        pid,
        "app:counter",
        [0],
    )
    assert message["Attributes"]["MessageGroupId"] == pid


def test_loop_style_calls_explain_the_handler_model(make_app):
    source = """
        return { handler = function(what)
          local ok, a, b = pcall(process[what], "app:x", "app:h")
          if ok then return b and b:message() end
          return a
        end }
    """
    app = functions_app(make_app, {"f": (source, [])})
    with LocalCloud(app) as cloud:
        assert "take the result from the EXIT event in on_event" in cloud.call("app:f", "exec")
        assert "handle(state, msg)" in cloud.call("app:f", "inbox")
        assert "on_event(state, ev)" in cloud.call("app:f", "events")
        # Without process hosts, process.* says so instead of failing obscurely.
        assert "processes are not available here" in cloud.call("app:f", "spawn")


def test_a_trapped_link_down_forgets_the_link(cloud):
    parent = cloud.spawn("app:parent", HOST, "linked", True)
    cloud.drain()
    child = cloud.state(parent)["child"]
    assert cloud.processes.system.store.load(parent).links == [child]
    cloud.send(parent, "kill_child")
    cloud.drain()
    assert cloud.processes.system.store.load(parent).links == []


def test_actor_log_lines_carry_the_pid(make_app):
    app = make_app(
        """
        version: "1.0"
        namespace: app
        entries:
          - name: workers
            kind: process.host
          - name: talker
            kind: process.lua
            source: file://talker.lua
            modules: [logger]
        """,
        {
            "talker.lua": """
            local logger = require("logger")
            return { handle = function(state, msg) logger.info("got", { topic = msg:topic() }) end }
            """
        },
    )
    with LocalCloud(app) as cloud:
        pid = cloud.spawn("app:talker", "app:workers")
        cloud.send(pid, "hi")
        cloud.drain()
    (line,) = [line for line in cloud.logs if line.message == "got"]
    assert line.fields == {"topic": "hi", "entry": "app:talker", "pid": pid}


def test_a_service_that_ran_long_enough_starts_its_restart_count_over():
    with LocalCloud(APP) as cloud:
        cloud.drain()
        for _ in range(4):  # max_attempts is 2, but each incarnation outlives max_delay (60 s)
            first = cloud.lookup("flaky")
            cloud.advance_time(61)
            cloud.send("flaky", "boom")
            cloud.drain()
            cloud.advance_time(5)  # the first backoff again, not a doubled one
            cloud.drain()
            assert cloud.lookup("flaky") not in (None, first)


OPS = """
-- Exercises the rest of the process API from inside an actor.
local ctx = require("ctx")
local ops = {}

function ops.init()
  return { log = {}, user = ctx.get("user") }
end

function ops.handle(state, msg)
  local t, data = msg:topic(), msg:payload():data()
  local function note(...) state.log[#state.log + 1] = table.concat({ ... }, " ") end
  if t == "register" then
    local ok, err = process.registry.register(data)
    note("register", tostring(ok), err and err:kind() or "-")
  elseif t == "unregister" then
    note("unregister", tostring(process.registry.unregister(data)))
  elseif t == "lookup" then
    local pid, err = process.registry.lookup(data)
    note("lookup", pid == process.pid() and "me" or tostring(pid), err and err:kind() or "-")
  elseif t == "bad_payload" then
    local ok, err = process.send(process.pid(), "x", { f = function() end })
    note("send", tostring(ok), err:kind(), err:message())
  elseif t == "spawn_ctx" then
    state.child = process.with_context({ user = "ada" }):spawn("app:ops", "app:workers")
  elseif t == "cancel" then
    process.cancel(data, "shutting down")
  end
  return state
end

function ops.on_event(state, ev)
  state.log[#state.log + 1] = ev.kind .. " " .. tostring(ev.reason)
  if ev.kind == process.event.CANCEL then process.exit("cleaned up") end
  return state
end

return ops
"""


@pytest.fixture
def ops(make_app):
    app = make_app(
        """
        version: "1.0"
        namespace: app
        entries:
          - name: workers
            kind: process.host
          - name: ops
            kind: process.lua
            source: file://ops.lua
            modules: [ctx]
        """,
        {"ops.lua": OPS},
    )
    with LocalCloud(app) as cloud:
        yield cloud


def test_registry_calls_from_an_actor(ops):
    a = ops.spawn("app:ops", "app:workers")
    b = ops.spawn("app:ops", "app:workers")
    ops.drain()
    for topic, data in [
        ("register", "svc"),
        ("lookup", "svc"),
        ("unregister", "svc"),
        ("lookup", "svc"),
    ]:
        ops.send(a, topic, data)
    ops.drain()
    ops.send(a, "register", "svc")
    ops.send(b, "register", "svc")
    ops.drain()
    assert ops.state(a)["log"] == [
        "register true -",
        "lookup me -",
        "unregister true",
        "lookup nil NotFound",
        "register true -",
    ]
    assert ops.state(b)["log"] == ["register nil AlreadyExists"]


def test_a_payload_the_codec_refuses_is_nil_err_and_nothing_is_lost(ops):
    pid = ops.spawn("app:ops", "app:workers")
    ops.drain()
    ops.send(pid, "bad_payload")
    ops.drain()
    (line,) = ops.state(pid)["log"]
    assert line == "send nil Invalid payload.f: a function cannot be sent"
    assert ops.status(pid).status == "running"


def test_with_context_reaches_the_child_and_cancel_lets_it_clean_up(ops):
    parent = ops.spawn("app:ops", "app:workers")
    ops.drain()
    ops.send(parent, "spawn_ctx")
    ops.drain()
    child = ops.state(parent)["child"]
    assert ops.state(child)["user"] == "ada"
    ops.send(parent, "cancel", child)
    ops.drain()
    status = ops.status(child)
    assert (status.status, status.result) == ("exited", "cleaned up")
    assert ops.state(child)["log"] == ["CANCEL shutting down"]
