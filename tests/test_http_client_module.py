"""Wippy's ``http_client`` (``en/lua/http/client.md``) against real local servers: methods,
options, the response table, batch requests, URL escaping, the tasks that go on while a request
runs, the refusal in workflow code, and every bad input with its error text."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from runtime import manifest
from runtime.durable import events as ev
from runtime.durable.events import Event
from runtime.durable.replay import Replay
from runtime.engine import Engine
from tests.conftest import MakeApp
from tests.http_servers import Signals, serve

LOCAL = {"UNITS_HTTP_CLIENT_PRIVATE_IP": "127.0.0.0/8"}

# f(method, url, options): one request; its response (or error) as plain data.
F = """
local http_client = require("http_client")
local function E(err)
  if err == nil then return nil end
  return { kind = err:kind(), message = err:message(), retryable = err:retryable() }
end
local function R(r)
  return { status = r.status_code, body = r.body, size = r.body_size, headers = r.headers,
           cookies = r.cookies, url = r.url }
end
return { handler = function(method, url, options)
  local r, err
  if method == "request" then
    r, err = http_client.request(options.method, url, options.options)
  else
    r, err = http_client[method](url, options)
  end
  if err then return { err = E(err), r = r } end
  return R(r)
end, E = E, R = R }
"""


def _index(entries: str) -> str:
    return 'version: "1.0"\nnamespace: app\nentries:\n' + textwrap.dedent(entries)


class Client:
    """An engine over functions using http_client; ``environ`` is the deployment's."""

    def __init__(self, make_app: MakeApp, files: dict[str, str], environ: dict[str, str]) -> None:
        entries = "".join(
            f"  - name: {name[:-4]}\n    kind: function.lua\n    source: file://{name}\n"
            "    method: handler\n    modules: [http_client, json, time]\n"
            for name in files
        )
        self.engine = Engine(manifest.load_app(make_app(_index(entries), files)), environ=environ)

    def call(self, entry: str, *args: Any, timeout: float | None = None) -> Any:
        return self.engine.call(f"app:{entry}", list(args), timeout=timeout)


@pytest.fixture
def server() -> Iterator[tuple[str, Signals]]:
    with serve() as (base, signals, _):
        yield base, signals


@pytest.fixture
def client(make_app: MakeApp) -> Iterator[Client]:
    c = Client(make_app, {"f.lua": F}, LOCAL)
    yield c
    c.engine.close()


def echo(result: dict[str, Any]) -> dict[str, Any]:
    assert result["status"] == 200, result
    return json.loads(result["body"])


# -- methods and the response -----------------------------------------------------------------
def test_get_returns_wippys_response_table(client, server):
    base, _ = server
    r = client.call("f", "get", base + "/hello")
    assert r["status"] == 200 and r["body"] == "hello" and r["size"] == 5
    assert r["url"] == base + "/hello"
    # Go's canonical header names, first value.
    assert r["headers"]["Content-Type"] == "text/plain"
    assert r["headers"]["X-Lower-Case"] == "yes"
    assert "cookies" not in r  # none set: Wippy leaves the field out


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_methods_send_their_verb_and_body(client, server, method):
    base, _ = server
    got = echo(
        client.call(
            "f",
            method,
            base + "/echo",
            {"body": "payload", "headers": {"Content-Type": "application/json"}},
        )
    )
    assert got["method"] == method.upper()
    assert got["body"] == "payload"
    assert got["headers"]["Content-Type"] == "application/json"


def test_head_has_headers_and_no_body(client, server):
    base, _ = server
    r = client.call("f", "head", base + "/hello")
    assert r["status"] == 200 and "body" not in r and r["size"] == 0
    assert r["headers"]["Content-Length"] == "5"


def test_custom_method_through_request(client, server):
    base, _ = server
    got = echo(
        client.call(
            "f",
            "request",
            base + "/echo",
            {"method": "propfind", "options": {"headers": {"Depth": "1"}}},
        )
    )
    assert got["method"] == "PROPFIND" and got["headers"]["Depth"] == "1"


