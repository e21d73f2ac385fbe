"""``http``: the request and response of an HTTP-bound function call, with Wippy's API.

``http.request(options?)`` and ``http.response()`` return ``nil, err`` (kind ``Internal``, as in
Wippy) when the call did not come through an ``http.endpoint`` route, for example a direct
``funcs.call``. The request is the API Gateway HTTP API event, already whole in memory; the
response is buffered and becomes the Lambda's reply when the function returns, so ``flush``,
chunked transfer and server-sent events keep their order and framing but reach the client in
one piece (API Gateway HTTP APIs do not stream Lambda responses).
"""

from __future__ import annotations

import re
from importlib import resources
from typing import TYPE_CHECKING, Any

from runtime.aws.limits import payload_too_large
from runtime.errors import INTERNAL, INVALID, CodecError
from runtime.http_exchange import REPLY_OVERHEAD, HttpExchange, HttpRequest, HttpResponse
from runtime.http_media import content_type_is, parse_media_type, quality
from runtime.http_multipart import MultipartError, NotMultipartError, parse_form
from runtime.sandbox import lua_text

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

#: The message of the error ``http.request()`` / ``http.response()`` return outside a route.
NOT_HTTP = "http: this call did not come through an HTTP route"
#: RFC 9110 field names: tokens.
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

_STREAM_LUA = resources.files("runtime").joinpath("lua/stream.lua").read_text(encoding="utf-8")

