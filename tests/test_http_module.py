"""The ``http`` module with Wippy's API (docs: en/lua/http/http.md), through the real API path:
API Gateway HTTP API (v2) events into :class:`runtime.http_api.HttpApi`, the reply as API
Gateway would send it on. Every request and response method, every constant, their return
shapes (``value, err`` / ``err``) and their errors, bad input included."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from runtime import manifest
from runtime.apigw_events import http_event
from runtime.engine import Engine
from runtime.errors import (
    ALREADY_EXISTS,
    CANCELED,
    CONFLICT,
    INTERNAL,
    INVALID,
    KINDS,
    NOT_FOUND,
    PERMISSION_DENIED,
    RATE_LIMITED,
    TIMEOUT,
    UNAVAILABLE,
    UNKNOWN,
    UnitError,
)
from runtime.http_api import STATUS_OF_KIND, HttpApi, error_response
from runtime.http_media import content_type_is, parse_media_type, quality
from runtime.http_multipart import MultipartError, NotMultipartError, parse_form
from runtime.testing import LocalCloud
from tests.conftest import write_app

# -- the application ------------------------------------------------------------------------

ROUTES = [
    # (function, method, path)
    ("echo", "GET", "/req/{id}"),
    ("echo", "POST", "/req/{id}"),
    ("echo", "GET", "/tail/{rest...}"),
    ("body", "POST", "/body"),
    ("options", "GET", "/options"),
    ("stream", "POST", "/stream"),
    ("scan", "POST", "/scan"),
    ("upload", "POST", "/upload"),
    ("respond", "GET", "/res"),
    ("misuse", "GET", "/misuse"),
    ("stale", "GET", "/stale"),
    ("constants", "GET", "/constants"),
    ("raises", "GET", "/raises"),
    ("parent", "GET", "/parent"),
]

ECHO = r"""
local http = require("http")

-- Every request method with the arguments it takes, to count what each returns.
local CALLS = {
  method = {}, path = {}, query = { "q" }, query_params = {}, query_all = {},
  header = { "X-Multi" }, headers = {}, content_type = {}, content_length = {}, host = {},
  remote_addr = {}, param = { "id" }, params = {}, has_body = {}, body = {}, body_json = {},
  accepts = { "application/json" }, is_content_type = { "application/json" }, stream = {},
  parse_multipart = {},
}

local function second_is_nil(...) return select(2, ...) == nil end

return { handler = function()
  local req, err = http.request()
  local shapes = {}
  for name, args in pairs(CALLS) do
    shapes[name] = select("#", req[name](req, table.unpack(args)))
  end
  local first_nil = {}
  for _, name in ipairs({ "method", "path", "query_params", "headers", "content_length", "host",
                          "remote_addr", "params", "has_body", "body" }) do
    first_nil[name] = second_is_nil(req[name](req))
  end
  return {
    err_is_nil = err == nil,
    shapes = shapes,
    second_nil = first_nil,
    str = tostring(req),
    method = req:method(),
    path = req:path(),
    q = req:query("q"),
    q_missing = req:query("missing"),
    q_number_key = req:query(7),
    query_params = req:query_params(),
    query_all = req:query_all(),
    header_canonical = req:header("Content-Type"),
    header_lower = req:header("x-multi"),
    header_missing = req:header("X-None"),
    cookie = req:header("Cookie"),
    headers = req:headers(),
    content_type = req:content_type(),
    content_length = req:content_length(),
    host = req:host(),
    remote_addr = req:remote_addr(),
    id = req:param("id"),
    rest = req:param("rest"),
    param_missing = req:param("nope"),
    params = req:params(),
    has_body = req:has_body(),
    body = req:body(),
    json = req:is_content_type("application/json"),
    json_family = req:is_content_type("application/"),
    json_wild = req:is_content_type("application/*"),
    text = req:is_content_type("text/plain"),
    accepts_json = req:accepts("application/json"),
    accepts_html = req:accepts("text/html"),
    accepts_png = req:accepts("image/png"),
    accepts_utf8 = req:accepts("text/plain; charset=utf-8"),
  }
end }
"""

BODY = r"""
local http = require("http")
return { handler = function()
  local probe = http.request()
  local max = probe:query("max")
  local req = http.request(max and { max_body = tonumber(max), timeout = 5000 } or nil)
  if probe:query("mode") == "json" then
    local value, err = req:body_json()
    return { value = value, is_nil = value == nil, kind = err and err:kind(),
             message = err and err:message() }
  end
  local body, err = req:body()
  return { body = body, kind = err and err:kind(), message = err and err:message(),
           retryable = err and err:retryable() }
end }
"""

OPTIONS = r"""
local http = require("http")
local function try(...)
  local ok, e = pcall(http.request, ...)
  return ok and "ok" or tostring(e)
