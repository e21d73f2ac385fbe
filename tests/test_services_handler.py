"""handlers.services, the deploy-time custom resource, against the chat example's queues in moto.

LocalCloud creates the table and queues exactly as the stack does (without starting the
services); the handler is then called as CDK's Provider framework calls it, with the
environment the stack gives it.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from infra.plan import load_registry, plan_app
from runtime.bootstrap import DELAY_QUEUES_ENV, QUEUES_ENV, TABLE_ENV
from runtime.processes.local import TABLE_NAME
from runtime.processes.pids import service_pid
from runtime.testing import LocalCloud
from tests.conftest import EXAMPLES
from tests.test_handlers import FakeLambdaContext

APP = EXAMPLES / "chat"
HOST = "app:chat"
LOBBY_PID = service_pid(HOST, "app:lobby", 0)


def cfn_event(request: str, physical_id: str | None = None) -> dict[str, Any]:
    """What the Provider framework hands its onEvent function (the fields the handler reads)."""
    event = {
        "RequestType": request,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:framework-onEvent",
        "ResponseURL": "https://cloudformation-custom-resource-response.example.com/x",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/units-chat/1",
        "RequestId": f"req-{request.lower()}",
        "LogicalResourceId": "ServicesStart4EEB77C4",
        "ResourceType": "Custom::UnitsServices",
        "ResourceProperties": {"Services": ["app:lobby"], "Digest": "0123456789abcdef"},
    }
    if physical_id:
        event["PhysicalResourceId"] = physical_id
    return event


@pytest.fixture
def deployed(monkeypatch):
    """The chat example's resources in moto, and the services handler configured for them."""
    with LocalCloud(APP, auto_start=False) as cloud:
        mailboxes = cloud.processes.system.mailboxes
        monkeypatch.setenv("UNITS_APP", str(APP))
        monkeypatch.setenv(TABLE_ENV, TABLE_NAME)
        monkeypatch.setenv(QUEUES_ENV, json.dumps(mailboxes.queues))
        monkeypatch.setenv(DELAY_QUEUES_ENV, json.dumps(mailboxes.delay_queues))
        services = importlib.reload(importlib.import_module("handlers.services"))
        yield cloud, services


def queued(cloud: LocalCloud) -> list[dict[str, Any]]:
    """Every message in the host's FIFO queue, read without consuming (visible again at once)."""
    url = cloud.processes.system.mailboxes.queues[HOST]
    sqs = cloud.processes.sqs
    reply = sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        VisibilityTimeout=0,
        AttributeNames=["All"],
        MessageSystemAttributeNames=["All"],
    )
    return reply.get("Messages") or []


def test_create_spawns_the_services_and_a_second_run_adds_no_duplicate(deployed):
    cloud, services = deployed
    reply = services.handler(cfn_event("Create"), FakeLambdaContext())
    assert reply == {"PhysicalResourceId": "units-services", "Data": {"Pids": LOBBY_PID}}
    # What the stack lists in the resource's properties is what the handler started.
    planned = plan_app(load_registry(APP), "units-chat").services
    assert [service_pid(HOST, s.id, 0) for s in planned] == [LOBBY_PID]
    (message,) = queued(cloud)
    body = json.loads(message["Body"])
    assert body["to"] == LOBBY_PID
    assert message["Attributes"]["MessageGroupId"] == LOBBY_PID

    # An Update runs it again (the deploy retried, or a service changed): same pid, same
    # deduplication id, so SQS keeps one message.
    again = services.handler(cfn_event("Update", "units-services"), FakeLambdaContext())
    assert again["PhysicalResourceId"] == "units-services"
    assert len(queued(cloud)) == 1

    # The worker runs the spawn: the lobby is up under its registered name.
    cloud.drain()
    assert cloud.lookup("room.lobby") == LOBBY_PID
    assert cloud.status(LOBBY_PID).status == "running"


def test_an_update_after_the_service_runs_leaves_it_alone(deployed):
    cloud, services = deployed
    services.handler(cfn_event("Create"), FakeLambdaContext())
    cloud.drain()
    r = cloud.http("POST", "/rooms/lobby/members", body={"name": "ada"})
    assert r.status == 202
    cloud.drain()
    before = cloud.state(LOBBY_PID)
    assert list(before["members"]) == ["ada"]

    # Long after the first spawn left the queue: the spawn to the existing pid is ignored.
    services.handler(cfn_event("Update", "units-services"), FakeLambdaContext())
    cloud.drain()
    assert cloud.state(LOBBY_PID) == before
    assert cloud.lookup("room.lobby") == LOBBY_PID


def test_delete_sends_nothing(deployed):
    cloud, services = deployed
    reply = services.handler(cfn_event("Delete", "units-services"), FakeLambdaContext())
    assert reply == {"PhysicalResourceId": "units-services"}
    assert queued(cloud) == []
