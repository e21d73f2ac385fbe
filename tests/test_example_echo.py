"""examples/echo: Wippy's process model as its docs write it, run unmodified: services that find
each other through the registry, an HTTP handler spawning a worker that reports back, a
supervised service crashing and restarted, process.exec, links with trap_links."""

from __future__ import annotations

import pytest

from runtime.testing import LocalCloud
from tests.conftest import EXAMPLES

APP = EXAMPLES / "echo"
HOST = "app:processes"


@pytest.fixture
def cloud():
    with LocalCloud(APP) as c:
        c.drain()  # the services start, ping waits for pong on a durable timer
        c.advance_time(1)
        c.drain()
        yield c


def echo(cloud, text):
    r = cloud.http("POST", "/echo", body={"text": text})
    assert r.status == 202, r.body
    cloud.drain()
    return r.body["id"]


def test_ping_and_pong_find_each_other_through_the_registry(cloud):
    [ping] = [p.pid for p in _processes(cloud) if p.entry == "app:ping"]
    assert cloud.status(ping).status == "running"
    assert cloud.received(ping, "pong") == [1, 2, 3]
    pong = cloud.lookup("pong")
    assert pong is not None and cloud.received(pong, "ping") == [1, 2, 3]


def test_an_http_handler_spawns_a_worker_that_reports_back(cloud):
    ident = echo(cloud, "hello")
    r = cloud.http("GET", f"/echo/{ident}")
    assert r.status == 200
    assert r.body["id"] == ident and r.body["text"] == "HELLO"
    worker = r.body["worker"]
    assert worker.startswith(HOST + "/") and cloud.status(worker).status == "exited"
    assert cloud.http("GET", "/echo/nope").status == 404
    assert cloud.http("POST", "/echo", body={"nope": 1}).status == 400


def test_process_exec_checks_a_job_and_waits_for_it(cloud):
    r = cloud.http("POST", "/echo/job-1/check", body={"text": "again"})
    assert r.status == 202
    cloud.drain()
    r = cloud.http("GET", "/echo/job-1")
    assert (r.status, r.body["text"], r.body["checked"]) == (200, "AGAIN", True)
    cloud.http("POST", "/echo/job-2/check", body={})
    cloud.drain()
    r = cloud.http("GET", "/echo/job-2")
    assert "nothing to echo" in r.body["error"]


def test_the_relay_traps_its_heartbeat_link_and_starts_another(cloud):
    relay = cloud.lookup("relay")
    before = [p.pid for p in _processes(cloud) if p.entry == "app:heartbeat"]
    cloud.send("relay", "heartbeat")
    cloud.drain()
    after = [p for p in _processes(cloud) if p.entry == "app:heartbeat"]
    assert cloud.status(relay).status == "running"
    assert [p.status for p in after if p.pid in before] == ["crashed"]
    assert [p.status for p in after if p.pid not in before] == ["running"]
    # The relay's links as its journal has them: the new heartbeat only (the old went down).
    from runtime.inspection import Inspector

    store = cloud.processes.system.store
    detail = Inspector(store.client, store.table).process(relay)
    assert detail.links == [p.pid for p in after if p.pid not in before]
    assert echo(cloud, "still here")  # and the relay still works


def test_a_crashed_relay_is_restarted_under_its_name_and_serves_again(cloud):
    first = cloud.lookup("relay")
    r = cloud.http("POST", "/relay/crash")
    assert r.status == 202
    cloud.drain()
    status = cloud.status(first)
    assert status.status == "crashed" and "asked to crash" in status.error["message"]
    assert cloud.http("POST", "/echo", body={"text": "x"}).status == 503  # no relay now
    cloud.advance_time(1)  # the restart's backoff
    cloud.drain()
    second = cloud.lookup("relay")
    assert second not in (None, first)
    ident = echo(cloud, "back")
    assert cloud.http("GET", f"/echo/{ident}").body["text"] == "BACK"


def _processes(cloud):
    from runtime.inspection import Inspector

    store = cloud.processes.system.store
    return Inspector(store.client, store.table).processes()


def test_the_example_runs_the_same_in_units_dev(tmp_path):
    import shutil

    from runtime.dev import DevStack
    from runtime.dev.logs import LogHub
    from tests.devapp import Client, wait_for

    app = tmp_path / "echo"
    shutil.copytree(APP, app)
    import io

    terminal = io.StringIO()
    with DevStack(app, port=0, hub=LogHub(terminal)) as stack:
        client = Client(stack.url)
        wait_for(lambda: client.json("POST", "/echo", {"text": "hi"})[0] == 202, "the relay")
        status, body = client.json("POST", "/echo", {"text": "from dev"})
        assert status == 202
        answer = wait_for(
            lambda: (r := client.json("GET", f"/echo/{body['id']}"))[0] == 200 and r[1],
            "the worker's report",
        )
        assert answer["text"] == "FROM DEV"
        relay = client.api("GET", "processes/relay")["pid"]
        assert client.json("POST", "/relay/crash", {})[0] == 202
        wait_for(
            lambda: (
                (r := client.json("GET", "/_units/api/processes/relay"))[0] == 200
                and r[1]["pid"] != relay
                and r[1]["status"] == "running"
            ),
            "the relay's restart",
        )
        # The dev terminal says so, as for any process's end.
        assert f"app:relay [{relay}] error crashed: Internal:" in terminal.getvalue()