end
return { handler = function()
  local req = http.request({ max_body = 0, timeout = -1 })  -- <= 0 means the default
  return {
    defaults = req:body(),
    timeout = try({ timeout = "5s" }),
    max_body = try({ max_body = "10MB" }),
    not_table = try("fast"),
    empty = try({}),
  }
end }
"""

STREAM = r"""
local http = require("http")
return { handler = function()
  local req = http.request()
  local size = tonumber(req:query("size") or "")
  local s, serr = req:stream()
  local sizes, parts = {}, {}
  while true do
    local chunk, err = s:read(size)
    if err then return { read_error = err:message() } end
    if chunk == nil then break end
    sizes[#sizes + 1] = #chunk
    parts[#parts + 1] = chunk
  end
  local eof_n = select("#", s:read(4))
  local stat = s:stat()
  local p_set = s:seek("set", 2)
  local after_set = s:read(3)
  local p_cur = s:seek("cur", -1)
  local p_end = s:seek("end")
  local neg, neg_err = s:seek("set", -5)
  local wrote, werr = s:write("x")
  local flushed = s:flush()
  local p_default = s:seek()
  local c1, c1e = s:close()
  local c2, c2e = s:close()
  local r, rerr = s:read(1)
  local st, sterr = s:stat()
  local sk, skerr = s:seek("set", 0)
  local f, ferr = s:flush()
  local ok_seek, seek_msg = pcall(s.seek, s, "middle", 1)
  local ok_size, size_msg = pcall(s.read, s, "many")
  local ok_dot, dot_msg = pcall(s.read)
  return {
    stream_err = serr == nil,
    content = table.concat(parts),
    sizes = sizes,
    eof_n = eof_n,
    stat = stat,
    p_set = p_set, after_set = after_set, p_cur = p_cur, p_end = p_end,
    neg = neg, neg_kind = neg_err:kind(),
    wrote = wrote, write_kind = werr:kind(), write_message = werr:message(),
    flushed = flushed, p_default = p_default,
    close1 = { c1, c1e == nil }, close2 = { c2, c2e == nil },
    read_closed = { r == nil, rerr:kind(), rerr:message() },
    stat_closed = { st == nil, sterr:kind() },
    seek_closed = { sk, skerr:kind() },
    flush_closed = { f, ferr:kind() },
    bad_whence = seek_msg, bad_size = size_msg, dot_call = dot_msg,
    str = tostring(req:stream()),
  }
end }
"""

SCAN = r"""
local http = require("http")
return { handler = function()
  local req = http.request()
  local split = req:query("split")
  local s = req:stream()
  local skip = tonumber(req:query("skip") or "0")
  if skip > 0 then s:read(skip) end
  local sc, err = s:scanner(split)
  local tokens = {}
  while true do
    local more, serr = sc:scan()
    if serr then return { scan_error = serr:message() } end
    if not more then break end
    tokens[#tokens + 1] = sc:text()
  end
  local again = sc:scan()
  s:close()
  local closed_sc, closed_err = s:scanner()
  local ok, bad = pcall(s.scanner, s, "sentences")
  return { tokens = tokens, count = #tokens, err = sc:err(), again = again,
           text_after = sc:text(), closed = { closed_sc == nil, closed_err:kind() },
           bad_split = bad, scanner_err_nil = err == nil }
end }
"""

UPLOAD = r"""
local http = require("http")

local function hex(s)
  return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end))
end

return { handler = function()
  local req = http.request()
  local mm = req:query("max_memory")
  local form, err
  if mm then form, err = req:parse_multipart(tonumber(mm)) else form, err = req:parse_multipart() end
  if err then return { kind = err:kind(), message = err:message(), form_nil = form == nil } end
  local files = {}
  for field, list in pairs(form.files) do
    local out = {}
    for i, f in ipairs(list) do
      local s, serr = f:stream()
      local chunks = {}
      while true do
        local chunk, rerr = s:read(3)
        if rerr then error(rerr:message()) end
        if chunk == nil then break end
        chunks[#chunks + 1] = chunk
      end
      out[i] = {
        name = f:name(), size = f:size(),
        type = f:header("content-type"), disposition = f:header("Content-Disposition"),
        missing = f:header("X-None"),
        header_n = select("#", f:header("Content-Type")),
        name_n = select("#", f:name()), size_n = select("#", f:size()),
        stream_n = select("#", f:stream()),
        hex = hex(table.concat(chunks)), closed = s:close(), stream_err_nil = serr == nil,
        str = tostring(f),
      }
    end
    files[field] = out
  end
  return { values = form.values, files = files }
end }
"""

RESPOND = r"""
local http = require("http")

local function kind(err) return err and err:kind() or "none" end

local CASES = {}

function CASES.basic(res)
  local errs = { res:set_header("X-A", "1"), res:set_header("X-Count", 5),
                 res:set_content_type(http.CONTENT.TEXT), res:set_status(http.STATUS.CREATED) }
  res:write("a")
  res:write(2)
  assert(#errs == 0, "setters return nil on success")
  assert(select("#", res:write("c")) == 1, "write returns one value")
end

function CASES.after_status(res)
  res:set_status(http.STATUS.ACCEPTED)
  local e1 = res:set_header("X-Late", "1")
  local e2 = res:set_content_type("text/html")
  local e3 = res:set_status(500)
  local e4 = res:set_transfer(http.TRANSFER.CHUNKED)
  res:write_json({ header = kind(e1), content_type = kind(e2), status = kind(e3),
                   transfer = kind(e4), message = e1:message() })
end

function CASES.after_write(res)
  res:write("x")
  local kinds = { kind(res:set_status(201)), kind(res:set_header("X-Late", "1")),
                  kind(res:set_content_type("text/html")), kind(res:set_transfer("sse")),
                  kind(res:write_event({ name = "e", data = 1 })) }
  res:write(" " .. table.concat(kinds, ","))
end

function CASES.json_after_status(res)
  res:set_status(http.STATUS.BAD_REQUEST)
  res:write_json({ error = "bad" })
end

function CASES.json_keeps_type(res)
  res:set_content_type("application/vnd.api+json")
  res:write_json({ 1, 2 })
end

function CASES.bad_json(res)
  local err = res:write_json({ [1] = "a", [3] = "c" })
  return { kind = err:kind(), message = err:message() }
end

function CASES.binary(res)
  res:write("\0\1\2\255")
end

function CASES.empty(res)
  res:set_status(http.STATUS.NO_CONTENT)
end

function CASES.header_only(res)
  res:set_header("X-Only", "yes")
end

function CASES.content_type_only(res)
  res:set_content_type("text/html")
  return { returned = true }
end

function CASES.injection(res)
  res:set_header("X-Evil", "a\r\nSet-Cookie: x=1")
  res:write("ok")
end

function CASES.cookie(res)
  res:set_header("Set-Cookie", "a=1; Path=/")
  res:set_header("Set-Cookie", "b=2; HttpOnly")
  res:write("ok")
end

function CASES.sse(res)
  assert(res:write_event({ name = "start", data = { msg = "hi" } }) == nil)
  res:write_event({ name = 7, data = { 1, 2 } })
  res:write_event({ name = "end", data = "done" })
end

function CASES.sse_set(res)
  res:set_header("X-Before", "1")
  assert(res:set_transfer(http.TRANSFER.SSE) == nil)
  res:write(": comment\n\n")
  res:flush()
  res:write_event({ name = "tick", data = 1 })
end

function CASES.sse_bad_data(res)
  local err = res:write_event({ name = "x", data = { [1] = "a", [3] = "c" } })
  res:write_json({ kind = err:kind(), message = err:message() })
end

function CASES.chunked(res)
  res:set_transfer(http.TRANSFER.CHUNKED)
  res:set_content_type(http.CONTENT.STREAM)
  res:set_status(http.STATUS.OK)
  for i = 1, 3 do
    res:write("part" .. i .. ";")
    assert(res:flush() == nil)
  end
end

function CASES.flush_first(res)
  assert(select("#", res:flush()) == 1)
  local err = res:set_header("X-Late", "1")
  res:write(kind(err))
end

function CASES.too_big(res)
  local chunk = string.rep("x", 1024 * 1024)
  local err
  for _ = 1, 7 do
    err = res:write(chunk)
    if err then break end
  end
  res:write(kind(err) .. ": " .. err:message())
end

function CASES.fail_after_write(res)
  res:set_status(http.STATUS.CONFLICT)
  res:write("partial")
  error("boom after writing")
end

function CASES.fail_after_header(res)
  res:set_header("X-Started", "1")
  error("boom after a header")
end

function CASES.fail_before(res)
  res:set_content_type("text/html")
  error("boom before answering")
end

function CASES.bad_args(res)
  local function msg(fn, ...)
    local ok, e = pcall(fn, res, ...)
    return ok and "no error" or tostring(e)
  end
  return {
    status_type = msg(res.set_status, "200"),
    status_range = msg(res.set_status, 99),
    status_big = msg(res.set_status, 600),
    header_name = msg(res.set_header, "Bad Name", "v"),
    header_value = msg(res.set_header, "X-A", {}),
    write_table = msg(res.write, {}),
    transfer = msg(res.set_transfer, "gzip"),
    event_type = msg(res.write_event, "x"),
    event_no_name = msg(res.write_event, { data = 1 }),
    event_empty_name = msg(res.write_event, { name = "", data = 1 }),
    event_no_data = msg(res.write_event, { name = "a" }),
    event_newline = msg(res.write_event, { name = "a\nb", data = 1 }),
    dot_call = select(2, pcall(res.write, "x")),
  }
end

return { handler = function()
  local req = http.request()
  local res, err = http.response()
  assert(err == nil and select("#", http.response()) == 2)
  assert(tostring(res) == "http.Response{}")
  return CASES[req:query("case")](res)
end }
"""

MISUSE = r"""
local http = require("http")
return { handler = function()
  local req = http.request()
  -- (the calls are not tail calls, so the error's position is this file's line)
  local function msg(fn)
    local ok, e = pcall(fn)
    return ok and "no error" or tostring(e)
  end
  return {
    dot = msg(function() local _ = req.method() end),
    other_object = msg(function() local _ = req.method({}) end),
    query_key = msg(function() local _ = req:query(nil) end),
    header_name = msg(function() local _ = req:header({}) end),
    accepts_bad = msg(function() local _ = req:accepts("json") end),
    multipart_memory = msg(function() local _ = req:parse_multipart("lots") end),
    multipart_negative = msg(function() local _ = req:parse_multipart(-1) end),
    set_status_range = msg(function() local _ = http.response():set_status(42) end),
  }
end }
"""

STALE = r"""
local http = require("http")
local kept
return { handler = function()
  if kept == nil then
    kept = { http.request(), http.response() }
    return { first = true }
  end
  local ok1, e1 = pcall(kept[1].path, kept[1])
  local ok2, e2 = pcall(kept[2].write, kept[2], "x")
  return { request = ok1 and "no error" or tostring(e1), response = ok2 and "no error" or tostring(e2) }
end }
"""

CONSTANTS = r"""
local http = require("http")
return { handler = function()
  return { METHOD = http.METHOD, STATUS = http.STATUS, CONTENT = http.CONTENT,
           TRANSFER = http.TRANSFER, ERROR = http.ERROR }
end }
"""

RAISES = r"""
local http = require("http")
return { handler = function()
  http.request()
  error("plain failure")
end }
"""

OUTSIDE = r"""
local http = require("http")
return { handler = function()
  local req, rerr = http.request()
  local res, serr = http.response()
  local opt, oerr = http.request({ max_body = 10 })
  return { req_nil = req == nil, res_nil = res == nil, opt_nil = opt == nil,
           kinds = { rerr:kind(), serr:kind(), oerr:kind() }, message = rerr:message() }
end }
"""

PARENT = r"""
local http = require("http")
local funcs = require("funcs")
return { handler = function()
  -- A call with a timeout runs as a task of its own. (A plain funcs.call runs inline, in the
  -- handler's task, and still sees the request: a known difference.)
  local child, err = funcs.new():with_options({ timeout = 5000 }):call("app:outside")
  local from_coroutine
  coroutine.spawn(function()
    local req = http.request()
    from_coroutine = req and req:path()
  end)
  return { child = child, call_err = err == nil, from_coroutine = from_coroutine }
end }
"""

SOURCES = {
    "echo": ECHO,
    "body": BODY,
    "options": OPTIONS,
    "stream": STREAM,
    "scan": SCAN,
    "upload": UPLOAD,
    "respond": RESPOND,
    "misuse": MISUSE,
    "stale": STALE,
    "constants": CONSTANTS,
    "raises": RAISES,
    "outside": OUTSIDE,
    "parent": PARENT,
}
MODULES = {"parent": "[http, funcs]"}


def _index() -> str:
    lines = ['version: "1.0"', "namespace: app", "entries:"]
    for name in SOURCES:
        lines += [
            f"  - name: {name}",
            "    kind: function.lua",
            f"    source: file://{name}.lua",
            "    method: handler",
            f"    modules: {MODULES.get(name, '[http]')}",
        ]
    for i, (func, method, path) in enumerate(ROUTES):
        lines += [
            f"  - name: route{i}",
            "    kind: http.endpoint",
            f"    method: {method}",
            f"    path: {path}",
            f"    func: {func}",
            "    auth: none",
        ]
    return "\n".join(lines) + "\n"


class Api:
    """The app behind HttpApi, with the log lines application code and the kit wrote."""

    def __init__(self, root: Any) -> None:
        self.logs: list[tuple[str, str, dict[str, Any]]] = []
        self.engine = Engine(manifest.load_app(root), log_sink=lambda *line: self.logs.append(line))
        self.api = HttpApi(self.engine)

    def send(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.api.resolve(event, None)

    def __call__(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        query: Any = None,
    ) -> Reply:
        return Reply(self.send(http_event(method, path, body=body, headers=headers, query=query)))


class Reply:
    """An API Gateway v2 reply, read back: status, lower-cased headers, bytes, JSON."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.status = raw["statusCode"]
        self.headers = {k.lower(): v for k, v in (raw.get("headers") or {}).items()}
        body = raw.get("body") or ""
        self.data = base64.b64decode(body) if raw.get("isBase64Encoded") else body.encode()

    @property
    def text(self) -> str:
        return self.data.decode()

    @property
    def json(self) -> Any:
        return json.loads(self.data)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    root = write_app(
        tmp_path_factory.mktemp("http_module"),
        _index(),
        {f"{name}.lua": source for name, source in SOURCES.items()},
    )
    app = Api(root)
    yield app
    app.engine.close()


def multipart(parts: list[tuple[list[tuple[str, str]], bytes]], boundary: str = "XyZ") -> bytes:
    """A multipart/form-data body: ``parts`` of (headers, content)."""
    out = b""
    for headers, content in parts:
        out += f"--{boundary}\r\n".encode()
        for key, value in headers:
            out += f"{key}: {value}\r\n".encode()
        out += b"\r\n" + content + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def field(name: str, value: bytes) -> tuple[list[tuple[str, str]], bytes]:
    return [("Content-Disposition", f'form-data; name="{name}"')], value


def upload(name: str, filename: str, content: bytes, content_type: str = "text/plain"):
    disposition = f'form-data; name="{name}"; filename="{filename}"'
    return [("Content-Disposition", disposition), ("Content-Type", content_type)], content


MULTIPART = "multipart/form-data; boundary=XyZ"


# -- the request ----------------------------------------------------------------------------


def test_every_request_method_returns_value_and_nil(api):
    r = api("GET", "/req/42", headers={"Accept": "application/json"})
    assert r.status == 200
    out = r.json
    assert out["err_is_nil"] is True
    # Wippy's request methods all return two values: the value and nil (or nil and an error).
    assert set(out["shapes"].values()) == {2}, out["shapes"]
    assert len(out["shapes"]) == 20
    assert all(out["second_nil"].values())
    assert out["str"] == "http.Request{method=GET, path=/req/42}"


def test_request_data(api):
    event = http_event(
        "POST",
        "/req/a%20b",
        body=b'{"x": 1}',
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "X-Multi": "one,two",
            "Host": "api.example.com",
        },
        query="q=hello&tags=lua&tags=go&empty=&flag&q=second&sp=a+b%21",
    )
    event["requestContext"]["http"]["sourceIp"] = "203.0.113.9"
    event["cookies"] = ["a=1", "b=2"]
    out = Reply(api.send(event)).json
    assert (out["method"], out["path"]) == ("POST", "/req/a b")  # decoded, as Go's URL.Path
    assert out["q"] == "hello" and "q_missing" not in out and "q_number_key" not in out
    assert out["query_params"] == {
        "q": "hello,second",
        "tags": "lua,go",
        "empty": "",
        "flag": "",
        "sp": "a b!",
    }
    assert out["query_all"]["tags"] == ["lua", "go"]  # kit extension: every value
    assert out["header_canonical"] == "application/json; charset=utf-8"
    assert out["header_lower"] == "one,two"  # names match in any case
    assert "header_missing" not in out
    assert out["cookie"] == "a=1; b=2"  # payload v2's cookies list, back as the Cookie header
    assert out["headers"]["x-multi"] == "one,two"
    assert out["content_type"] == "application/json; charset=utf-8"
    assert out["content_length"] == 8 and out["has_body"] is True
    assert out["host"] == "api.example.com"
    assert out["remote_addr"] == "203.0.113.9"  # API Gateway passes no client port
    assert (out["id"], out["params"]) == ("a b", {"id": "a b"})
    assert "param_missing" not in out and "rest" not in out
    assert out["body"] == '{"x": 1}'
    assert (out["json"], out["json_family"], out["json_wild"], out["text"]) == (
        True,
        True,
        True,
        False,
    )


def test_header_lookup_is_case_insensitive(api):
    out = api("POST", "/req/1", body="x", headers={"content-type": "text/plain"}).json
    assert out["header_canonical"] == "text/plain"
    assert out["text"] is True and out["json"] is False


def test_request_without_body_or_headers(api):
    event = http_event("GET", "/req/7")
    del event["headers"]
    event["requestContext"]["http"].pop("sourceIp")
    event["requestContext"]["domainName"] = "abc.execute-api.eu-west-1.amazonaws.com"
    out = Reply(api.send(event)).json
    assert out["body"] == "" and out["has_body"] is False and out["content_length"] == 0
    assert "content_type" not in out and "cookie" not in out
    assert out["host"] == "abc.execute-api.eu-west-1.amazonaws.com"
    assert out["remote_addr"] == ""
    assert out["query_params"] == {} and out["headers"] == {}
    # No Accept header: the client takes anything (RFC 9110).
    assert out["accepts_json"] and out["accepts_html"] and out["accepts_png"]
    assert not out["json"] and not out["text"]


def test_greedy_tail_parameter(api):
    out = api("GET", "/tail/docs/a%2Fb/readme.md").json
    assert out["rest"] == "docs/a/b/readme.md"
    assert out["path"] == "/tail/docs/a/b/readme.md"


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json", {"json": True, "html": False, "png": False, "utf8": False}),
        ("*/*", {"json": True, "html": True, "png": True, "utf8": True}),
        ("text/*;q=0.5, application/json;q=0", {"json": False, "html": True, "utf8": True}),
        ("image/*, */*;q=0", {"json": False, "html": False, "png": True}),
        ("text/html;level=1, text/plain;charset=UTF-8", {"html": False, "utf8": True}),
        ("TEXT/HTML, application/xml;q=0.9", {"html": True, "json": False}),
        ("application/json;q=abc, text/html;q=1.5", {"json": False, "html": False}),
        ("*", {"json": True, "png": True}),
        ("garbage, , ;;", {"json": False, "html": False}),
        ("*/*;q=0.1, application/json;q=0", {"json": False, "png": True}),
    ],
)
def test_accepts_negotiates_with_q_values_and_wildcards(api, accept, expected):
    out = api("GET", "/req/1", headers={"Accept": accept}).json
    for name, value in expected.items():
        assert out[f"accepts_{name}"] is value, (accept, name)


def test_body_and_max_body(api):
    r = api("POST", "/body", body="hello world")
    assert r.json == {"body": "hello world"}
    r = api("POST", "/body", body="hello world", query={"max": "11"})
    assert r.json == {"body": "hello world"}
    r = api("POST", "/body", body="hello world", query={"max": "10"})
    assert r.json["kind"] == INVALID
    assert r.json["message"] == "request body too large: 11 bytes, max_body is 10"
    assert r.json["retryable"] is False  # as every error of Wippy's http module
    assert "body" not in r.json
    r = api("POST", "/body", body={"a": 1}, query={"max": "3", "mode": "json"})
    assert r.json["kind"] == INVALID and "too large" in r.json["message"]


def test_body_is_binary_safe(api):
    payload = bytes(range(256))
    r = api("POST", "/body", body=payload)
    assert base64.b64decode(r.json["body"]["$bytes"]) == payload


def test_body_json(api):
    r = api("POST", "/body", body={"a": [1, 2, {"b": None}]}, query={"mode": "json"})
    assert r.json == {"value": {"a": [1, 2, {}]}, "is_nil": False}
    r = api("POST", "/body", body="null", query={"mode": "json"})
    assert r.json == {"is_nil": True}
    r = api("POST", "/body", body="12.5", query={"mode": "json"})
    assert r.json == {"value": 12.5, "is_nil": False}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "request body is not valid JSON: line 1 column 2"),
        ("[1,", "request body is not valid JSON: line 1 column 4"),
        ('{"a":1} trailing', "request body is not valid JSON: line 1 column 9"),
        ("", "request body is empty (expected JSON)"),
        ("   ", "request body is empty (expected JSON)"),
    ],
)
def test_bad_json_is_an_invalid_error(api, bad, message):
    r = api("POST", "/body", body=bad or None, query={"mode": "json"})
    assert r.json["kind"] == INVALID
    assert r.json["message"].startswith(message), r.json["message"]
    assert r.json["is_nil"] is True


