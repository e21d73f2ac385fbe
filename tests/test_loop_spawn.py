"""A loop-style process's spawn batch: the process is in DynamoDB when it is done, so a cold
worker (a new Lambda instance) finds it; a redelivered spawn starts it once; the absent item is
read once (regression tests for what bench/loops.py first found broken)."""

from __future__ import annotations

import pytest

from runtime.testing import LocalCloud
from tests.conftest import ROOT

APP = ROOT / "tests" / "apps" / "loops"
HOST = "app:procs"


@pytest.fixture
def cloud():
    with LocalCloud(APP, auto_start=False) as c:
        yield c


def _cold(cloud: LocalCloud) -> None:
    """Drop the worker's warm processes, as a new Lambda instance has none."""
    assert cloud.processes is not None
    cloud.processes.hosts[HOST].worker.loops.warm.clear()


def test_a_spawned_loop_process_survives_a_cold_worker_before_its_first_message(cloud):
    pid = cloud.spawn("app:counter", HOST, 5)
    cloud.drain()
    assert cloud.status(pid).status == "running"  # its head is written by the spawn batch

    _cold(cloud)
    cloud.send(pid, "inc", 2)
    cloud.send(pid, "stop")
    cloud.drain()

    status = cloud.status(pid)
    assert (status.status, status.result) == ("exited", 7)
    assert cloud.dead_letters(HOST) == []


def test_a_redelivered_spawn_of_a_loop_process_starts_it_once(cloud):
    pid = cloud.spawn("app:counter", HOST, 1)
    cloud.crash_at("after_send", pid)  # the spawn batch ran, its delete never came
    cloud.drain()
    cloud.send(pid, "inc", 1)
    cloud.send(pid, "stop")
    cloud.drain()

    assert cloud.status(pid).result == 2


def test_a_loop_spawn_reads_the_absent_item_once(cloud):
    cloud.spawn("app:counter", HOST)
    cloud.drain()

    stats = cloud.worker_stats(HOST)
    assert (stats.store_reads, stats.store_writes) == (1, 1)
