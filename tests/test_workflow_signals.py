"""Every signal a run is sent reaches its code: what a step holds is delivered before the code
runs on (a non-blocking select sees all of it), a run does not end while news came during its
last step, and continue-as-new carries what the old generation held unread, each once."""

from __future__ import annotations

import pytest

from runtime.durable import events as ev
from runtime.durable.replay import Replay
from runtime.testing import LocalCloud

APP = """
version: "1.0"
namespace: app
entries:
  - name: wf
    kind: workflow.host
  - name: drain
    kind: workflow.lua
    source: file://drain.lua
  - name: drain_first
    kind: workflow.lua
    source: file://drain_first.lua
  - name: relay
    kind: workflow.lua
    source: file://relay.lua
    modules: [workflow]
  - name: peek
    kind: workflow.lua
    source: file://peek.lua
"""

# Takes one signal (blocking), then drains what else is there without blocking.
DRAIN = """
return function()
  local inbox = process.inbox()
  local got = {inbox:receive():payload():data()}
  while true do
    local r = channel.select{inbox:case_receive(), default = true}
    if r.default then break end
    got[#got + 1] = r.value:payload():data()
  end
  return got
end
"""

# Drains before it ever blocks: a run started and signalled at once sees the signal.
DRAIN_FIRST = """
return function()
  local r = channel.select({process.listen("go"):case_receive()}, true)
  return {first = r.default and "nothing" or r.value}
end
"""

# Reads one signal per generation and continues as new, until "stop".
RELAY = """
local workflow = require("workflow")
return function(input)
  local seen = input.seen or {}
  local msg = process.inbox():receive()
  seen[#seen + 1] = msg:payload():data()
  if msg:topic() == "stop" then
    return {seen = seen, generation = workflow.info().generation}
  end
  workflow.continue_as_new({seen = seen})
end
"""


# Looks without blocking, then waits: what its first look saw must replay the same.
PEEK = """
return function()
  local inbox = process.inbox()
  local first = channel.select({inbox:case_receive()}, true)
  local msg = inbox:receive()
  return {first = first.default and "nothing" or "something", after = msg:payload():data()}
end
"""


@pytest.fixture
def cloud(make_app):
    files = {
        "drain.lua": DRAIN,
        "drain_first.lua": DRAIN_FIRST,
        "relay.lua": RELAY,
        "peek.lua": PEEK,
    }
    app = make_app(APP, files)
    with LocalCloud(app) as c:
        yield c


def test_signals_held_by_one_step_are_all_seen_by_a_non_blocking_drain(cloud):
    run_id = cloud.start_workflow("app:drain", None)
    cloud.signal(run_id, "n", 1)
    cloud.signal(run_id, "n", 2)
    cloud.signal(run_id, "n", 3)
    cloud.run_workflows()
    assert cloud.result(run_id).result == [1, 2, 3]
    batch = [e for e in cloud.history(run_id) if e["type"] == "SignalReceived"]
    assert batch[0]["batch"] == 3  # the replay delivers them together too


def test_a_run_started_and_signalled_at_once_sees_the_signal_before_it_blocks(cloud):
    run_id = cloud.start_workflow("app:drain_first", None)
    cloud.signal(run_id, "go", "now")
    cloud.run_workflows()
    assert cloud.result(run_id).result == {"first": "now"}


def test_a_run_ending_while_a_signal_arrives_takes_it_first(cloud, monkeypatch):
    run_id = cloud.start_workflow("app:drain", None)
    cloud.run_workflows()
    original = Replay.resume
    sent = []

    def resume_then_signal(self, events, now):
        result = original(self, events, now)
        if not sent:
            sent.append(True)  # arrives while the step's code runs to its end
            cloud.signal(run_id, "n", "late")
        return result

    monkeypatch.setattr(Replay, "resume", resume_then_signal)
    cloud.signal(run_id, "n", "first")
    cloud.run_workflows()
    assert cloud.result(run_id).result == ["first", "late"]


def test_signals_before_and_during_continue_as_new_each_reach_a_generation_once(cloud):
    # The step Lambda is held until all four signals are in: its first step holds them all
    # (else moto's thread may step the run between two signals, and the split differs).
    with cloud.workflows.hosts["app:wf"].lock:
        run_id = cloud.start_workflow("app:relay", {})
        for word in ("a", "b", "c"):
            cloud.signal(run_id, "w", word)
        cloud.signal(run_id, "stop", "d")
    cloud.run_workflows()
    result = cloud.result(run_id)
    assert result.result == {"seen": ["a", "b", "c", "d"], "generation": 4}
    history = cloud.history(run_id)
    carried = [e.get("carried") for e in history if e["type"] == "WorkflowStarted"]
    assert [len(c or []) for c in carried] == [0, 3, 2, 1]


def test_a_signal_after_the_first_step_is_not_replayed_as_if_it_came_before_it(cloud):
    run_id = cloud.start_workflow("app:peek", None)
    cloud.run_workflows()  # the first step looks, finds nothing, waits (and appends nothing)
    cloud.signal(run_id, "n", "x")
    cloud.run_workflows()
    assert cloud.result(run_id).result == {"first": "nothing", "after": "x"}
    history = cloud.history(run_id)
    assert not any(e.get("at_start") for e in history)
    # A cold replay (a new container) takes the same path.
    events = [ev.Event.from_dict(e) for e in history]
    replayed = Replay(cloud.engine, "app:peek", run_id, events[:-1]).run(events[-1].time)
    assert (replayed.status, replayed.result) == ("completed", {"first": "nothing", "after": "x"})
