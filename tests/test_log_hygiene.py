"""No payload contents in the kit's own logs at INFO and above: request bodies, function
arguments, actor messages and workflow inputs stay out of them, on success and on failure.
(What application code logs with the `logger` module is the application's choice.)"""

from __future__ import annotations

import json
import logging

from runtime.apigw_events import http_event
from runtime.testing import LocalCloud
from tests.conftest import ROOT
from tests.test_handlers import FakeLambdaContext, load_handlers

SECRET = "s3cr3t-4242"


def test_the_lambda_handlers_do_not_log_bodies_or_arguments(monkeypatch, capsys, caplog):
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "INFO")
    caplog.set_level(logging.INFO)
    function, api = load_handlers(monkeypatch)
    function.handler({"id": "app:greet", "args": [SECRET]}, FakeLambdaContext())
    function.handler({"id": "app:greet", "args": [{"nested": SECRET}]}, FakeLambdaContext())
    function.handler({"id": "app:nope", "args": [SECRET]}, FakeLambdaContext())
    for body in (json.dumps({"name": SECRET}), "{not json " + SECRET):
        event = http_event("POST", "/nowhere", body=body)
        api.handler(event, FakeLambdaContext())
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    assert all(SECRET not in record.getMessage() for record in caplog.records)


def test_actors_and_workflows_do_not_log_messages_or_inputs(caplog):
    caplog.set_level(logging.INFO)
    with LocalCloud(ROOT / "tests" / "apps" / "actors", auto_start=False) as cloud:
        counter = cloud.spawn("app:counter", "app:workers")
        cloud.send(counter, "inc", 1)
        cloud.send(counter, "unknown-topic", {"token": SECRET})
        cloud.send(counter, "bad_state", SECRET)  # the turn fails: its error is logged
        cloud.drain()
    with LocalCloud(ROOT / "tests" / "apps" / "flows") as cloud:
        ok = cloud.start_workflow("app:sequence_child", {"n": 2, "token": SECRET})
        failing = cloud.start_workflow("app:retrying", {"attempts": 1, "ok_from": 5, "s": SECRET})
        cloud.run_workflows()
        cloud.signal(cloud.start_workflow("app:approval", {"wait": "1h"}), "x", SECRET)
        cloud.run_workflows()
        assert cloud.result(ok).status == "completed" and cloud.result(failing).status
    leaked = [r.getMessage() for r in caplog.records if SECRET in r.getMessage()]
    assert leaked == []
