"""Loop-style processes (Wippy's ``main`` with ``process.inbox()``): durable coroutines on a
process host, their journal in DynamoDB, through the harness (moto)."""

from __future__ import annotations

import pytest

from runtime.durable import events as ev
from runtime.engine import Limits
from runtime.inspection import Inspector
from runtime.testing import LocalCloud
from tests.conftest import ROOT

APP = ROOT / "tests" / "apps" / "loops"
HOST = "app:procs"


@pytest.fixture
def cloud():
    with LocalCloud(APP, auto_start=False) as c:
        yield c


def _ask(cloud, sink: str, pid: str, topic: str) -> None:
    """Make ``sink`` send ``topic`` to ``pid``, so the reply comes back to the sink."""
    cloud.send(sink, "ask", {"to": pid, "topic": topic})


def test_a_loop_process_reads_its_inbox_sleeps_calls_and_exits(cloud):
    pid = cloud.spawn("app:counter", HOST, 5)
    cloud.send(pid, "inc", 2)
    cloud.drain()
    assert cloud.status(pid).status == "running"
    cloud.send(pid, "double")
    cloud.send(pid, "inc", 1)
    cloud.send(pid, "nap")
    cloud.drain()
    assert cloud.status(pid).status == "running"  # asleep on a durable timer
    cloud.advance_time(11)
    cloud.drain()
    cloud.send(pid, "stop")
    cloud.drain()
    status = cloud.status(pid)
    assert (status.status, status.result) == ("exited", (5 + 2) * 2 + 1 + 1000)
    types = [e["type"] for e in cloud.journal(pid)]
    assert types[0] == ev.PROCESS_STARTED and types[-1] == ev.PROCESS_EXITED
    assert ev.ACTIVITY_COMPLETED in types and ev.TIMER_FIRED in types


def test_a_reply_goes_to_the_sender_and_order_is_kept(cloud):
    sink = cloud.spawn("app:sink", HOST)
    counter = cloud.spawn("app:counter", HOST, 0)
    cloud.drain()
    for i in range(1, 6):
        cloud.send(counter, "inc", i)
        cloud.send(sink, "n", i)
    _ask(cloud, sink, counter, "get")
    cloud.drain()
    assert cloud.received(sink, "n") == [1, 2, 3, 4, 5]
    assert cloud.received(sink, "value") == [15]


def test_a_warm_process_costs_one_write_and_no_read_per_batch(cloud):
    pid = cloud.spawn("app:counter", HOST, 0)
    cloud.drain()
    stats = cloud.worker_stats(HOST)
    reads, writes = stats.store_reads, stats.store_writes
    for _ in range(5):
        cloud.send(pid, "inc", 1)
        cloud.drain()
    assert (stats.store_reads - reads, stats.store_writes - writes) == (0, 5)


def test_a_cold_worker_replays_the_journal_and_never_reruns_a_call(cloud):
    pid = cloud.spawn("app:counter", HOST, 3)
    cloud.send(pid, "double")
    cloud.drain()
    worker = cloud.processes.hosts[HOST].worker
    calls = worker.loops.inline.attempts
    worker.loops.warm.clear()  # a cold container
    cloud.send(pid, "inc", 1)
    cloud.send(pid, "stop")
    cloud.drain()
    assert cloud.status(pid).result == 7
    assert worker.loops.inline.attempts == calls  # the journaled result was used


def test_ping_pong_services_find_each_other_through_the_registry(cloud):
    pids = cloud.processes.start_services()
    cloud.drain()
    for _ in range(3):  # ping waits for the name with a durable sleep
        cloud.advance_time(1)
        cloud.drain()
    ping = next(p for p in pids if "ping" in p)
    assert cloud.status(ping).status == "exited", cloud.status(ping).error
    assert cloud.status(ping).result == [1, 2, 3]
    assert cloud.lookup("pong") is not None


def test_process_exec_waits_durably_for_the_result(cloud):
    sink = cloud.spawn("app:sink", HOST)
    boss = cloud.spawn("app:boss", HOST, "exec", sink)
    cloud.drain()
    [report] = cloud.received(sink, "exec")
    assert report["value"] == 42 and "err" not in report
    assert "negative: -1" in report["failed"]
    assert cloud.status(boss).result == "done"


def test_a_trapping_process_gets_link_down_and_lives(cloud):
    sink = cloud.spawn("app:sink", HOST)
    boss = cloud.spawn("app:boss", HOST, "trap", sink)
    cloud.drain()
    [report] = cloud.received(sink, "event")
    assert report["kind"] == "LINK_DOWN" and report["from_child"] and report["opts"] is True
    assert "negative: -5" in report["error"]
    assert cloud.status(boss).result == "survived"