def test_query_form_cookies_auth_and_default_headers(client, server):
    base, _ = server
    got = echo(
        client.call(
            "f", "get", base + "/echo?keep=1&q=old", {"query": {"q": "lua programming", "page": 1}}
        )
    )
    # Go's url.Values.Encode: keys sorted, values query-escaped, the URL's own keys kept.
    assert got["raw_query"] == "keep=1&page=1&q=lua+programming"
    assert got["headers"]["User-Agent"] == "Go-http-client/1.1"
    got = echo(
        client.call(
            "f", "post", base + "/echo", {"form": {"username": "alice", "password": "s&cret"}}
        )
    )
    assert got["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert got["body"] == "password=s%26cret&username=alice"
    got = echo(
        client.call(
            "f",
            "get",
            base + "/echo",
            {"cookies": {"a": "1", "b": "2"}, "auth": {"user": "admin", "pass": "secret"}},
        )
    )
    assert got["headers"]["Cookie"] == "a=1; b=2"
    assert got["headers"]["Authorization"] == "Basic YWRtaW46c2VjcmV0"


def test_file_upload_is_multipart(client, server):
    base, _ = server
    got = echo(
        client.call(
            "f",
            "post",
            base + "/echo",
            {
                "form": {"title": "My Document"},
                "files": [
                    {
                        "name": "attachment",
                        "filename": "report.pdf",
                        "content": "PDF-BYTES",
                        "content_type": "application/pdf",
                    }
                ],
            },
        )
    )
    assert got["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    body = got["body"]
    assert 'name="title"\r\n\r\nMy Document' in body
    assert (
        'name="attachment"; filename="report.pdf"\r\nContent-Type: application/octet-stream\r\n\r\nPDF-BYTES'
        in body
    )


def test_response_cookies_by_name(client, server):
    base, _ = server
    r = client.call("f", "get", base + "/cookies")
    assert r["cookies"] == {"session": "abc123", "theme": "dark"}
    assert r["headers"]["Set-Cookie"] == "session=abc123; Path=/; HttpOnly"


def test_gzip_is_decoded_as_go_does(client, server):
    base, _ = server
    r = client.call("f", "get", base + "/gzip")
    assert r["body"] == "unzipped " * 10
    assert "Content-Encoding" not in r["headers"]


def test_non_utf8_body_is_a_lua_string_of_its_bytes(make_app, server):
    base, _ = server
    c = Client(
        make_app,
        {
            "g.lua": """
        local http_client = require("http_client")
        return { handler = function(url)
          local r = http_client.get(url)
          return { n = #r.body, bytes = { string.byte(r.body, 1, -1) } }
        end }
    """
        },
        LOCAL,
    )
    try:
        assert c.call("g", base + "/bytes") == {"n": 5, "bytes": [0xFF, 0xFE, 0x00, 0x80, 0x41]}
    finally:
        c.engine.close()


def test_redirects_are_followed_up_to_ten(client, server):
    base, _ = server
    r = client.call("f", "get", base + "/redirect?n=3")
    assert r["url"] == base + "/echo" and echo(r)["method"] == "GET"
    # 303 turns a POST into a GET without its body; 307 keeps both.
    got = echo(client.call("f", "post", base + "/redirect?code=303", {"body": "x"}))
    assert (got["method"], got["body"]) == ("GET", "")
    got = echo(client.call("f", "post", base + "/redirect?code=307", {"body": "x"}))
    assert (got["method"], got["body"]) == ("POST", "x")
    r = client.call("f", "get", base + "/redirect?n=11")
    assert r["err"]["kind"] == "Internal"
    assert r["err"]["message"] == f'Get "{base}/redirect?n=11": stopped after 10 redirects'


def test_keep_alive_reuses_one_connection(client, server):
    base, _ = server
    for _ in range(5):
        assert client.call("f", "get", base + "/hello")["status"] == 200
    pools = client.engine.http_client().pool.pools
    (pool,) = [pools[k] for k in pools.keys()]  # noqa: SIM118 - a RecentlyUsedContainer has no __iter__
    assert pool.num_connections == 1 and pool.num_requests == 5


# -- concurrency: the request yields its task ----------------------------------------------------
def test_other_tasks_run_while_a_request_waits(make_app, server):
    base, _ = server
    # /wait-for-ping answers only once /ping has been requested: a request that blocked its
    # invocation would never let the second request start.
    c = Client(
        make_app,
        {
            "g.lua": """
        local http_client = require("http_client")
        return { handler = function(base)
          local done = channel.new(1)
          coroutine.spawn(function()
            local r, err = http_client.get(base .. "/wait-for-ping", { timeout = "5s" })
            done:send(r and r.body or err:message())
          end)
          local pong = http_client.get(base .. "/ping")
          return { pong = pong.body, first = done:receive() }
        end }
    """
        },
        LOCAL,
    )
    try:
        assert c.call("g", base) == {"pong": "pong", "first": "pinged"}
    finally:
        c.engine.close()


def test_a_timer_due_first_keeps_the_request_off_the_callers_thread(make_app, server):
    base, _ = server
    # The spawned coroutine sleeps, then pings: a request made on the caller's thread (no
    # other task ready, no I/O in flight) would keep its timer from firing until /wait-for-ping
    # gave up; with the timer due before the request's deadline, the request goes to the pool.
    c = Client(
        make_app,
        {
            "g.lua": """
        local http_client = require("http_client")
        local time = require("time")
        return { handler = function(base)
          local done = channel.new(1)
          coroutine.spawn(function()
            time.sleep("20ms")
            local r = http_client.get(base .. "/ping")
            done:send(r.body)
          end)
          local r, err = http_client.get(base .. "/wait-for-ping", { timeout = "5s" })
          return { first = r and r.body or err:message(), pong = done:receive() }
        end }
    """
        },
        LOCAL,
    )
    try:
        assert c.call("g", base) == {"first": "pinged", "pong": "pong"}
    finally:
        c.engine.close()


def test_a_lone_request_is_made_on_the_callers_thread(client, server):
    base, _ = server
    submitted: list[Any] = []
    pool = client.engine.io_pool()
    real_submit = pool.submit
    pool.submit = lambda *a, **k: submitted.append(a) or real_submit(*a, **k)  # type: ignore[method-assign]
    try:
        assert client.call("f", "get", base + "/hello")["body"] == "hello"
    finally:
        pool.submit = real_submit  # type: ignore[method-assign]
    assert submitted == []


def test_a_trickling_server_cannot_stretch_a_request_past_its_timeout(client, server):
    base, _ = server
    for options in ({"timeout": 0.2}, None):
        timeout = None if options else 0.2
        r = client.call("f", "get", base + "/trickle", options, timeout=timeout)
        bound = "the request's timeout" if options else "the call's deadline"
        assert r["err"] == {
            "kind": "Internal",
            "retryable": True,
            "message": f'Get "{base}/trickle": timeout: no response within 0.2s ({bound})',
        }


def test_request_batch_runs_concurrently_and_reports_per_request(make_app, server):
    base, _ = server
    c = Client(
        make_app,
        {
            "g.lua": """
        local http_client = require("http_client")
        return { handler = function(base)
          local rs, errs = http_client.request_batch({
            { "GET", base .. "/wait-for-ping", { timeout = 5 } },
            { "post", base .. "/ping" },
            { "GET", "http://127.0.0.1:1/" },
          })
          return { a = rs[1].body, b = rs[2].body, c = rs[3] == nil, err = errs[3]:message(),
                   kind = errs[3]:kind(), retry = errs[3]:retryable(), ok = errs[1] == nil and errs[2] == nil }
        end }
    """
        },
        LOCAL,
    )
    try:
        assert c.call("g", base) == {
            "a": "pinged",
            "b": "pong",
            "c": True,
            "ok": True,
            "kind": "Internal",
            "retry": True,
            "err": 'Get "http://127.0.0.1:1/": dial tcp 127.0.0.1:1: connect: connection refused',
        }
    finally:
        c.engine.close()


def test_request_batch_all_ok_has_no_errors_and_bad_batches_fail_whole(make_app, server):
    base, _ = server
    c = Client(
        make_app,
        {
            "g.lua": """
        local http_client = require("http_client")
        return { handler = function(base, which)
          local batches = {
            ok = { { "GET", base .. "/hello" }, { "GET", base .. "/hello" } },
            empty = {},
            stream = { { "GET", base .. "/hello", { stream = true } } },
            bad = { "GET" },
          }
          local rs, errs = http_client.request_batch(batches[which])
          if rs == nil then return { kind = errs:kind(), message = errs:message() } end
          return { n = #rs, errs = errs == nil, body = rs[2].body }
        end }
    """
        },
        LOCAL,
    )
    try:
        assert c.call("g", base, "ok") == {"n": 2, "errs": True, "body": "hello"}
        assert c.call("g", base, "empty") == {
            "kind": "Invalid",
            "message": "http_client.request_batch: requests table cannot be empty",
        }
        assert c.call("g", base, "stream") == {
            "kind": "Invalid",
            "message": "http_client.request_batch: requests[1]: streaming not supported in batch requests",
        }
        assert c.call("g", base, "bad") == {
            "kind": "Invalid",
            "message": "http_client.request_batch: requests[1]: each request must be a table",
        }
    finally:
        c.engine.close()


def test_the_calls_deadline_bounds_a_request(client, server):
    base, _ = server
    r = client.call("f", "get", base + "/stall", timeout=0.2)
    assert r["err"]["kind"] == "Internal" and r["err"]["retryable"] is True
    assert (
        r["err"]["message"]
        == f'Get "{base}/stall": timeout: no response within 0.2s (the call\'s deadline)'
    )


# -- bad input -----------------------------------------------------------------------------------
def test_refused_connection(client):
    r = client.call("f", "get", "http://127.0.0.1:1/x")
    assert r["err"] == {
        "kind": "Internal",
        "retryable": True,
        "message": 'Get "http://127.0.0.1:1/x": dial tcp 127.0.0.1:1: connect: connection refused',
    }


def test_dns_failure(client):
    r = client.call("f", "get", "http://nonexistent.invalid/")
    assert r["err"] == {
        "kind": "Internal",
        "retryable": True,
        "message": 'Get "http://nonexistent.invalid/": dial tcp: lookup nonexistent.invalid: no such host',
    }


def test_tls_error_and_a_custom_ca(client, tmp_path):
    with serve(tmp_path) as (base, _, pem):
        r = client.call("f", "get", base + "/hello")
        assert r["err"] == {
            "kind": "Internal",
            "retryable": True,
            "message": f'Get "{base}/hello": tls: failed to verify certificate: self-signed certificate',
        }
        r = client.call("f", "get", base + "/hello", {"tls": {"ca": pem.decode()}})
        assert r["body"] == "hello"
        r = client.call("f", "get", base + "/hello", {"tls": {"insecure_skip_verify": True}})
        assert r["err"]["kind"] == "PermissionDenied"
        assert r["err"]["message"].startswith(
            f"http_client.get: not allowed: insecure TLS for {base}/hello"
        )
        r = client.call("f", "get", base + "/hello", {"tls": {"ca": "not a pem"}})
        assert r["err"]["kind"] == "Invalid" and r["err"]["message"].startswith(
            "tls.ca: not a PEM certificate"
        )


def test_timeout(client, server):
    base, _ = server
    r = client.call("f", "get", base + "/stall", {"timeout": 0.2})
    assert r["err"] == {
        "kind": "Internal",
        "retryable": True,
        "message": f'Get "{base}/stall": timeout: no response within 0.2s (the request\'s timeout)',
    }
    r = client.call("f", "get", base + "/stall", {"timeout": "200ms"})
    assert "no response within 0.2s" in r["err"]["message"]


def test_too_large_body(client, server):
    base, _ = server
    r = client.call("f", "get", base + "/big?n=5000", {"max_response_body": 1000})
    assert r["err"] == {
        "kind": "Internal",
        "retryable": False,
        "message": f'Get "{base}/big?n=5000": response body too large (max 1000 bytes)',
    }
    # The default cap is 10 MB.
    r = client.call("f", "get", base + f"/big?n={10 * 1024 * 1024 + 1}")
    assert r["err"]["message"].endswith("response body too large (max 10485760 bytes)")
    assert (
        client.call("f", "get", base + "/big?n=1000", {"max_response_body": 1000})["size"] == 1000
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "ftp://example.com/",
            "http_client.get: invalid URL 'ftp://example.com/': unsupported protocol scheme 'ftp' (http or https)",
        ),
        (
            "not a url",
            "http_client.get: invalid URL 'not a url': unsupported protocol scheme '(none)' (http or https)",
        ),
        ("http:///path", "http_client.get: invalid URL 'http:///path': no host"),
        (
            "http://host:port/",
            "http_client.get: invalid URL 'http://host:port/': Port could not be cast to integer value as 'port'",
        ),
        ("", "http_client.get: URL required (a string), got string"),
    ],
)
def test_bad_url(client, url, message):
    assert client.call("f", "get", url)["err"] == {
        "kind": "Invalid",
        "retryable": False,
        "message": message,
    }


