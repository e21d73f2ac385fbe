"""The HTTP API through Powertools' resolver, as API Gateway would call it."""

from __future__ import annotations

import pytest

from runtime.errors import INTERNAL, NOT_FOUND, PERMISSION_DENIED
from runtime.testing import LocalCloud
from tests.conftest import EXAMPLES


@pytest.fixture(scope="module")
def hello():
    with LocalCloud(EXAMPLES / "hello") as cloud:
        yield cloud


def test_get_with_path_param(hello):
    r = hello.http("GET", "/hello/ada")
    assert r.status == 200
    assert r.headers["content-type"] == "application/json"
    assert r.body == {"greeting": "Hello, Ada!"}


def test_post_json_body(hello):
    r = hello.http("POST", "/hello", body={"name": "grace"})
    assert (r.status, r.body) == (200, {"greeting": "Hello, Grace!"})


def test_invalid_json_body_is_a_400_with_the_reason(hello):
    r = hello.http("POST", "/hello", body="{not json", headers={"content-type": "application/json"})
    assert r.status == 400
    assert r.body["error"].startswith("request body is not valid JSON")


def test_function_error_maps_to_status(hello):
    r = hello.http("POST", "/hello", body={"name": ""})
    assert r.status == 400
    assert "greet: expected a name" in r.body["error"]


def test_unknown_route_is_404(hello):
    r = hello.http("GET", "/nope")
    assert r.status == 404
    assert r.body == {"error": {"kind": NOT_FOUND, "message": "no route for GET /nope"}}


def test_wrong_method_is_405_with_allow(hello):
    r = hello.http("DELETE", "/hello/ada")
    assert r.status == 405
    assert r.headers["allow"] == "GET"
    r = hello.http("GET", "/hello")
    assert (r.status, r.headers["allow"]) == (405, "POST")


ROUTES_APP = """
version: "1.0"
namespace: app
entries:
  - name: files
    kind: function.lua
    source: file://files.lua
    modules: [http, errors]
  - name: files.get
    kind: http.endpoint
    method: GET
    path: /files/{bucket}/{rest...}
    func: files
  - name: files.special
    kind: http.endpoint
    method: GET
    path: /files/special/readme
    func: files
"""

FILES = """
local http = require("http")
local errors = require("errors")
return { handler = function()
  local req = http.request()
  if req:query("fail") then
    return nil, errors.new({ kind = errors.PERMISSION_DENIED, message = "no access" })
  end
  if req:query("raw") then
    local res = http.response()
    res:set_content_type("text/plain")
    res:set_header("X-Thing", "1")
    res:set_status(201) -- last: set_status sends the headers, as in Wippy
    res:write("made ")
    res:write(req:header("x-name") or "?")
    return
  end
  if req:query("empty") then return nil end
  return { bucket = req:param("bucket"), rest = req:param("rest"), path = req:path(), q = req:query("q") }
end }
"""


def test_greedy_params_literal_priority_and_response_writing(make_app):
    app = make_app(ROUTES_APP, {"files.lua": FILES})
    with LocalCloud(app) as cloud:
        r = cloud.http("GET", "/files/b1/a/b%20c.txt", query={"q": "x"})
        assert r.status == 200
        assert r.body == {
            "bucket": "b1",
            "rest": "a/b c.txt",
            "path": "/files/b1/a/b c.txt",  # percent-decoded, as Wippy's req:path()
            "q": "x",
        }
        special = cloud.http("GET", "/files/special/readme")
        # The literal route wins over the parameterised one, so no params are bound.
        assert special.body == {"path": "/files/special/readme"}
        denied = cloud.http("GET", "/files/b/x", query={"fail": "1"})
        assert denied.status == 403
        assert denied.body == {"error": {"kind": PERMISSION_DENIED, "message": "no access"}}
        raw = cloud.http("GET", "/files/b/x", query={"raw": "1"}, headers={"X-Name": "ada"})
        assert (raw.status, raw.body, raw.headers["x-thing"]) == (201, "made ada", "1")
        assert raw.headers["content-type"] == "text/plain"
        empty = cloud.http("GET", "/files/b/x", query={"empty": "1"})
        assert (empty.status, empty.body) == (204, "")


def test_http_module_outside_a_route_returns_nil_err(make_app):
    app = make_app(
        ROUTES_APP,
        {
            "files.lua": """
        local http = require("http")
        return { handler = function()
          local req, err = http.request()
          return { req = req, err = err:message() }
        end }
    """
        },
    )
    with LocalCloud(app) as cloud:
        assert cloud.call("app:files") == {
            "err": "http: this call did not come through an HTTP route"
        }


def test_oversized_response_is_a_clear_500(make_app):
    app = make_app(
        """
        version: "1.0"
        namespace: app
        entries:
          - name: big
            kind: function.lua
            source: file://big.lua
          - name: big.get
            kind: http.endpoint
            method: GET
            path: /big/{mb}
            func: big
            auth: none
        """,
        {"big.lua": "return { handler = function() return string.rep('x', 7 * 1024 * 1024) end }"},
    )
    with LocalCloud(app) as cloud:
        r = cloud.http("GET", "/big/7")
        assert r.status == 500
        assert r.body["error"]["kind"] == INTERNAL
        assert "at most 6291456 bytes" in r.body["error"]["message"]