def test_request_options_are_checked(api):
    out = api("GET", "/options").json
    assert out["defaults"] == ""
    assert "options.timeout (milliseconds) must be a number, got string" in out["timeout"]
    assert "options.max_body (bytes) must be a number, got string" in out["max_body"]
    assert "http.request: options must be a table, got string" in out["not_table"]
    assert out["empty"] == "ok"


def test_http_module_outside_an_http_call(api):
    # A direct call (not through a route) has no request: nil, err of kind Internal, as in Wippy.
    out = api.engine.call("app:outside")
    assert out["req_nil"] and out["res_nil"] and out["opt_nil"]
    assert out["kinds"] == [INTERNAL, INTERNAL, INTERNAL]
    assert out["message"] == "http: this call did not come through an HTTP route"


def test_functions_it_calls_do_not_see_the_request(api):
    # As in Wippy, the request belongs to the HTTP-bound function: a funcs.call'd function gets
    # nil, err; a coroutine the handler spawned shares it.
    out = api("GET", "/parent").json
    assert out["call_err"] is True
    assert out["child"]["req_nil"] and out["child"]["res_nil"]
    assert out["child"]["kinds"] == [INTERNAL, INTERNAL, INTERNAL]
    assert out["from_coroutine"] == "/parent"


def test_misuse_of_request_objects_raises_a_clear_error(api):
    out = api("GET", "/misuse").json
    assert "Request:method: call it on an http.Request, with ':'" in out["dot"]
    assert "Request:method: call it on an http.Request" in out["other_object"]
    assert "query: the key must be a string, got nil" in out["query_key"]
    assert "header: the header name must be a string, got table" in out["header_name"]
    assert "accepts: 'json' is not a media type" in out["accepts_bad"]
    assert "max_memory must be a number, got string" in out["multipart_memory"]
    assert "max_memory must be a number of bytes >= 0" in out["multipart_negative"]
    # Errors point at the caller's line, not into the kit.
    for name in ("dot", "query_key", "accepts_bad", "multipart_memory", "set_status_range"):
        assert out[name].startswith("misuse.lua:"), (name, out[name])
    assert "42 is not an HTTP status code" in out["set_status_range"]