_LUA = """
local host, new_stream = ...
local type, error, setmetatable, tostring, ipairs, rawget = type, error, setmetatable, tostring,
  ipairs, rawget
local floor, sformat, slower, sfind = math.floor, string.format, string.lower, string.find

local DEFAULT_MAX_BODY = 120 * 1024 * 1024 -- Wippy's default max_body
local DEFAULT_MAX_MEMORY = 32 * 1024 * 1024 -- Wippy's default parse_multipart(max_memory)

local M = {
  METHOD = { GET = "GET", POST = "POST", PUT = "PUT", DELETE = "DELETE", PATCH = "PATCH",
             HEAD = "HEAD", OPTIONS = "OPTIONS" },
  STATUS = {
    OK = 200, CREATED = 201, ACCEPTED = 202, NO_CONTENT = 204, PARTIAL_CONTENT = 206,
    MOVED_PERMANENTLY = 301, FOUND = 302, SEE_OTHER = 303, NOT_MODIFIED = 304,
    TEMPORARY_REDIRECT = 307, PERMANENT_REDIRECT = 308,
    BAD_REQUEST = 400, UNAUTHORIZED = 401, PAYMENT_REQUIRED = 402, FORBIDDEN = 403,
    NOT_FOUND = 404, METHOD_NOT_ALLOWED = 405, NOT_ACCEPTABLE = 406, CONFLICT = 409, GONE = 410,
    UNPROCESSABLE = 422, TOO_MANY_REQUESTS = 429,
    INTERNAL_ERROR = 500, INTERNAL_SERVER_ERROR = 500, NOT_IMPLEMENTED = 501,
    BAD_GATEWAY = 502, SERVICE_UNAVAILABLE = 503, GATEWAY_TIMEOUT = 504,
    VERSION_NOT_SUPPORTED = 505,
  },
  CONTENT = { JSON = "application/json", FORM = "application/x-www-form-urlencoded",
              MULTIPART = "multipart/form-data", TEXT = "text/plain",
              STREAM = "application/octet-stream" },
  TRANSFER = { CHUNKED = "chunked", SSE = "sse" },
  ERROR = { PARSE_FAILED = "PARSE_FAILED", INVALID_STATE = "INVALID_STATE",
            WRITE_FAILED = "WRITE_FAILED", STREAM_ERROR = "STREAM_ERROR" },
}

-- What each request / response / file object stands for; application code only holds the
-- empty table, so it cannot forge another exchange's token.
local owners = setmetatable({}, { __mode = "k" })

-- level: where the application's call is, seen from here (3: own's caller's caller).
local function own(self, kind, method, level)
  local o = owners[self]
  if o == nil or o.kind ~= kind then
    error(sformat("%s:%s: call it on an http.%s, with ':' (obj:%s(...))", kind, method, kind,
      method), level or 3)
  end
  return o
end

-- Strings, and numbers as their text (Wippy's argument checks take both).
local function text(v, method, what)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  error(sformat("%s: %s must be a string, got %s", method, what, t), 3)
end

local function optional_number(v, method, what)
  if v ~= nil and type(v) ~= "number" then
    error(sformat("%s: %s must be a number, got %s", method, what, type(v)), 3)
  end
  return v
end

-- Request ----------------------------------------------------------------------------------

local request_mt = { __metatable = "http.Request" }
local request = {}
request_mt.__index = request
request_mt.__tostring = function(self)
  local o = owners[self]
  return sformat("http.Request{method=%s, path=%s}", o.method, o.path)
end

local function req(self, method) return own(self, "Request", method, 4).token end

-- Host calls are never tail calls here: a Python-side error is raised two frames up from the
-- host function (kit.wrap), which must be the application's line, not this file's.
function request.method(self)
  local v, e = host.req_method(req(self, "method")); return v, e
end
function request.path(self)
  local v, e = host.req_path(req(self, "path")); return v, e
end
function request.query(self, key)
  local token = req(self, "query")
  local v, e = host.req_query(token, text(key, "query", "the key")); return v, e
end
function request.query_params(self)
  local v, e = host.req_query_params(req(self, "query_params")); return v, e
end
function request.query_all(self)
  local v, e = host.req_query_all(req(self, "query_all")); return v, e
end
function request.header(self, name)
  local token = req(self, "header")
  local v, e = host.req_header(token, text(name, "header", "the header name")); return v, e
end
function request.headers(self)
  local v, e = host.req_headers(req(self, "headers")); return v, e
end
function request.content_type(self)
  local v, e = host.req_content_type(req(self, "content_type")); return v, e
end
function request.content_length(self)
  local v, e = host.req_content_length(req(self, "content_length")); return v, e
end
function request.host(self)
  local v, e = host.req_host(req(self, "host")); return v, e
end
function request.remote_addr(self)
  local v, e = host.req_remote_addr(req(self, "remote_addr")); return v, e
end
function request.param(self, name)
  local token = req(self, "param")
  local v, e = host.req_param(token, text(name, "param", "the parameter name")); return v, e
end
function request.params(self)
  local v, e = host.req_params(req(self, "params")); return v, e
end
function request.has_body(self)
  local v, e = host.req_has_body(req(self, "has_body")); return v, e
end
function request.accepts(self, content_type)
  local token = req(self, "accepts")
  local v, e = host.req_accepts(token, text(content_type, "accepts", "the type")); return v, e
end
function request.is_content_type(self, content_type)
  local token = req(self, "is_content_type")
  local v, e = host.req_is_content_type(token,
    text(content_type, "is_content_type", "the type"))
  return v, e
end
function request.body(self)
  local o = own(self, "Request", "body")
  local v, e = host.req_body(o.token, o.max_body); return v, e
end
function request.body_json(self)
  local o = own(self, "Request", "body_json")
  local v, e = host.req_body_json(o.token, o.max_body); return v, e
end
function request.stream(self)
  local body = host.req_raw_body(req(self, "stream"))
  return new_stream(body), nil
end

local file_mt = { __metatable = "http.MultipartFile" }
local file = {}
file_mt.__index = file
file_mt.__tostring = function(self)
  local o = owners[self]
  return sformat("http.MultipartFile{name=%s, size=%d}", o.name, #o.content)
end
function file.name(self) return own(self, "MultipartFile", "name").name, nil end
function file.size(self) return #own(self, "MultipartFile", "size").content, nil end
function file.header(self, name)
  local o = own(self, "MultipartFile", "header")
  return (o.headers[slower(text(name, "header", "the header name"))])
end
function file.stream(self) return new_stream(own(self, "MultipartFile", "stream").content), nil end

function request.parse_multipart(self, max_memory)
  local token = req(self, "parse_multipart")
  max_memory = optional_number(max_memory, "parse_multipart", "max_memory")
  if max_memory ~= nil and not (max_memory >= 0) then
    error("parse_multipart: max_memory must be a number of bytes >= 0", 2)
  end
  local values, parts = host.req_multipart(token, max_memory or DEFAULT_MAX_MEMORY)
  -- (not a tail call: see the note above request.method)
  if values == nil then return nil, parts end
  local files = {}
  for _, part in ipairs(parts) do
    local f = setmetatable({}, file_mt)
    owners[f] = { kind = "MultipartFile", name = part.filename, headers = part.headers,
                  content = part.content }
    local list = files[part.field]
    if list == nil then
      list = {}
      files[part.field] = list
    end
    list[#list + 1] = f
  end
  return { values = values, files = files }, nil
end

-- Response ---------------------------------------------------------------------------------

local response_mt = { __metatable = "http.Response" }
local response = {}
response_mt.__index = response
response_mt.__tostring = function() return "http.Response{}" end

local function res(self, method) return own(self, "Response", method, 4).token end

function response.set_status(self, code)
  local token = res(self, "set_status")
  if type(code) ~= "number" then
    error("set_status: the status must be a number, got " .. type(code), 2)
  end
  local e = host.res_set_status(token, code); return e
end
function response.set_header(self, name, value)
  local token = res(self, "set_header")
  name = text(name, "set_header", "the header name")
  local e = host.res_set_header(token, name, text(value, "set_header", "the header value"))
  return e
end
function response.set_content_type(self, content_type)
  local token = res(self, "set_content_type")
  local e = host.res_set_content_type(token,
    text(content_type, "set_content_type", "the content type"))
  return e
end
function response.write(self, data)
  local token = res(self, "write")
  local e = host.res_write(token, text(data, "write", "the data")); return e
end
function response.write_json(self, value)
  local e = host.res_write_json(res(self, "write_json"), value); return e
end
function response.flush(self)
  local e = host.res_flush(res(self, "flush")); return e
end

local TRANSFERS = { chunked = true, sse = true }
function response.set_transfer(self, mode)
  local token = res(self, "set_transfer")
  if not TRANSFERS[mode] then
    error("set_transfer: invalid transfer type " .. tostring(mode)
      .. " (http.TRANSFER.CHUNKED or http.TRANSFER.SSE)", 2)
  end
  local e = host.res_set_transfer(token, mode); return e
end
function response.write_event(self, event)
  local token = res(self, "write_event")
  if type(event) ~= "table" then
    error("write_event: the event must be a table {name=, data=}, got " .. type(event), 2)
  end
  local name = rawget(event, "name")
  if type(name) == "number" then name = tostring(name) end
  if type(name) ~= "string" or name == "" then
    error("write_event: the event has no name (a non-empty string)", 2)
  end
  if sfind(name, "[\\r\\n]") then
    error("write_event: the event name must not contain line breaks", 2)
  end
  local data = rawget(event, "data")
  if data == nil then error("write_event: the event has no data", 2) end
  local e = host.res_write_event(token, name, data); return e
end

-- The module -------------------------------------------------------------------------------

function M.request(options)
  if options ~= nil and type(options) ~= "table" then
    error("http.request: options must be a table, got " .. type(options), 2)
  end
  local max_body = DEFAULT_MAX_BODY
  if options ~= nil then
    -- The body is already in memory: reading it cannot take time, so timeout is only checked.
    optional_number(options.timeout, "http.request", "options.timeout (milliseconds)")
    local limit = optional_number(options.max_body, "http.request", "options.max_body (bytes)")
    if limit ~= nil and limit > 0 then max_body = floor(limit) end
  end
  local token, method, path = host.bind()
  if token == nil then return nil, method end
  local r = setmetatable({}, request_mt)
  owners[r] = { kind = "Request", token = token, max_body = max_body, method = method,
                path = path }
  return r, nil
end

function M.response()
  local token, err = host.bind()
  if token == nil then return nil, err end
  local r = setmetatable({}, response_mt)
  owners[r] = { kind = "Response", token = token }
  return r, nil
end

return M
"""