def test_an_untrapped_link_down_takes_the_process_down(cloud):
    boss = cloud.spawn("app:boss", HOST, "link", None)
    cloud.drain()
    status = cloud.status(boss)
    assert status.status == "crashed" and "went down" in status.error["message"]


def test_a_monitor_gets_exit_with_the_result_value(cloud):
    sink = cloud.spawn("app:sink", HOST)
    boss = cloud.spawn("app:boss", HOST, "monitor", sink)
    cloud.drain()
    [report] = cloud.received(sink, "event")
    assert report == {"kind": "EXIT", "from_child": True, "value": 8}
    assert cloud.status(boss).result == 8


def test_a_crashed_service_is_restarted_under_its_name(cloud):
    cloud.processes.start_services()
    cloud.drain()
    first = cloud.lookup("fragile")
    assert first is not None
    cloud.send("fragile", "crash")
    cloud.drain()
    assert cloud.status(first).status == "crashed"
    assert "asked to crash" in cloud.status(first).error["message"]
    cloud.advance_time(2)
    cloud.drain()
    second = cloud.lookup("fragile")
    assert second is not None and second != first
    assert cloud.status(second).status == "running"


def test_upgrade_starts_a_new_generation_with_the_state_and_keeps_the_pid(cloud):
    sink = cloud.spawn("app:sink", HOST)
    pid = cloud.spawn("app:phoenix", HOST)
    cloud.drain()
    for _ in range(3):
        cloud.send(pid, "tick")
    cloud.send(pid, "upgrade")
    cloud.send(pid, "tick")
    cloud.drain()
    journal = cloud.journal(pid)
    assert journal[0]["type"] == ev.PROCESS_STARTED and journal[0]["args"] == [3, 2]
    assert len(journal) < 8  # the old generation's events are not replayed any more
    _ask(cloud, sink, pid, "get")
    cloud.drain()
    assert cloud.received(sink, "state") == [{"count": 4, "generation": 2}]


def test_a_message_the_code_never_reads_stays_in_its_inbox_and_shows(cloud):
    pid = cloud.spawn("app:counter", HOST, 0)
    cloud.send(pid, "nap")
    cloud.send(pid, "unread", {"x": 1})
    cloud.drain()
    assert cloud.status(pid).status == "running"
    assert cloud.received(pid, "unread") == [{"x": 1}]
    system = cloud.processes.system
    view = Inspector(system.store.client, system.store.table)
    detail = view.process(pid)
    assert detail.style == "loop"
    assert detail.state["inbox"] == [{"topic": "unread", "from": None, "payload": {"x": 1}}]
    assert detail.state["generation"] == 1 and detail.state["journal_events"] > 3
    [listed] = [p for p in view.processes() if p.pid == pid]
    assert listed.style == "loop" and listed.journal == 1  # one append so far (the start)
    cloud.advance_time(11)  # the nap ends; the next receive takes the message
    cloud.drain()
    assert view.process(pid).state["inbox"] == []
    [listed] = [p for p in view.processes() if p.pid == pid]
    assert listed.journal > 1


def test_a_message_too_large_for_the_journal_crashes_that_process_alone(cloud):
    big = cloud.spawn("app:sink", HOST)
    other = cloud.spawn("app:counter", HOST, 1)
    cloud.send(big, "n", 1)
    cloud.drain()
    before = cloud.journal(big)
    cloud.send(big, "n", "x" * (500 * 1024))  # fits in SQS (1 MB), not in a journal item
    cloud.send(other, "inc", 1)
    cloud.drain()
    status = cloud.status(big)
    assert status.status == "crashed"
    assert "over the 389120 bytes a journal item holds" in status.error["message"]
    after = cloud.journal(big)
    assert after[: len(before)] == before  # the last journal intact, the ending added
    assert after[-1]["type"] == "ProcessCrashed" and len(after) == len(before) + 1
    cloud.send(other, "stop")
    cloud.drain()
    assert cloud.status(other).result == 2


def test_a_process_that_waits_on_nothing_forever_is_not_a_crash(make_app):
    app = make_app(
        """
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host}
  - {name: idle, kind: process.lua, source: file://idle.lua, method: main}
""",
        {"idle.lua": "return function() channel.new():receive() end"},
    )
    with LocalCloud(app, auto_start=False) as other:
        pid = other.spawn("app:idle", "app:procs")
        other.drain()
        assert other.status(pid).status == "running"