def test_objects_from_an_earlier_call_cannot_read_a_later_request(api):
    assert api("GET", "/stale").json == {"first": True}
    out = api("GET", "/stale").json
    assert "belongs to another HTTP call" in out["request"]
    assert "belongs to another HTTP call" in out["response"]


# -- the request body as a stream ----------------------------------------------------------


def test_stream_reads_in_chunks_and_follows_wippys_stream_shapes(api):
    body = "0123456789abcdef"
    out = api("POST", "/stream", body=body, query={"size": "5"}).json
    assert out["stream_err"] is True
    assert out["content"] == body and out["sizes"] == [5, 5, 5, 1]
    assert out["eof_n"] == 2  # nil, nil at the end
    assert out["stat"] == {
        "size": 16,
        "position": 16,
        "readable": True,
        "writable": False,
        "seekable": True,
    }
    assert (out["p_set"], out["after_set"], out["p_cur"], out["p_end"]) == (2, "234", 4, 16)
    assert (out["neg"], out["neg_kind"]) == (-1, INTERNAL)
    assert (out["wrote"], out["write_kind"]) == (0, INTERNAL)
    assert "not writable" in out["write_message"]
    assert out["flushed"] is True and out["p_default"] == 0
    assert out["close1"] == [True, True] and out["close2"] == [True, True]  # closing twice is fine
    assert out["read_closed"][:2] == [True, INTERNAL] and "closed" in out["read_closed"][2]
    assert out["stat_closed"] == [True, INTERNAL]
    assert out["seek_closed"] == [-1, INTERNAL]
    assert out["flush_closed"] == [False, INTERNAL]
    assert "invalid whence middle" in out["bad_whence"]
    assert "size must be a number of bytes, got string" in out["bad_size"]
    assert "call it on a stream, with ':'" in out["dot_call"]
    assert out["str"] == "stream.Stream{size=16, position=0}"


