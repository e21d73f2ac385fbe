"""examples/echo on its own stack's resources: the synthesized template's tables and queues
created by moto's CloudFormation, the Lambda handlers imported with the environment the
template gives them, and SQS batches handed to the worker as the event source would."""

from __future__ import annotations

import importlib
import json
from typing import Any

import boto3
import pytest
from moto import mock_aws

from runtime.apigw_events import http_event
from runtime.processes.event_source import QueuePoller
from runtime.processes.worker import WorkerCrash
from tests.conftest import EXAMPLES
from tests.test_handlers import FakeLambdaContext
from tests.test_services_handler import cfn_event

APP = EXAMPLES / "echo"
STACK = "units-echo"
REGION = "us-east-1"
#: What moto's CloudFormation creates here; the Lambdas are run in-process instead.
CREATED = ("AWS::DynamoDB::Table", "AWS::SQS::Queue")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    import aws_cdk as cdk

    from infra.plan import load_registry
    from infra.settings import Settings
    from infra.stack import UnitsStack

    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk.out")))
    UnitsStack(
        app, STACK, registry=load_registry(APP), settings=Settings(app_dir=APP, stack_name=STACK)
    )
    return app.synth().get_stack_by_name(STACK).template


def _resolve(value: Any, physical: dict[str, str]) -> Any:
    """A template value with its ``Ref``\\ s and ``Fn::Join``\\ s replaced by what moto made."""
    if isinstance(value, dict) and "Ref" in value:
        return physical[value["Ref"]]
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(str(_resolve(p, physical)) for p in parts)
    return value


def _environment(template: dict[str, Any], handler: str, physical: dict[str, str]) -> dict:
    [function] = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == handler
    ]
    variables = function["Properties"]["Environment"]["Variables"]
    return {k: _resolve(v, physical) for k, v in variables.items()}


@pytest.fixture
def stack(template, monkeypatch, aws_credentials):
    with mock_aws():
        resources = {k: r for k, r in template["Resources"].items() if r["Type"] in CREATED}
        for logical, resource in resources.items():
            props = resource["Properties"]
            if props.get("FifoQueue") and "QueueName" not in props:
                # CloudFormation names an unnamed FIFO queue "<stack>-<id>-<hash>.fifo";
                # moto wants the name given.
                resource = {**resource, "Properties": {**props, "QueueName": f"{logical}.fifo"}}
                resources[logical] = resource
        body = {"Resources": resources}
        cfn = boto3.client("cloudformation", region_name=REGION)
        cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(body))
        physical = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in cfn.describe_stack_resources(StackName=STACK)["StackResources"]
        }
        env = _environment(template, "handlers.process_worker.handler", physical)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("UNITS_APP", str(APP))  # the bundle's copy of the app, here
        monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
        handlers = {
            name: importlib.reload(importlib.import_module(f"handlers.{name}"))
            for name in ("process_worker", "api", "services")
        }
        yield handlers, json.loads(env["UNITS_PROCESS_QUEUES"])["app:processes"]


def _pump(handlers, queue_url: str) -> None:
    """Hand the FIFO queue's batches to the worker Lambda until it is empty."""
    sqs = boto3.client("sqs", region_name=REGION)
    poller = QueuePoller(sqs, queue_url, batch_size=10, visibility_timeout=60, region=REGION)
    worker = handlers["process_worker"]
    idle = 0
    while idle < 2:  # moto hands a message made visible again from the second receive on
        result = poller.poll(lambda e: worker.handler(e, FakeLambdaContext()), WorkerCrash)
        idle = 0 if result.received else idle + 1


def _http(handlers, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    event = http_event(method, path, body=body)
    reply = handlers["api"].handler(event, FakeLambdaContext())
    return reply["statusCode"], json.loads(reply["body"])


def test_the_example_runs_on_the_stacks_own_tables_and_queues(stack):
    handlers, queue_url = stack
    event = cfn_event("Create")
    event["ResourceProperties"]["Services"] = ["app:pong.service", "app:ping.service"]
    handlers["services"].handler(event, FakeLambdaContext())
    _pump(handlers, queue_url)
    status, answer = _http(handlers, "POST", "/echo", {"text": "on the stack"})
    assert status == 202
    _pump(handlers, queue_url)
    status, found = _http(handlers, "GET", f"/echo/{answer['id']}")
    assert (status, found["text"]) == (200, "ON THE STACK")
    status, _ = _http(handlers, "POST", "/echo/j1/check", {"text": "exec"})
    _pump(handlers, queue_url)
    assert _http(handlers, "GET", "/echo/j1")[1]["checked"] is True
    stats = handlers["process_worker"].WORKER.stats
    assert stats.store_writes > 0 and stats.races == 0