@pytest.mark.parametrize(
    ("options", "kind", "message"),
    [
        (
            {"timout": 1},
            "Invalid",
            "http_client.get: unknown option 'timout' (options of Wippy's http_client: headers, body, query, form, files, cookies, auth, timeout, stream, max_response_body, unix_socket, tls, overlay_network)",
        ),
        ({"timeout": "soon"}, "Invalid", None),
        (
            {"timeout": True},
            "Invalid",
            "http_client.get: options.timeout must be seconds or a duration string, got boolean",
        ),
        (
            {"headers": "x"},
            "Invalid",
            "http_client.get: options.headers must be a table, got string",
        ),
        (
            {"headers": {"X": {"nested": 1}}},
            "Invalid",
            "http_client.get: options.headers['X'] must be a string, got table",
        ),
        (
            {"headers": {"Bad Name": "v"}},
            "Invalid",
            "http_client.get: options.headers: invalid header name 'Bad Name'",
        ),
        (
            {"headers": {"X": "a\r\nInjected: 1"}},
            "Invalid",
            "http_client.get: options.headers['X']: a line break in the value",
        ),
        (
            {"body": {"a": 1}},
            "Invalid",
            "http_client.get: options.body must be a string, got table",
        ),
        (
            {"files": [{"filename": "a.txt", "content": "x"}]},
            "Invalid",
            "http_client.get: options.files[1].name is required (the form field name)",
        ),
        (
            {"stream": True},
            "Invalid",
            "http_client.get: options.stream: streaming responses are not available in this kit (the body is read whole; raise max_response_body for a large one)",
        ),
        (
            {"max_response_body": "big"},
            "Invalid",
            "http_client.get: options.max_response_body must be a number, got string",
        ),
        (
            {"tls": {"cert": "x"}},
            "Invalid",
            "http_client.get: options.tls: cert and key must be given together",
        ),
        (
            {"tls": {"verify": False}},
            "Invalid",
            "http_client.get: options.tls: unknown field 'verify' (cert, key, ca, server_name, insecure_skip_verify)",
        ),
        (
            {"unix_socket": "/var/run/docker.sock"},
            "PermissionDenied",
            "http_client.get: not allowed: unix socket /var/run/docker.sock (a Lambda has no local services to reach)",
        ),
        (
            {"overlay_network": "app:tor"},
            "Invalid",
            "http_client.get: options.overlay_network: network overlays are not available in this kit",
        ),
    ],
)
def test_bad_options(client, server, options, kind, message):
    base, _ = server
    err = client.call("f", "get", base + "/hello", options)["err"]
    assert err["kind"] == kind and err["retryable"] is False
    if message is None:
        assert err["message"].startswith("http_client.get: options.timeout: ")
    else:
        assert err["message"] == message