def test_stream_default_chunk_is_32k(api):
    body = "x" * (70 * 1024)
    out = api("POST", "/stream", body=body).json
    assert out["sizes"] == [32768, 32768, 6144]
    out = api("POST", "/stream", body=body, query={"size": "0"}).json
    assert out["sizes"] == [32768, 32768, 6144]


def test_stream_of_an_empty_body_is_at_eof(api):
    out = api("POST", "/stream").json
    assert out["content"] == "" and out["sizes"] == {} and out["eof_n"] == 2  # {}: empty table


@pytest.mark.parametrize(
    ("split", "body", "tokens"),
    [
        ("lines", "a\nbb\r\n\nlast", ["a", "bb", "", "last"]),
        ("lines", "one\ntwo\n", ["one", "two"]),
        (None, "x\r\ny", ["x", "y"]),
        ("words", "  hello \t wide\u3000world\n\u00a0end ", ["hello", "wide", "world", "end"]),
        ("bytes", "ab\n", ["a", "b", "\n"]),
        ("runes", "h\u00e9\u20ac\U0001f600", ["h", "\u00e9", "\u20ac", "\U0001f600"]),
    ],
)
def test_stream_scanner_splits(api, split, body, tokens):
    query = {"split": split} if split else {}
    out = api("POST", "/scan", body=body, query=query).json
    assert out["tokens"] == tokens and out["count"] == len(tokens)
    assert "err" not in out and out["again"] is False and out["text_after"] == ""
    assert out["closed"] == [True, INTERNAL]
    assert "invalid split type sentences" in out["bad_split"]
    assert out["scanner_err_nil"] is True


def test_scanner_starts_where_the_stream_is_and_handles_bad_utf8(api):
    out = api("POST", "/scan", body="skip\nkeep\nthis", query={"skip": "5"}).json
    assert out["tokens"] == ["keep", "this"]
    # Bad UTF-8: each bad byte is U+FFFD, as Go's rune scanner gives it.
    out = api("POST", "/scan", body=b"a\xff\xe2\x82", query={"split": "runes"}).json
    assert out["tokens"] == ["a", "\ufffd", "\ufffd", "\ufffd"]


def test_scanner_token_too_long(api):
    out = api("POST", "/scan", body="y" * (64 * 1024 + 1)).json
    assert out["tokens"] == {} and out["err"] == "bufio.Scanner: token too long"
    out = api("POST", "/scan", body="y" * (64 * 1024 - 1) + "\nz").json
    assert out["count"] == 2


# -- multipart forms ------------------------------------------------------------------------


