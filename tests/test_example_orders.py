"""examples/orders: the saga runs as its README walkthrough says."""

from __future__ import annotations

import pytest

from runtime.testing import LocalCloud
from tests.conftest import ROOT


@pytest.fixture
def cloud():
    with LocalCloud(ROOT / "examples" / "orders") as c:
        yield c


def activities(cloud, run_id):
    return [e["id"] for e in cloud.history(run_id) if e["type"] == "ActivityScheduled"]


def test_a_small_order_placed_over_http_ships_and_is_followed_up_a_day_later(cloud):
    reply = cloud.http("POST", "/orders", body={"id": "o1", "items": [1, 2], "total": 120})
    assert reply.status == 202
    run_id = reply.body["workflow"].rsplit("/", 1)[1]
    again = cloud.http("POST", "/orders", body={"id": "o1", "items": [1, 2], "total": 120})
    assert again.body == reply.body  # a retried POST finds the same run
    cloud.run_workflows()
    assert cloud.result(run_id).status == "running"  # the child waits a day
    cloud.advance_time(24 * 3600)
    result = cloud.result(run_id)
    assert result.result == {
        "status": "shipped",
        "tracking": "trk-o1",
        "follow_up": {"order": "o1", "asked_at": "2026-01-02T00:00:00Z"},
    }
    assert activities(cloud, run_id) == ["orders:reserve", "orders:charge", "orders:ship"]


def test_a_large_order_waits_for_approval(cloud):
    run_id = cloud.start_workflow("orders:order", {"id": "o2", "items": [1], "total": 700})
    cloud.run_workflows()
    assert cloud.result(run_id).status == "running"
    cloud.signal(run_id, "approval", {"approved": True, "by": "mia"})
    cloud.run_workflows()  # approved, charged, shipped; the follow-up child sleeps a day
    cloud.advance_time(24 * 3600)
    assert cloud.result(run_id).result["status"] == "shipped"
    [shipped] = [line for line in cloud.logs if line.message == "order shipped"]
    assert shipped.fields["run_id"] == run_id and shipped.fields["order"] == "o2"


def test_no_approval_within_a_day_releases_the_stock(cloud):
    run_id = cloud.start_workflow("orders:order", {"id": "o3", "items": [1], "total": 700})
    cloud.run_workflows()
    cloud.advance_time(24 * 3600)
    assert cloud.result(run_id).result == {
        "status": "canceled",
        "reason": "not approved within 24h",
    }
    assert activities(cloud, run_id) == ["orders:reserve", "orders:release"]


def test_a_declined_card_compensates_newest_first_without_retrying(cloud):
    run_id = cloud.start_workflow("orders:order", {"id": "o4", "items": [1], "total": 5000})
    cloud.run_workflows()
    cloud.signal(run_id, "approval", {"approved": True, "by": "mia"})
    cloud.run_workflows()
    assert cloud.result(run_id).result == {
        "status": "canceled",
        "reason": "charge: card declined for 5000",
    }
    # INVALID is non_retryable for orders:charge: one attempt, then the stock is released.
    assert activities(cloud, run_id) == ["orders:reserve", "orders:charge", "orders:release"]