def test_bad_arguments(make_app):
    c = Client(
        make_app,
        {
            "g.lua": """
        local http_client = require("http_client")
        return { handler = function()
          local out = {}
          for i, call in ipairs({
            function() return http_client.get(42) end,
            function() return http_client.get("http://example.com/", "opts") end,
            function() return http_client.request(nil, "http://example.com/") end,
            function() return http_client.request("BAD METHOD", "http://example.com/") end,
            function() return http_client.request_batch("x") end,
          }) do
            local r, err = call()
            out[i] = err:kind() .. ": " .. err:message()
          end
          return out
        end }
    """
        },
        {},
    )
    try:
        assert c.call("g") == [
            "Invalid: http_client.get: URL required (a string), got number",
            "Invalid: http_client.get: options must be a table, got string",
            "Invalid: http_client.request: method must be a non-empty string, got nil",
            "Invalid: http_client.request: invalid method 'BAD METHOD'",
            "Invalid: http_client.request_batch: requests must be a table, got string",
        ]
    finally:
        c.engine.close()


# -- what a request may reach ---------------------------------------------------------------------
def test_private_addresses_are_refused_unless_listed(make_app, server):
    base, _ = server
    c = Client(make_app, {"f.lua": F}, {})
    try:
        r = c.call("f", "get", base + "/hello")
        assert r["err"]["kind"] == "PermissionDenied" and r["err"]["retryable"] is False
        assert r["err"]["message"].startswith(
            "not allowed: private IP 127.0.0.1 (list it in UNITS_HTTP_CLIENT_PRIVATE_IP"
        )
        # A name that resolves to a private address is checked where it connects.
        port = base.rsplit(":", 1)[1]
        r = c.call("f", "get", f"http://localhost:{port}/hello")
        assert r["err"]["kind"] == "PermissionDenied"
    finally:
        c.engine.close()