def test_parse_multipart_values_and_files(api):
    binary = b"\x00\x01\r\n--XyZ-not-a-boundary\r\n\xff"
    body = multipart(
        [
            field("title", b"Hello"),
            field("tag", b"a"),
            field("tag", b"b"),
            field("empty", b""),
            upload("avatar", "photo.jpg", binary, "image/jpeg"),
            upload("docs", "a.txt", b"first"),
            upload("docs", "../../etc/passwd", b"second"),
            ([("Content-Disposition", 'form-data; name="note"; filename=""')], b"no file"),
            ([("Content-Disposition", "form-data")], b"no name: skipped"),
            ([("Content-Disposition", 'attachment; name="x"')], b"not form-data: skipped"),
        ]
    )
    r = api("POST", "/upload", body=body, headers={"Content-Type": MULTIPART})
    out = r.json
    assert out["values"] == {"title": "Hello", "tag": ["a", "b"], "empty": "", "note": "no file"}
    assert set(out["files"]) == {"avatar", "docs"}
    avatar = out["files"]["avatar"][0]
    assert avatar["name"] == "photo.jpg" and avatar["size"] == len(binary)
    assert avatar["type"] == "image/jpeg"
    assert avatar["disposition"] == 'form-data; name="avatar"; filename="photo.jpg"'
    assert "missing" not in avatar
    assert bytes.fromhex(avatar["hex"]) == binary
    assert avatar["closed"] is True and avatar["stream_err_nil"] is True
    # header returns one value; name, size, stream return value, nil.
    assert (avatar["header_n"], avatar["name_n"], avatar["size_n"], avatar["stream_n"]) == (
        1,
        2,
        2,
        2,
    )
    assert avatar["str"] == f"http.MultipartFile{{name=photo.jpg, size={len(binary)}}}"
    docs = out["files"]["docs"]
    # Files keep their order; a client path keeps its last segment only.
    assert [(d["name"], bytes.fromhex(d["hex"])) for d in docs] == [
        ("a.txt", b"first"),
        ("passwd", b"second"),
    ]


def test_parse_multipart_utf8_and_rfc2231_file_names(api):
    body = multipart(
        [
            upload("f", "r\u00e9sum\u00e9.pdf", b"1"),
            (
                [("Content-Disposition", "form-data; name=\"g\"; filename*=UTF-8''%E2%82%AC.txt")],
                b"2",
            ),
        ]
    )
    out = api("POST", "/upload", body=body, headers={"Content-Type": MULTIPART}).json
    assert out["files"]["f"][0]["name"] == "r\u00e9sum\u00e9.pdf"
    assert out["files"]["g"][0]["name"] == "\u20ac.txt"
    assert "type" not in out["files"]["g"][0]


def test_parse_multipart_empty_form(api):
    body = b"--XyZ--\r\n"
    out = api("POST", "/upload", body=body, headers={"Content-Type": MULTIPART}).json
    assert out == {"values": {}, "files": {}}


@pytest.mark.parametrize(
    ("content_type", "fragment"),
    [
        (None, "the request has no Content-Type"),
        ("application/json", "not multipart/form-data"),
        ("multipart/mixed; boundary=XyZ", "not multipart/form-data"),
    ],
)
def test_parse_multipart_refuses_other_content_types(api, content_type, fragment):
    headers = {"Content-Type": content_type} if content_type else {}
    body = multipart([field("a", b"1")])
    out = api("POST", "/upload", body=body, headers=headers).json
    assert out["kind"] == INVALID and out["form_nil"] is True
    assert out["message"].startswith("parse_multipart: ") and fragment in out["message"]


@pytest.mark.parametrize(
    ("content_type", "body", "fragment"),
    [
        ("multipart/form-data", multipart([field("a", b"1")]), "no boundary parameter"),
        (MULTIPART, b"", "the multipart body is empty"),
        (MULTIPART, b"garbage before\r\n" + multipart([field("a", b"1")]), "malformed"),
        (MULTIPART, multipart([field("a", b"1")])[:-9], "ends before its closing boundary"),
        (MULTIPART, b"--XyZ\r\nNo-Colon-Here\r\n\r\nx\r\n--XyZ--\r\n", "malformed"),
        (MULTIPART, multipart([field("a", b"1")], boundary="Other"), "malformed"),
        ("multipart/form-data; boundary=" + "b" * 71, b"x", "at most 70"),
    ],
)
def test_malformed_multipart_is_an_error(api, content_type, body, fragment):
    out = api("POST", "/upload", body=body, headers={"Content-Type": content_type}).json
    # Wippy reports a body that does not parse as Internal (Go's ParseMultipartForm error).
    assert out["kind"] == INTERNAL, out
    assert fragment in out["message"], out["message"]


def test_parse_multipart_takes_max_memory(api):
    body = multipart([field("a", b"small"), upload("f", "f.bin", b"\x00" * 100)])
    out = api(
        "POST",
        "/upload",
        body=body,
        headers={"Content-Type": MULTIPART},
        query={"max_memory": "0"},
    ).json
    assert out["values"] == {"a": "small"} and out["files"]["f"][0]["size"] == 100


def test_max_memory_limits_values_not_files():
    # As Go's ParseMultipartForm: values may use max_memory + 10 MB; files are not limited (Go
    # spills them to disk). A Lambda request body is at most 6 MB, so only a direct call of
    # the parser reaches the limit.
    big = b"v" * (10 * 1024 * 1024 + 1)
    with pytest.raises(MultipartError, match="over 10485760 bytes"):
        parse_form(MULTIPART, multipart([field("a", big)]), 0)
    assert parse_form(MULTIPART, multipart([field("a", big)]), 1).values["a"] == [big]
    form = parse_form(MULTIPART, multipart([upload("f", "big.bin", big)]), 0)
    assert form.files["f"][0].content == big


def test_parse_form_limits_the_number_of_parts():
    body = multipart([field(f"f{i}", b"x") for i in range(1001)])
    with pytest.raises(MultipartError, match="more than 1000 parts"):
        parse_form(MULTIPART, body, 0)
    assert len(parse_form(MULTIPART, multipart([field("a", b"")] * 1000), 0).values["a"]) == 1000
    with pytest.raises(NotMultipartError):
        parse_form("text/plain", b"", 0)


# -- the response ---------------------------------------------------------------------------


def test_response_status_headers_and_writes(api):
    r = api("GET", "/res", query={"case": "basic"})
    assert r.status == 201
    assert r.headers["content-type"] == "text/plain"
    assert (r.headers["x-a"], r.headers["x-count"]) == ("1", "5")
    assert r.text == "a2c"


def test_status_and_headers_cannot_change_after_set_status(api):
    # set_status sends the headers (Go's WriteHeader in Wippy): later setters return Invalid.
    r = api("GET", "/res", query={"case": "after_status"})
    assert r.status == 202
    assert "x-late" not in r.headers
    assert r.headers["content-type"] == "application/json"
    body = r.json
    assert (body["header"], body["content_type"], body["status"], body["transfer"]) == (
        INVALID,
        INVALID,
        INVALID,
        INVALID,
    )
    assert "the headers are already sent" in body["message"]