def test_outside_effects_are_refused_in_loop_process_code(make_app):
    app = make_app(
        """
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host}
  - {name: files, kind: fs.directory, directory: ./data}
  - {name: p, kind: process.lua, source: file://p.lua, method: main, modules: [fs]}
""",
        {
            "p.lua": """
local fs = require("fs")
return function()
  local _, err = fs.get("app:files")
  return tostring(err)
end
"""
        },
    )
    with LocalCloud(app, auto_start=False) as other:
        pid = other.spawn("app:p", "app:procs")
        other.drain()
        result = other.status(pid).result
        assert "not available in a loop-style process's code" in result
        assert "funcs.call" in result


def test_a_long_journal_logs_one_warning_past_the_hosts_threshold(make_app, caplog):
    app = make_app(
        """
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, journal_warning: 20}
  - {name: sink, kind: process.lua, source: file://sink.lua, method: main}
""",
        {"sink.lua": (APP / "sink.lua").read_text()},
    )
    with LocalCloud(app, auto_start=False) as other:
        pid = other.spawn("app:sink", "app:procs")
        other.drain()
        with caplog.at_level("WARNING", logger="units.processes"):
            for i in range(30):
                other.send(pid, "n", i)
                other.drain()
        warnings = [r.getMessage() for r in caplog.records if "journal holds" in r.getMessage()]
        assert len(warnings) == 1
        assert "over 20" in warnings[0] and "process.upgrade(nil, state)" in warnings[0]


def test_a_remote_function_is_invoked_through_its_lambda_and_journaled(cloud):
    pid = cloud.spawn("app:counter", HOST, 2)
    cloud.send(pid, "triple")
    cloud.send(pid, "stop")
    cloud.drain()
    assert cloud.status(pid).result == 6
    [done] = [e for e in cloud.journal(pid) if e["type"] == ev.ACTIVITY_COMPLETED]
    assert done["value"] == 6


def test_code_that_upgrades_without_end_never_holds_a_batch_forever(make_app):
    app = make_app(
        """
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host}
  - {name: churn, kind: process.lua, source: file://churn.lua, method: main}
""",
        {
            "churn.lua": """
return function(n)
  n = n or 0
  if n >= 25 then return n end
  process.upgrade(nil, n + 1)
end
"""
        },
    )
    with LocalCloud(app, auto_start=False) as other:
        pid = other.spawn("app:churn", "app:procs")
        batches = other.drain()
        assert other.status(pid).result == 25
        assert batches >= 3  # 25 generations, at most 10 per batch
        assert other.journal(pid)[0]["args"] == [25]


def test_listen_inbox_and_a_timeout_in_one_select(cloud):
    sink = cloud.spawn("app:sink", HOST)
    pid = cloud.spawn("app:listener", HOST, sink)
    cloud.drain()
    cloud.send(pid, "jobs", {"n": 1})
    cloud.send(pid, "hello", "there")
    cloud.drain()
    assert cloud.received(sink, "job") == [{"n": 1}]
    assert cloud.received(sink, "other") == [{"topic": "hello", "data": "there"}]
    assert cloud.received(sink, "idle") == []
    cloud.advance_time(6)
    cloud.drain()
    [idle] = cloud.received(sink, "idle")
    assert idle == int(cloud.clock.now())  # the time of the timer's input
    cloud.send(pid, "unlisten")
    cloud.drain()
    cloud.send(pid, "jobs", {"n": 2})  # no listener now: it goes to the inbox
    cloud.drain()
    assert cloud.received(sink, "other")[-1] == {"topic": "jobs", "data": {"n": 2}}
    cloud.processes.hosts[HOST].worker.loops.warm.clear()  # a cold replay takes the same path
    cloud.send(pid, "jobs", {"n": 3})
    cloud.drain()
    assert cloud.received(sink, "other")[-1] == {"topic": "jobs", "data": {"n": 3}}


def test_a_runaway_loop_of_operations_stops_at_the_cpu_ceiling(make_app):
    """Each turn of this loop is a timer made and a select that is ready at once: almost all
    of its time is spent in the kit's Python, and it still stops at its CPU ceiling."""
    app = make_app(
        """
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host}
  - {name: spin, kind: process.lua, source: file://spin.lua, method: main, modules: [time]}
  - {name: calm, kind: process.lua, source: file://calm.lua, method: main}
""",
        {
            "spin.lua": """
local time = require("time")
return function()
  local closed = channel.new()
  closed:close()
  while true do
    channel.select { closed:case_receive(), time.after("1s"):case_receive() }
  end
end
""",
            "calm.lua": "return function() return 'fine' end",
        },
    )
    with LocalCloud(app, auto_start=False, limits=Limits(cpu_seconds=0.5)) as other:
        spin = other.spawn("app:spin", "app:procs")
        calm = other.spawn("app:calm", "app:procs")
        other.drain()
        status = other.status(spin)
        assert status.status == "crashed" and status.error["kind"] == "Timeout"
        assert "CPU time limit exceeded" in status.error["message"]
        assert other.status(calm).result == "fine"