class _Misuse(Exception):
    """A request or response used outside its own call; raised in Lua at the caller's line."""


def _enc(value: str | None) -> bytes | None:
    return value.encode() if value is not None else None


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec

    def fail(kind: str, message: str) -> Any:
        # Wippy marks every error of this module not retryable.
        return state.new_error(kind, message, retryable=False)

    def exchange(token: Any) -> HttpExchange:
        invocation = engine.invocation
        current = invocation.http if invocation is not None else None
        if current is None or current.token != token:
            raise _Misuse(
                "http: this request/response object belongs to another HTTP call "
                "(get it from http.request() / http.response() in the call that uses it)"
            )
        return current

    def request(token: Any) -> HttpRequest:
        return exchange(token).request

    def response(token: Any) -> HttpResponse:
        return exchange(token).response

    def called_by_the_handler() -> bool:
        """Whether the running task is the HTTP-bound function's own (the invocation's first
        task) or a coroutine it spawned. A function it calls that runs as a task of its own (a
        call with a timeout, ``funcs.async``) does not see the request, as in Wippy; a plain
        in-process ``funcs.call`` runs inline in the handler's task, which marks the task as
        nested in a call while the callee runs."""
        scheduler, task = engine.scheduler, engine.current_task()
        if scheduler is None or task is None:
            return True
        if state.get(task.lua, b"nested"):
            return False
        root = getattr(task, "root", None) or task
        return root.id == min(scheduler.tasks, default=root.id)

    def bind() -> Any:
        invocation = engine.invocation
        current = invocation.http if invocation is not None else None
        if current is None or not called_by_the_handler():
            return None, fail(INTERNAL, NOT_HTTP)
        return current.token, current.request.method.encode(), current.request.path.encode()

    def table(value: Any, path: str) -> Any:
        return codec.to_lua(value, path)

    # -- request ----------------------------------------------------------------------------
    def too_large(body: bytes, max_body: Any) -> Any:
        if len(body) > max_body:
            return fail(
                INVALID,
                f"request body too large: {len(body)} bytes, max_body is {int(max_body)}",
            )
        return None

    def req_body(token: Any, max_body: Any) -> Any:
        body = request(token).body
        err = too_large(body, max_body)
        return (None, err) if err is not None else (body, None)

    def req_body_json(token: Any, max_body: Any) -> Any:
        body = request(token).body
        err = too_large(body, max_body)
        if err is not None:
            return None, err
        if not body.strip():
            return None, fail(INVALID, "request body is empty (expected JSON)")
        try:
            return codec.json_decode(body), None
        except CodecError as exc:
            reason = exc.reason.removeprefix("invalid JSON at ")
            return None, fail(INVALID, f"request body is not valid JSON: {reason}")

    def req_accepts(token: Any, content_type: bytes) -> Any:
        wanted = lua_text(content_type)
        offered = parse_media_type(wanted)
        if offered is None:
            raise ValueError(f"accepts: {wanted!r} is not a media type like 'application/json'")
        return quality(request(token).headers.get("accept"), offered) > 0, None

    def req_multipart(token: Any, max_memory: Any) -> Any:
        req = request(token)
        try:
            form = parse_form(req.headers.get("content-type"), req.body, int(max_memory))
        except NotMultipartError as exc:
            return None, fail(INVALID, f"parse_multipart: {exc}")
        except MultipartError as exc:
            # Wippy reports a form that does not parse as Internal (Go's ParseMultipartForm).
            return None, fail(INTERNAL, f"parse_multipart: {exc}")
        values = {
            name: items[0] if len(items) == 1 else items for name, items in form.values.items()
        }
        parts = [
            {"field": f.field, "filename": f.filename, "headers": f.headers, "content": f.content}
            for files in form.files.values()
            for f in files
        ]
        return table(values, "form.values"), table(parts, "form.files")

    def header(token: Any, name: bytes) -> Any:
        return _enc(request(token).headers.get(lua_text(name).lower())), None

    def query_first(token: Any, key: bytes) -> Any:
        values = request(token).query.get(lua_text(key))
        return (values[0].encode() if values else None), None

    def query_params(token: Any) -> Any:
        joined = {k: ",".join(v) for k, v in request(token).query.items() if v}
        return table(joined, "query_params"), None

    # -- response ---------------------------------------------------------------------------
    def sent(what: str) -> Any:
        return fail(
            INVALID, f"{what}: the headers are already sent (status and headers come first)"
        )

    def set_status(token: Any, code: Any) -> Any:
        if isinstance(code, float) and code.is_integer():
            code = int(code)
        if not isinstance(code, int) or not 100 <= code <= 599:
            raise ValueError(f"set_status: {code!r} is not an HTTP status code (100-599)")
        out = response(token)
        if out.headers_sent:
            return sent("set_status")
        out.status, out.headers_sent, out.handled = code, True, True
        return None

    def set_header(token: Any, name: bytes, value: bytes) -> Any:
        key = lua_text(name)
        if not _HEADER_NAME.match(key):
            raise ValueError(f"set_header: {key!r} is not a valid header name")
        out = response(token)
        if out.headers_sent:
            return sent("set_header")
        # As Go's server does on the wire: a line break cannot end the header early.
        text = re.sub(r"[\r\n]", " ", value.decode("utf-8", "replace"))
        if key.lower() == "set-cookie":
            out.cookies = [text]  # API Gateway v2 sends cookies from the reply's own list
        else:
            out.headers[key.lower()] = text
        out.handled = True
        return None

    def set_content_type(token: Any, value: bytes) -> Any:
        out = response(token)
        if out.headers_sent:
            return sent("set_content_type")
        out.headers["content-type"] = re.sub(r"[\r\n]", " ", value.decode("utf-8", "replace"))
        return None

    def append(out: HttpResponse, data: bytes, what: str) -> Any:
        size = sum(len(c) for c in out.chunks) + len(data) + REPLY_OVERHEAD
        message = payload_too_large("the response", size)
        if message is not None:
            return fail(INTERNAL, f"{what}: write failed: {message}")
        out.chunks.append(data)
        out.headers_sent = out.handled = True
        return None

    def write(token: Any, data: bytes) -> Any:
        return append(response(token), data, "write")

    def write_json(token: Any, value: Any) -> Any:
        try:
            data = codec.json_encode(value, "value")
        except CodecError as exc:
            return fail(INVALID, f"write_json: {exc.message}")
        out = response(token)
        if "content-type" not in out.headers and not out.chunks:
            out.headers["content-type"] = "application/json"
        return append(out, data, "write_json")

    def flush(token: Any) -> Any:
        out = response(token)
        # Nothing leaves before the function returns (the reply is one Lambda response); what
        # flush means for ordering holds: everything written so far comes first.
        out.headers_sent = out.handled = True
        return None

    def sse_headers(out: HttpResponse) -> None:
        out.headers["content-type"] = "text/event-stream"
        out.headers["cache-control"] = "no-cache"
        out.transfer = "sse"

    def set_transfer(token: Any, mode: bytes) -> Any:
        out = response(token)
        if out.headers_sent:
            return sent("set_transfer")
        if mode == b"sse":
            sse_headers(out)
        else:
            # No Transfer-Encoding header: the reply is one buffered Lambda response, and API
            # Gateway frames what it sends on by itself.
            out.headers["cache-control"] = "no-cache"
            out.transfer = "chunked"
        return None

    def write_event(token: Any, name: bytes, data: Any) -> Any:
        try:
            encoded = codec.json_encode(data, "event.data")
        except CodecError as exc:
            return fail(INVALID, f"write_event: {exc.message}")
        out = response(token)
        if out.transfer != "sse":
            if out.headers_sent:
                return fail(
                    INVALID,
                    "write_event: cannot switch to server-sent events after the headers are "
                    "sent (call set_transfer(http.TRANSFER.SSE) or write events first)",
                )
            sse_headers(out)
        return append(out, b"event: " + name + b"\ndata: " + encoded + b"\n\n", "write_event")

    functions = {
        "bind": bind,
        "req_method": lambda t: (request(t).method.encode(), None),
        "req_path": lambda t: (request(t).path.encode(), None),
        "req_query": query_first,
        "req_query_params": query_params,
        "req_query_all": lambda t: (table(request(t).query, "query_all"), None),
        "req_header": header,
        "req_headers": lambda t: (table(request(t).headers, "headers"), None),
        "req_content_type": lambda t: (_enc(request(t).headers.get("content-type")), None),
        "req_content_length": lambda t: (len(request(t).body), None),
        "req_host": lambda t: (request(t).host.encode(), None),
        "req_remote_addr": lambda t: (request(t).source_ip.encode(), None),
        "req_param": lambda t, name: (_enc(request(t).params.get(lua_text(name))), None),
        "req_params": lambda t: (table(request(t).params, "params"), None),
        "req_has_body": lambda t: (len(request(t).body) > 0, None),
        "req_accepts": req_accepts,
        "req_is_content_type": lambda t, ct: (
            content_type_is(request(t).headers.get("content-type"), lua_text(ct)),
            None,
        ),
        "req_body": req_body,
        "req_body_json": req_body_json,
        "req_raw_body": lambda t: request(t).body,
        "req_multipart": req_multipart,
        "res_set_status": set_status,
        "res_set_header": set_header,
        "res_set_content_type": set_content_type,
        "res_write": write,
        "res_write_json": write_json,
        "res_flush": flush,
        "res_set_transfer": set_transfer,
        "res_write_event": write_event,
    }
    host = state.table(**{name: state.wrap(_guarded(state, fn)) for name, fn in functions.items()})
    new_stream = state.lua.execute(
        _STREAM_LUA, state.k["new_error"], INTERNAL.encode(), name="=[kit]stream"
    )
    return state.lua.execute(_LUA, host, new_stream, name="=[kit]http")


def _guarded(state: Any, fn: Any) -> Any:
    """``fn`` with misuse and bad arguments raised as Lua errors at the caller's line."""

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except (_Misuse, ValueError, TypeError) as exc:
            return state.raise_in_lua(str(exc))

    return call