def test_nothing_about_the_headers_changes_after_a_write(api):
    r = api("GET", "/res", query={"case": "after_write"})
    assert r.status == 200 and "x-late" not in r.headers
    assert r.text == "x " + ",".join([INVALID] * 5)
    assert r.headers["content-type"] == "text/plain; charset=utf-8"  # nothing set: sniffed


def test_write_json(api):
    r = api("GET", "/res", query={"case": "json_after_status"})
    assert (r.status, r.headers["content-type"], r.json) == (
        400,
        "application/json",
        {"error": "bad"},
    )
    r = api("GET", "/res", query={"case": "json_keeps_type"})
    assert (r.headers["content-type"], r.json) == ("application/vnd.api+json", [1, 2])
    r = api("GET", "/res", query={"case": "bad_json"})
    # A failed write_json wrote nothing: the function's return value is the answer.
    assert r.status == 200 and r.json["kind"] == INVALID
    assert r.json["message"].startswith("write_json: ")


def test_binary_and_empty_responses(api):
    r = api("GET", "/res", query={"case": "binary"})
    assert r.raw["isBase64Encoded"] is True and r.data == b"\x00\x01\x02\xff"
    assert r.headers["content-type"] == "application/octet-stream"
    r = api("GET", "/res", query={"case": "empty"})
    assert (r.status, r.data) == (204, b"") and "content-type" not in r.headers
    # set_header answers (Wippy marks the response handled): an empty 200.
    r = api("GET", "/res", query={"case": "header_only"})
    assert (r.status, r.data, r.headers["x-only"]) == (200, b"", "yes")
    # set_content_type alone does not: the return value is the answer.
    r = api("GET", "/res", query={"case": "content_type_only"})
    assert (r.status, r.json, r.headers["content-type"]) == (
        200,
        {"returned": True},
        "application/json",
    )


def test_header_values_cannot_inject_lines(api):
    r = api("GET", "/res", query={"case": "injection"})
    assert r.headers["x-evil"] == "a  Set-Cookie: x=1"
    assert not r.raw.get("cookies")


def test_set_cookie_goes_to_the_v2_cookies_list(api):
    r = api("GET", "/res", query={"case": "cookie"})
    # set_header replaces, as Go's Header.Set does: the last cookie set is the one sent.
    assert r.raw["cookies"] == ["b=2; HttpOnly"]
    assert "set-cookie" not in r.headers


def test_server_sent_events_are_framed_into_one_buffered_body(api):
    r = api("GET", "/res", query={"case": "sse"})
    assert r.status == 200
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["cache-control"] == "no-cache"
    assert "connection" not in r.headers and "transfer-encoding" not in r.headers
    assert r.text == (
        'event: start\ndata: {"msg":"hi"}\n\nevent: 7\ndata: [1,2]\n\nevent: end\ndata: "done"\n\n'
    )
    r = api("GET", "/res", query={"case": "sse_set"})
    assert r.headers["x-before"] == "1" and r.headers["content-type"] == "text/event-stream"
    assert r.text == ": comment\n\nevent: tick\ndata: 1\n\n"


def test_write_event_errors(api):
    r = api("GET", "/res", query={"case": "sse_bad_data"})
    assert r.json["kind"] == INVALID and r.json["message"].startswith("write_event: ")
    # after_write: write_event once the headers are sent (not in SSE mode) is Invalid.
    assert api("GET", "/res", query={"case": "after_write"}).text.endswith(INVALID)


def test_chunked_transfer_and_flush_keep_order_in_the_buffered_body(api):
    r = api("GET", "/res", query={"case": "chunked"})
    assert (r.status, r.text) == (200, "part1;part2;part3;")
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["cache-control"] == "no-cache"
    assert "transfer-encoding" not in r.headers  # API Gateway frames the reply itself
    r = api("GET", "/res", query={"case": "flush_first"})
    assert r.text == INVALID  # flush sends the headers


def test_a_response_over_the_lambda_limit_fails_the_write(api):
    r = api("GET", "/res", query={"case": "too_big"})
    assert r.status == 200
    # Five MB fit; the sixth would leave no room for the reply's envelope: that write returns
    # Internal and writes nothing.
    assert r.data.startswith(b"x" * (5 * 1024 * 1024))
    tail = r.data[5 * 1024 * 1024 :].decode()
    assert tail.startswith(INTERNAL + ": write: write failed: the response is ")
    assert "at most 6291456 bytes" in tail


def test_response_bad_arguments_raise(api):
    out = api("GET", "/res", query={"case": "bad_args"}).json
    assert "the status must be a number, got string" in out["status_type"]
    assert "99 is not an HTTP status code" in out["status_range"]
    assert "600 is not an HTTP status code" in out["status_big"]
    assert "'Bad Name' is not a valid header name" in out["header_name"]
    assert "the header value must be a string, got table" in out["header_value"]
    assert "the data must be a string, got table" in out["write_table"]
    assert "invalid transfer type gzip" in out["transfer"]
    assert "the event must be a table" in out["event_type"]
    assert "the event has no name" in out["event_no_name"]
    assert "the event has no name" in out["event_empty_name"]
    assert "the event has no data" in out["event_no_data"]
    assert "must not contain line breaks" in out["event_newline"]
    assert "Response:write: call it on an http.Response, with ':'" in out["dot_call"]


# -- how a function's error becomes the answer ----------------------------------------------


def test_an_error_after_answering_keeps_the_answer_and_is_logged(api):
    api.logs.clear()
    r = api("GET", "/res", query={"case": "fail_after_write"})
    assert (r.status, r.text) == (409, "partial")
    errors = [line for line in api.logs if line[0] == "error"]
    assert len(errors) == 1 and "boom after writing" in errors[0][1]
    assert errors[0][2]["entry"] == "app:respond"
    r = api("GET", "/res", query={"case": "fail_after_header"})
    assert (r.status, r.data, r.headers["x-started"]) == (200, b"", "1")


def test_an_error_before_answering_is_mapped_to_a_status(api):
    r = api("GET", "/res", query={"case": "fail_before"})
    assert r.status == 500 and r.headers["content-type"] == "application/json"
    assert r.json["error"]["kind"] == INTERNAL
    r = api("GET", "/raises")
    assert r.status == 500 and r.json["error"]["kind"] == INTERNAL