def test_the_runtime_api_and_credential_endpoints_are_never_reachable(make_app, server):
    base, _ = server
    port = base.rsplit(":", 1)[1]
    c = Client(
        make_app,
        {"f.lua": F},
        {"UNITS_HTTP_CLIENT_PRIVATE_IP": "*", "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}"},
    )
    try:
        r = c.call("f", "get", base + "/hello")
        assert r["err"] == {
            "kind": "PermissionDenied",
            "retryable": False,
            "message": "not allowed: 127.0.0.1 is a credentials or runtime endpoint of the host",
        }
        policy = c.engine.http_client().policy
        with pytest.raises(Exception, match="credentials or runtime endpoint"):
            policy.check("169.254.169.254", 80)
        with pytest.raises(Exception, match="credentials or runtime endpoint"):
            policy.check("::ffff:169.254.170.2", 80)
    finally:
        c.engine.close()


# -- URL escaping ----------------------------------------------------------------------------------
def test_encode_and_decode_uri(make_app):
    c = Client(
        make_app,
        {
            "g.lua": """
        local http_client = require("http_client")
        return { handler = function()
          local d, derr = http_client.decode_uri("%zz")
          return { e = http_client.encode_uri("hello world&a=b/ü~"), d = http_client.decode_uri("hello+world%26"),
                   bad = derr:kind() .. ": " .. derr:message(), dn = d == nil }
        end }
    """
        },
        {},
    )
    try:
        assert c.call("g") == {
            "e": "hello+world%26a%3Db%2F%C3%BC~",
            "d": "hello world&",
            "bad": 'Invalid: invalid URL escape "%zz"',
            "dn": True,
        }
    finally:
        c.engine.close()


