"""API Gateway HTTP API (v2) events, well-formed and damaged, thrown at HttpApi.resolve over
examples/hello (GET /hello/{name}, POST /hello): every answer is an HTTP reply; a 4xx/5xx one
from the kit carries the JSON error body ``{"error": {"kind", "message"}}``."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from runtime import manifest
from runtime.apigw_events import http_event
from runtime.engine import Engine
from runtime.errors import KINDS
from runtime.http_api import HttpApi
from tests.conftest import EXAMPLES
from tests.fuzz.conftest import fuzz


@pytest.fixture(scope="module")
def api():
    engine = Engine(manifest.load_app(EXAMPLES / "hello"), log_sink=lambda *a: None)
    yield HttpApi(engine)
    engine.close()


METHODS = st.one_of(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "get"]),
    st.text(max_size=6),
)
SEGMENTS = st.one_of(
    st.sampled_from(["hello", "ada", "", "..", "%2F", "%00", "%ZZ", "{name}", "h\u00e9llo", "a b"]),
    st.text(max_size=8),
)
PATHS = st.one_of(
    st.sampled_from(["/hello/ada", "/hello", "/hello/", "/", "", "//hello//ada", "/hello/ada/x"]),
    st.lists(SEGMENTS, max_size=4).map(lambda parts: "/" + "/".join(parts)),
    st.text(max_size=20),
)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
BODIES = st.one_of(
    st.none(),
    JSONISH,
    st.builds(lambda name: {"name": name}, st.one_of(st.text(max_size=10), JSONISH)),
    st.text(max_size=30),
    st.binary(max_size=30),
)
HEADERS = st.dictionaries(
    st.sampled_from(["content-type", "Content-Type", "accept", "x-a", "authorization", ""]),
    st.sampled_from(
        ["application/json", "text/plain", "", "application/json; charset=latin1", "\u00e9"]
    ),
    max_size=3,
)
QUERIES = st.one_of(
    st.none(),
    st.text(max_size=15),
    st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3),
)


def _damage(event: dict[str, Any], how: str, junk: Any) -> dict[str, Any]:
    """Break one part of a well-formed event the way a hand-made or replayed event might."""
    event = copy.deepcopy(event)
    if how == "base64_flag":
        event["isBase64Encoded"] = True
        event["body"] = junk if isinstance(junk, str) else "!!not base64!!"
    elif how == "body_type":
        event["body"] = junk
    elif how == "headers_type":
        event["headers"] = junk
    elif how == "header_value":
        event["headers"] = {"content-type": junk}
    elif how == "query_type":
        event["rawQueryString"] = junk
    elif how == "no_method":
        del event["requestContext"]["http"]["method"]
    elif how == "no_path":
        event.pop("rawPath", None)
    elif how == "method_type":
        event["requestContext"]["http"]["method"] = junk
    elif how == "cookies":
        event["cookies"] = junk
    return event


DAMAGE = st.sampled_from(
    [
        "none",
        "base64_flag",
        "body_type",
        "headers_type",
        "header_value",
        "query_type",
        "no_method",
        "no_path",
        "method_type",
        "cookies",
    ]
)
JUNK = st.one_of(
    st.none(),
    st.integers(),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def _check_reply(reply: Any) -> None:
    assert isinstance(reply, dict)
    status = reply["statusCode"]
    assert isinstance(status, int) and 100 <= status <= 599, status
    if status >= 400:
        raw = reply.get("body") or ""
        text = base64.b64decode(raw).decode() if reply.get("isBase64Encoded") else raw
        body = json.loads(text)
        error = body.get("error")
        # The kit's error body; the example's own 400s answer {"error": "<message>"}.
        if isinstance(error, dict):
            assert error["kind"] in KINDS and isinstance(error["message"], str), body
        else:
            assert isinstance(error, str) and error, body


@fuzz(200)
@given(
    method=METHODS,
    path=PATHS,
    body=BODIES,
    headers=HEADERS,
    query=QUERIES,
    damage=DAMAGE,
    junk=JUNK,
)
@example(
    method="POST", path="/hello", body={"name": 5}, headers={}, query=None, damage="none", junk=None
)
@example(method="POST", path="/hello", body=[1], headers={}, query=None, damage="none", junk=None)
@example(
    method="POST",
    path="/hello",
    body="{",
    headers={"content-type": "application/json"},
    query=None,
    damage="none",
    junk=None,
)
@example(
    method="GET",
    path="/hello/ada",
    body=None,
    headers={},
    query=None,
    damage="base64_flag",
    junk="@@",
)
@example(
    method="DELETE", path="/hello/ada", body=None, headers={}, query=None, damage="none", junk=None
)
@example(
    method="GET",
    path="/hello/%00",
    body=None,
    headers={},
    query="a=%ZZ&&b",
    damage="none",
    junk=None,
)
# Found by this fuzzer (each raised out of HttpApi.resolve, or answered Powertools' own 404):
@example(method="GET", path="\n0", body=None, headers={}, query=None, damage="none", junk=None)
@example(
    method="TRACE", path="/hello/ada", body=None, headers={}, query=None, damage="none", junk=None
)
@example(method="", path="/nope", body=None, headers={}, query=None, damage="none", junk=None)
@example(
    method="GET", path="/hello/ada", body=None, headers={}, query=None, damage="no_path", junk=None
)
@example(
    method="GET", path="/hello/ada", body=b"", headers={}, query=None, damage="body_type", junk=1
)
@example(
    method="GET", path="/hello", body=None, headers={}, query=None, damage="headers_type", junk="0"
)
@example(
    method="GET", path="/hello/ada", body=None, headers={}, query=None, damage="query_type", junk=1
)
@example(
    method="GET",
    path="/hello/ada",
    body=None,
    headers={},
    query=None,
    damage="method_type",
    junk=None,
)
def test_any_event_gets_an_http_answer(api, method, path, body, headers, query, damage, junk):
    event = http_event("GET", "/", body=body, headers=headers, query=query)
    event["rawPath"] = path
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event = _damage(event, damage, junk)
    _check_reply(api.resolve(event, None))