def test_an_internal_error_is_a_generic_message_and_a_request_id_its_text_goes_to_the_logs(api):
    """An INTERNAL error's text may carry AWS SDK messages (ARNs, the account id) or the
    application's code: the client gets a request id, the logs get the text under it."""
    api.logs.clear()
    event = http_event("GET", "/res", query={"case": "fail_before"})
    request_id = event["requestContext"]["requestId"]
    r = Reply(api.send(event))
    assert r.status == 500
    assert r.json == {
        "error": {
            "kind": INTERNAL,
            "message": f"internal error (request id {request_id}); the details are in the logs",
            "request_id": request_id,
        }
    }
    assert "boom" not in r.text and "respond" not in r.text
    (line,) = [line for line in api.logs if line[0] == "error"]
    assert "boom before answering" in line[1]
    assert line[2]["request_id"] == request_id and line[2]["kind"] == INTERNAL
    assert line[2]["entry"] == "app:respond"
    # Every other kind keeps the message the function chose to return.
    r = api("GET", "/res", query={"case": "fail_after_write"})
    assert (r.status, r.text) == (409, "partial")
    response = error_response(UnitError(NOT_FOUND, "no order 7"))
    assert json.loads(response.body) == {"error": {"kind": NOT_FOUND, "message": "no order 7"}}


@pytest.mark.parametrize(
    ("kind", "status"),
    [
        (INVALID, 400),
        (PERMISSION_DENIED, 403),
        (NOT_FOUND, 404),
        (ALREADY_EXISTS, 409),
        (CONFLICT, 409),
        (RATE_LIMITED, 429),
        (CANCELED, 499),
        (INTERNAL, 500),
        (UNKNOWN, 500),
        (UNAVAILABLE, 503),
        (TIMEOUT, 504),
    ],
)
def test_error_kinds_map_to_statuses(kind, status):
    response = error_response(UnitError(kind, "m"))
    assert response.status_code == status
    assert json.loads(response.body) == {"error": {"kind": kind, "message": "m"}}


def test_every_kind_has_a_status():
    assert set(STATUS_OF_KIND) == set(KINDS)


# -- constants ------------------------------------------------------------------------------


def test_constants(api):
    out = api("GET", "/constants").json
    assert out["METHOD"] == {
        m: m for m in ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
    }
    assert out["STATUS"] == {
        "OK": 200,
        "CREATED": 201,
        "ACCEPTED": 202,
        "NO_CONTENT": 204,
        "PARTIAL_CONTENT": 206,
        "MOVED_PERMANENTLY": 301,
        "FOUND": 302,
        "SEE_OTHER": 303,
        "NOT_MODIFIED": 304,
        "TEMPORARY_REDIRECT": 307,
        "PERMANENT_REDIRECT": 308,
        "BAD_REQUEST": 400,
        "UNAUTHORIZED": 401,
        "PAYMENT_REQUIRED": 402,
        "FORBIDDEN": 403,
        "NOT_FOUND": 404,
        "METHOD_NOT_ALLOWED": 405,
        "NOT_ACCEPTABLE": 406,
        "CONFLICT": 409,
        "GONE": 410,
        "UNPROCESSABLE": 422,
        "TOO_MANY_REQUESTS": 429,
        "INTERNAL_ERROR": 500,
        "INTERNAL_SERVER_ERROR": 500,
        "NOT_IMPLEMENTED": 501,
        "BAD_GATEWAY": 502,
        "SERVICE_UNAVAILABLE": 503,
        "GATEWAY_TIMEOUT": 504,
        "VERSION_NOT_SUPPORTED": 505,
    }
    assert out["CONTENT"] == {
        "JSON": "application/json",
        "FORM": "application/x-www-form-urlencoded",
        "MULTIPART": "multipart/form-data",
        "TEXT": "text/plain",
        "STREAM": "application/octet-stream",
    }
    assert out["TRANSFER"] == {"CHUNKED": "chunked", "SSE": "sse"}
    assert out["ERROR"] == {
        "PARSE_FAILED": "PARSE_FAILED",
        "INVALID_STATE": "INVALID_STATE",
        "WRITE_FAILED": "WRITE_FAILED",
        "STREAM_ERROR": "STREAM_ERROR",
    }


# -- media types ----------------------------------------------------------------------------


def test_media_type_parsing():
    media = parse_media_type('Text/HTML; Charset="UTF-8"; q=0.5; bad')
    assert media is not None
    assert (media.type, media.subtype, media.params) == (
        "text",
        "html",
        (("charset", "utf-8"), ("q", "0.5")),
    )
    assert parse_media_type("json") is None and parse_media_type("a b/c") is None
    assert parse_media_type("") is None


def test_quality_uses_the_most_specific_range():
    header = "text/*;q=0.3, text/plain;q=0.7, text/plain;format=flowed, */*;q=0.1"
    plain = parse_media_type("text/plain")
    flowed = parse_media_type("text/plain; format=flowed")
    html = parse_media_type("text/html")
    png = parse_media_type("image/png")
    assert plain and flowed and html and png
    assert quality(header, plain) == 0.7
    assert quality(header, flowed) == 1.0
    assert quality(header, html) == 0.3
    assert quality(header, png) == 0.1
    assert quality(None, png) == 1.0 and quality("", png) == 1.0
    assert quality('text/html;x="a,b", image/png;q=0.2', png) == 0.2  # quoted commas


def test_content_type_is():
    assert content_type_is("application/json; charset=utf-8", "application/json")
    assert content_type_is("Application/JSON", "application/json")
    assert not content_type_is("application/json-patch+json", "application/json")
    assert content_type_is("multipart/form-data; boundary=x", "multipart")
    assert content_type_is("multipart/form-data; boundary=x", "multipart/")
    assert content_type_is("text/plain; charset=UTF-8", "text/plain; charset=utf-8")
    assert not content_type_is("text/plain", "text/plain; charset=utf-8")
    assert content_type_is("image/png", "*/*") and content_type_is("image/png", "image/*")
    assert not content_type_is(None, "text/plain") and not content_type_is("junk", "text/plain")


# -- through the harness --------------------------------------------------------------------


def test_through_local_cloud(make_app):
    app = make_app(
        """
        version: "1.0"
        namespace: app
        entries:
          - name: up
            kind: function.lua
            source: file://up.lua
            modules: [http]
          - name: up.post
            kind: http.endpoint
            method: POST
            path: /up
            func: up
            auth: none
        """,
        {
            "up.lua": """
            local http = require("http")
            return { handler = function()
              local req, res = http.request(), http.response()
              local form, err = req:parse_multipart()
              if err then
                res:set_status(http.STATUS.BAD_REQUEST)
                return res:write_json({ error = err:message() })
              end
              local file = form.files.doc[1]
              res:set_status(http.STATUS.CREATED)
              res:write_json({ title = form.values.title, name = file:name(), size = file:size() })
            end }
            """
        },
    )
    with LocalCloud(app) as cloud:
        body = multipart([field("title", b"T"), upload("doc", "d.txt", b"12345")])
        r = cloud.http("POST", "/up", body=body, headers={"Content-Type": MULTIPART})
        assert (r.status, r.body) == (201, {"title": "T", "name": "d.txt", "size": 5})
        bad = cloud.http("POST", "/up", body="x", headers={"Content-Type": "text/plain"})
        assert bad.status == 400 and "not multipart/form-data" in bad.body["error"]
