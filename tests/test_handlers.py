"""The Lambda entry points, imported as Lambda imports them, with the app from UNITS_APP."""

from __future__ import annotations

import importlib
import itertools
import json
from dataclasses import dataclass

import pytest

from runtime.apigw_events import http_event
from tests.conftest import EXAMPLES

_SERVICES = itertools.count()


@dataclass
class FakeLambdaContext:
    """The attributes Powertools' Logger reads from the Lambda context object."""

    function_name: str = "units-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:units-test"
    aws_request_id: str = "req-1"


def load_handlers(monkeypatch):
    """Import both handler modules afresh, as a cold Lambda would, over the hello example."""
    monkeypatch.setenv("UNITS_APP", str(EXAMPLES / "hello"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # Powertools keeps one stdlib logger per service name, its handler bound to the sys.stdout
    # of the moment it was made; a fresh name binds the stdout of the moment of this import.
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", f"units-test-{next(_SERVICES)}")
    function = importlib.reload(importlib.import_module("handlers.function"))
    api = importlib.reload(importlib.import_module("handlers.api"))
    return function, api


@pytest.fixture
def handlers(monkeypatch):
    return load_handlers(monkeypatch)


def test_function_handler_direct_invoke(handlers):
    function, _ = handlers
    reply = function.handler({"id": "app:greet", "args": ["ada"]}, FakeLambdaContext())
    assert reply == {"ok": True, "value": "Hello, Ada!"}
    reply = function.handler({"id": "app:greet", "args": [""]}, FakeLambdaContext())
    assert reply == {
        "ok": False,
        "error": {"kind": "Invalid", "message": "greet: expected a name"},
    }


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ({"args": []}, "must contain ['id'] properties"),
        ({"id": "no-colon"}, "data.id must match pattern"),
        ({"id": "app:greet", "args": "ada"}, "data.args must be array"),
        ({"id": "app:greet", "extra": 1}, "must not contain"),
    ],
)
def test_function_handler_rejects_malformed_events(handlers, event, fragment):
    function, _ = handlers
    reply = function.handler(event, FakeLambdaContext())
    assert reply["ok"] is False and reply["error"]["kind"] == "Invalid"
    assert fragment in reply["error"]["message"]


def test_api_handler(capsys, monkeypatch):
    # Imported here, not in a fixture: pytest installs capsys's stdout only for the test body.
    _, api = load_handlers(monkeypatch)
    reply = api.handler(http_event("GET", "/hello/ada"), FakeLambdaContext())
    assert reply["statusCode"] == 200
    assert json.loads(reply["body"]) == {"greeting": "Hello, Ada!"}
    # The Lua handler's logger.info is a Powertools JSON line with the request's context.
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    greeted = [line for line in lines if line.get("message") == "greeted"]
    assert len(greeted) == 1
    assert greeted[0]["name"] == "ada" and greeted[0]["entry"] == "app:hello"
    assert greeted[0]["level"] == "INFO" and greeted[0]["function_request_id"] == "req-1"


def test_function_handler_refuses_an_oversized_result(handlers):
    function, _ = handlers
    name = "a" * (7 * 1024 * 1024)
    reply = function.handler({"id": "app:greet", "args": [name]}, FakeLambdaContext())
    assert reply["ok"] is False and reply["error"]["kind"] == "Invalid"
    assert reply["error"]["message"].startswith("the result of app:greet is 7340")
    # The same warm Lambda keeps answering.
    reply = function.handler({"id": "app:greet", "args": ["ada"]}, FakeLambdaContext())
    assert reply == {"ok": True, "value": "Hello, Ada!"}
