"""Supervision trees: process.service entries with children, run by the kit's supervisor."""

from __future__ import annotations

import pytest

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


def tree_app(make_app, strategy, *, c_type="permanent", max_restarts=3):
    index = f"""
    version: "1.0"
    namespace: app
    entries:
      - name: workers
        kind: process.host
      - name: member
        kind: process.lua
        source: file://member.lua
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
        children: [app:a, app:b, app:c]
        strategy: {strategy}
        intensity:
          max_restarts: {max_restarts}
          period: 60s
    """
    return make_app(index, {"member.lua": MEMBER})


def names(cloud):
    return {n: cloud.lookup(n) for n in ("a", "b", "c")}


@pytest.mark.parametrize(
    ("strategy", "restarted"),
    [("one_for_one", {"b"}), ("one_for_all", {"a", "b", "c"}), ("rest_for_one", {"b", "c"})],
)
def test_strategies_restart_the_right_children(make_app, strategy, restarted):
    with LocalCloud(tree_app(make_app, strategy)) as cloud:
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
            assert cloud.state(after[name]) == {"pid": after[name]}


def test_restart_types(make_app):
    with LocalCloud(tree_app(make_app, "one_for_one", c_type="transient")) as cloud:
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
