"""Supervision trees: process.service entries with children, run by the kit's supervisor."""

from __future__ import annotations

import pytest

from runtime.manifest import ManifestWarning
from runtime.testing import LocalCloud

MEMBER = """
-- A child that crashes on "boom" and stops normally on "stop".
return {
  init = function() return { pid = process.pid() } end,
  handle = function(state, msg)
    if msg:topic() == "boom" then error("member down") end
    if msg:topic() == "stop" then process.exit("bye") end
    return state
  end,
}
"""


#: The same child as Wippy writes it: a loop over its inbox.
LOOP_MEMBER = """
return function()
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    if msg:topic() == "boom" then error("member down") end
    if msg:topic() == "stop" then return "bye" end
  end
end
"""


def tree_app(make_app, strategy, *, c_type="permanent", max_restarts=3, loop=False):
    index = f"""
    version: "1.0"
    namespace: app
    entries:
      - name: workers
        kind: process.host
      - name: member
        kind: process.lua
        source: file://member.lua
        {"method: main" if loop else ""}
      - name: a
        kind: process.service
        process: app:member
        host: app:workers
        registry_name: a
      - name: b
        kind: process.service
        process: app:member
        host: app:workers
        registry_name: b
      - name: c
        kind: process.service
        process: app:member
        host: app:workers
        registry_name: c
        lifecycle:
          restart:
            type: {c_type}
      - name: tree
        kind: process.service
        registry_name: tree
        lifecycle:
          auto_start: true
        children: [app:a, app:b, app:c]
        strategy: {strategy}
        intensity:
          max_restarts: {max_restarts}
          period: 60s
    """
    return make_app(index, {"member.lua": LOOP_MEMBER if loop else MEMBER})


def names(cloud):
    return {n: cloud.lookup(n) for n in ("a", "b", "c")}


@pytest.mark.parametrize("loop", [False, True], ids=["handler-style", "loop-style"])
@pytest.mark.parametrize(
    ("strategy", "restarted"),
    [("one_for_one", {"b"}), ("one_for_all", {"a", "b", "c"}), ("rest_for_one", {"b", "c"})],
)
def test_strategies_restart_the_right_children(make_app, strategy, restarted, loop):
    with LocalCloud(tree_app(make_app, strategy, loop=loop)) as cloud:
        cloud.drain()
        before = names(cloud)
        assert all(before.values()) and cloud.lookup("tree") is not None
        cloud.send("b", "boom")
        cloud.drain()
        after = names(cloud)
        assert all(after.values()), after
        changed = {n for n in before if before[n] != after[n]}
        assert changed == restarted
        for name in restarted:
            assert cloud.status(before[name]).status == "crashed"
            assert cloud.status(after[name]).status == "running"
            if not loop:
                assert cloud.state(after[name]) == {"pid": after[name]}


@pytest.mark.parametrize("loop", [False, True], ids=["handler-style", "loop-style"])
def test_restart_types(make_app, loop):
    with LocalCloud(tree_app(make_app, "one_for_one", c_type="transient", loop=loop)) as cloud:
        cloud.drain()
        first_c = cloud.lookup("c")
        cloud.send("c", "stop")  # a normal exit: a transient child stays down
        cloud.drain()
        assert cloud.lookup("c") is None
        assert cloud.status(first_c).result == "bye"
        cloud.send("a", "stop")  # permanent: back even after a normal exit
        cloud.drain()
        assert cloud.lookup("a") is not None


def test_past_its_intensity_the_supervisor_gives_up_and_escalates(make_app):
    with LocalCloud(tree_app(make_app, "one_for_one", max_restarts=2)) as cloud:
        cloud.drain()
        supervisor = cloud.lookup("tree")
        for _ in range(2):
            cloud.send("a", "boom")
            cloud.drain()
        assert cloud.status(supervisor).status == "running"
        cloud.send("a", "boom")
        cloud.drain()
        status = cloud.status(supervisor)
        assert status.status == "crashed"
        assert (
            "supervisor gave up: more than 2 restarts in 60s (last: app:a)"
            in (status.error["message"])
        )
        # Its children went with it (terminated, not restarted).
        assert names(cloud) == {"a": None, "b": None, "c": None}
        # The root is itself a service: restarted with its backoff, children and all.
        cloud.advance_time(2)
        cloud.drain()
        assert cloud.lookup("tree") not in (None, supervisor)
        assert all(names(cloud).values())


def two_trees_app(make_app):
    """``started`` (auto_start: true) over a child that says auto_start: false, and ``idle``
    (no auto_start) over a child that says auto_start: true."""
    index = """
    version: "1.0"
    namespace: app
    entries:
      - {name: workers, kind: process.host}
      - {name: member, kind: process.lua, source: file://member.lua}
      - name: quiet
        kind: process.service
        process: app:member
        host: app:workers
        registry_name: quiet
        lifecycle: {auto_start: false}
      - name: eager
        kind: process.service
        process: app:member
        host: app:workers
        registry_name: eager
        lifecycle: {auto_start: true}
      - name: started
        kind: process.service
        registry_name: started
        children: [app:quiet]
        lifecycle: {auto_start: true}
      - name: idle
        kind: process.service
        registry_name: idle
        children: [app:eager]
    """
    return make_app(index, {"member.lua": MEMBER})


def test_a_tree_starts_its_children_and_only_auto_start_trees_start(make_app):
    with pytest.warns(ManifestWarning), LocalCloud(two_trees_app(make_app)) as cloud:
        cloud.drain()
        # A child is its tree's to start: its own auto_start is not what decides.
        assert cloud.lookup("started") is not None and cloud.lookup("quiet") is not None
        assert cloud.lookup("idle") is None and cloud.lookup("eager") is None
        # Only the tree that is never started is reported, not the children.
        lines = [line for line in cloud.warnings if "auto_start" in line]
        assert len(lines) == 1 and "entry 'app:idle'" in lines[0]
