"""examples/tasks: an app written for Wippy (typed Lua, http.service + http.router, a
temporal.worker with a workflow and an activity on Wippy's retry options) runs as it is."""

from __future__ import annotations

import pytest

from runtime.testing import LocalCloud
from tests.conftest import ROOT

APP = ROOT / "examples" / "tasks"


@pytest.fixture
def cloud():
    with LocalCloud(APP) as c:
        yield c


def start(cloud, **task):
    reply = cloud.http("POST", "/api/tasks", body=task)
    assert reply.status == 202, reply.body
    return reply.body["review"].rsplit("/", 1)[1], reply.body


def test_the_manifest_loads_with_notes_only_on_what_has_no_meaning_here(cloud):
    # The Temporal client (no Temporal server here) and the gateway's port (API Gateway's URL).
    notes = [
        line for line in cloud.warnings if "app:temporal'" not in line and "'addr'" not in line
    ]
    assert notes == []


def test_a_task_is_checked_against_its_type_before_a_review_starts(cloud):
    bad = cloud.http("POST", "/api/tasks", body={"title": "", "owner": "ada"})
    assert (bad.status, bad.body) == (
        400,
        {"error": "title: length 0 is below the minimum length 1 (@min_len)"},
    )
    bad = cloud.http("POST", "/api/tasks", body={"title": "x", "owner": "Ada!"})
    assert bad.status == 400 and "does not match the pattern" in bad.body["error"]
    bad = cloud.http(
        "POST", "/api/tasks", body={"title": "x", "owner": "ada", "priority": "urgent"}
    )
    assert bad.body == {"error": 'priority: expected "low" | "normal" | "high", got string'}
    _, body = start(cloud, title="write docs", owner="ada")
    assert body["priority"] == "normal" and body["review"].startswith("app:worker/")


def test_a_review_keeps_comments_waits_for_a_decision_and_notifies_through_a_retry(cloud):
    run_id, _ = start(cloud, title="ship it", owner="ada", priority="high")
    cloud.run_workflows()
    cloud.signal(run_id, "comment", "looks good")
    cloud.run_workflows()
    cloud.signal(run_id, "decision", {"approved": True, "by": "mia"})
    cloud.signal(run_id, "comment", "late note")
    cloud.run_workflows()
    cloud.advance_time(1)  # the one-second pause, then the notification and its one retry
    cloud.advance_time(5)
    result = cloud.result(run_id)
    assert result.status == "completed", result
    assert result.result == {
        "status": "approved",
        "by": "mia",
        "comments": ["looks good", "late note"],
    }
    notified = [e for e in cloud.history(run_id) if e["type"] == "ActivityScheduled"]
    assert [e["attempt"] for e in notified] == [1, 2]


def test_a_review_nobody_decides_expires_after_two_days(cloud):
    run_id, _ = start(cloud, title="someday", owner="bob")
    cloud.run_workflows()
    cloud.advance_time(48 * 3600)
    # An empty Lua table crosses as {} (the codec's rule for a table with no keys).
    assert cloud.result(run_id).result == {"status": "expired", "comments": {}}


def test_estimates_fan_out_with_futures_and_sum(cloud):
    reply = cloud.http("GET", "/api/estimate", query={"titles": "write the docs,ship,fix a bug"})
    assert (reply.status, reply.body) == (200, {"titles": 3, "hours": 3 + 1 + 3})


def test_the_app_runs_the_same_in_units_dev(tmp_path):
    import shutil

    from runtime.dev import DevStack
    from runtime.dev.logs import LogHub
    from tests.devapp import Client, wait_for

    app = tmp_path / "tasks"
    shutil.copytree(APP, app)
    with DevStack(app, port=0, hub=LogHub()) as stack:
        client = Client(stack.url)
        status, body = client.json("POST", "/api/tasks", {"title": "ship it", "owner": "ada"})
        assert status == 202, body
        run_id = body["review"].rsplit("/", 1)[1]
        status, body = client.json("GET", "/api/estimate?titles=a%20b,c")
        assert (status, body) == (200, {"titles": 2, "hours": 3})
        wait_for(
            lambda: (
                client.api("GET", f"workflows/{run_id}")["history"][-1]["type"] == "TimerStarted"
            ),
            "the review waiting for its decision",
        )
        client.api("POST", f"workflows/{run_id}/signal", {"topic": "comment", "payload": "ok"})
        client.api(
            "POST",
            f"workflows/{run_id}/signal",
            {"topic": "decision", "payload": {"approved": False, "by": "mia"}},
        )
        done = wait_for(
            lambda: (
                (r := client.api("GET", f"workflows/{run_id}"))["run"]["status"] == "completed"
                and r
            ),
            "the review's end (a 1 s pause on the wall clock, then the notification and its retry after 1 s)",
            timeout=30,
        )
    assert done["run"]["result"] == {"status": "rejected", "by": "mia", "comments": ["ok"]}