# -- workflows ------------------------------------------------------------------------------------
def test_workflow_code_is_refused_and_told_to_call_a_function(make_app):
    app = make_app(
        _index("""
          - name: wf
            kind: workflow.lua
            source: file://wf.lua
            modules: [http_client]
        """),
        {
            "wf.lua": """
            local http_client = require("http_client")
            local function main()
              local out = {}
              local r, err = http_client.get("http://example.com/")
              out.get = { r == nil, err:kind(), err:message(), err:retryable() }
              local rs, berr = http_client.request_batch({ { "GET", "http://example.com/" } })
              out.batch = berr:message()
              return out
            end
            return { main = main }
        """
        },
    )
    engine = Engine(manifest.load_app(app))
    try:
        history = [Event(ev.WORKFLOW_STARTED, 1_700_000_000.0, {"input": None}, seq=1)]
        step = Replay(engine, "app:wf", "run-1", history).run(1_700_000_000.0)
        assert step.status == "completed", step.error
        message = (
            "http_client.get: not allowed in durable code (a workflow or a loop-style process: "
            "a request is an effect its replay would repeat): make it in a function and call "
            "that function with funcs.call (its result is recorded; in a workflow it runs as "
            "an activity)"
        )
        assert step.result["get"] == [True, "Invalid", message, False]
        assert step.result["batch"].startswith(
            "http_client.request_batch: not allowed in durable code"
        )
    finally:
        engine.close()


def test_the_pool_closes_with_the_engine(make_app, server):
    base, _ = server
    c = Client(make_app, {"f.lua": F}, LOCAL)
    assert c.call("f", "get", base + "/hello")["status"] == 200
    pool = c.engine.http_client().pool
    assert len(pool.pools) == 1
    c.engine.close()
    assert len(pool.pools) == 0


def test_response_fields_read_in_one_pass_match_urllib3s_lookups():
    import urllib3

    from runtime.http_client import _header_lists, _joined

    headers = urllib3.HTTPHeaderDict()
    for name, value in [
        ("content-length", "5"),
        ("Set-Cookie", "a=1"),
        ("X-Twice", "one"),
        ("set-cookie", "b=2"),
        ("x-twice", "two"),
    ]:
        headers.add(name, value)

    class Items:  # a urllib3 that keeps its fields otherwise: only the public items
        def iteritems(self):
            return headers.iteritems()

    for fields in (_header_lists(headers), _header_lists(Items())):
        for name in ("Content-Length", "Set-Cookie", "X-Twice", "Content-Encoding"):
            assert _joined(fields, name.lower()) == headers.get(name)
        assert fields["set-cookie"][1:] == headers.getlist("Set-Cookie")
        assert [v[0] for v in fields.values()] == list(headers)


def test_url_checks_are_the_same_for_cached_short_and_uncached_long_urls():
    from runtime.http_client import _CACHED_URL, check_url

    pad = "a" * _CACHED_URL
    for url, reason in [
        ("http://example.com/", None),
        ("ftp://example.com/", "unsupported protocol scheme 'ftp'"),
        ("http:///path", "no host"),
        ("http://example.com/a b", "a control character or space"),
    ]:
        for text in (url, url + pad):
            got = check_url(text)
            assert got is None if reason is None else reason in got
            assert check_url(text) == got  # a second ask (cached when short) says the same