def test_an_ended_process_and_its_journal_expire_after_the_hosts_retention(cloud):
    pid = cloud.spawn("app:counter", HOST, 0)
    cloud.drain()
    for _ in range(3):
        cloud.send(pid, "inc", 1)
        cloud.drain()
    store = cloud.processes.system.store
    items = store.client.query(
        TableName=store.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"p#{pid}"}},
    )["Items"]
    assert len(items) >= 4 and not any("ttl" in i for i in items)  # running: kept
    cloud.send(pid, "stop")
    cloud.drain()
    ended = cloud.clock.now()
    items = store.client.query(
        TableName=store.table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"p#{pid}"}},
    )["Items"]
    assert {int(i["ttl"]["N"]) for i in items} == {int(ended + 720 * 3600)}


WORKFLOW_APP = """
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host}
  - {name: flows, kind: workflow.host}
  - {name: wf, kind: workflow.lua, source: file://wf.lua}
  - name: starter
    kind: process.lua
    source: file://starter.lua
    method: main
    modules: [workflow]
"""


def test_a_loop_process_starts_a_workflow_once_and_is_no_workflow_itself(make_app):
    app = make_app(
        WORKFLOW_APP,
        {
            "wf.lua": "return function(input) return input.n * 10 end",
            "starter.lua": """
local workflow = require("workflow")
return function()
  local inbox = process.inbox()
  local pids = {}
  while true do
    local msg = inbox:receive()
    if msg:topic() == "stop" then
      local _, info_err = workflow.info()
      local _, exec_err = workflow.exec("app:wf", { n = 1 })
      return { pids = pids, info = tostring(info_err), exec = tostring(exec_err) }
    end
    local pid, err = workflow.start("app:wf", { n = msg:payload():data() })
    if err then error(err) end
    table.insert(pids, pid)
  end
end
""",
        },
    )
    with LocalCloud(app, auto_start=False) as cloud:
        pid = cloud.spawn("app:starter", "app:procs")
        cloud.send(pid, "go", 4)
        cloud.drain()
        cloud.processes.hosts["app:procs"].worker.loops.warm.clear()  # a cold replay
        cloud.send(pid, "go", 5)
        cloud.send(pid, "stop")
        cloud.drain()
        cloud.run_workflows()
        result = cloud.status(pid).result
        assert len(result["pids"]) == 2 and len(set(result["pids"])) == 2
        assert "not running in a workflow" in result["info"]
        assert "only a workflow can do durably" in result["exec"]
        runs = [p.split("/", 1)[1] for p in result["pids"]]
        assert [cloud.result(r).result for r in runs] == [40, 50]  # each started once
        store = cloud.processes.system.store
        assert len(Inspector(store.client, store.table).runs()) == 2  # each started once


def test_terminate_stops_a_loop_process_with_no_say_and_its_monitor_hears(cloud):
    from runtime.processes.context import DirectContext

    relay = cloud.spawn("app:counter", HOST, 0)
    boss = cloud.spawn("app:boss", HOST, "watch", relay)
    cloud.drain()
    DirectContext(cloud.processes.system).terminate(relay)
    cloud.send(relay, "inc", 1)  # after the terminate: dropped
    cloud.drain()
    status = cloud.status(relay)
    assert (status.status, status.error["kind"]) == ("crashed", "Canceled")
    assert status.error["message"] == "terminated by a function"
    assert cloud.status(boss).result == "EXIT"


def test_set_options_takes_wippys_options_and_names_an_unknown_one(make_app):
    app = make_app(
        """
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host}
  - {name: p, kind: process.lua, source: file://p.lua, method: main}
""",
        {
            "p.lua": """
return function()
  local ok = process.set_options({ trap_links = true, upgradable = true })
  local _, err = process.set_options({ bogus = true })
  local opts = process.get_options()
  return { ok = ok, err = err:message(), trap = opts.trap_links, up = opts.upgradable }
end
"""
        },
    )
    with LocalCloud(app, auto_start=False) as other:
        pid = other.spawn("app:p", "app:procs")
        other.drain()
        assert other.status(pid).result == {
            "ok": True,
            "err": "process.set_options: option bogus is not supported",
            "trap": True,
            "up": True,
        }
