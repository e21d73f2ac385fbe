"""``http``: the request and response of an HTTP-bound function call.

``http.request()`` and ``http.response()`` return ``nil, err`` when the call did not come through
an ``http.endpoint`` route (for example a direct ``funcs.call``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from runtime.errors import INVALID, CodecError
from runtime.http_exchange import HttpExchange

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_LUA = """
local host = ...
local M = {}
local request_mt = { __metatable = "http.request" }
local request = {}
request_mt.__index = request
for _, name in ipairs({ "method", "path", "param", "query", "header", "body", "body_json",
                        "params", "headers", "query_all" }) do
  local fn = host["req_" .. name]
  request[name] = function(self, ...) return fn(...) end
end
local response_mt = { __metatable = "http.response" }
local response = {}
response_mt.__index = response
for _, name in ipairs({ "set_status", "set_header", "set_content_type", "write", "write_json" }) do
  local fn = host["res_" .. name]
  response[name] = function(self, ...) return fn(...) end
end
function M.request()
  local ok, err = host.bound()
  if not ok then return nil, err end
  return setmetatable({}, request_mt)
end
function M.response()
  local ok, err = host.bound()
  if not ok then return nil, err end
  return setmetatable({}, response_mt)
end
return M
"""


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec

    def exchange() -> HttpExchange | None:
        invocation = engine.invocation
        return invocation.http if invocation is not None else None

    def bound() -> Any:
        if exchange() is None:
            return False, state.new_error(
                INVALID, "http: this call did not come through an HTTP route"
            )
        return True, None

    def text(value: Any) -> str:
        return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)

    def req() -> Any:
        ex = exchange()
        if ex is None:
            raise ValueError("http: this call did not come through an HTTP route")
        return ex.request

    def res() -> Any:
        ex = exchange()
        if ex is None:
            raise ValueError("http: this call did not come through an HTTP route")
        ex.response.touched = True
        return ex.response

    def to_table(mapping: dict[str, Any]) -> Any:
        return codec.to_lua(mapping, "http")

    def body_json() -> Any:
        raw = req().body
        if not raw:
            return None, state.new_error(INVALID, "request body is empty (expected JSON)")
        try:
            value = json.loads(raw)
        except ValueError as exc:
            return None, state.new_error(INVALID, f"request body is not valid JSON: {exc}")
        return codec.to_lua(value, "body"), None

    def set_status(code: Any) -> Any:
        if not isinstance(code, int) or not 100 <= code <= 599:
            return state.raise_in_lua(f"set_status: {code!r} is not an HTTP status code")
        res().status = code
        return True

    def write_json(value: Any) -> Any:
        try:
            data = codec.json_encode(value)
        except CodecError as exc:
            return None, state.new_error(INVALID, f"write_json: {exc.message}")
        response = res()
        response.headers.setdefault("content-type", "application/json")
        response.chunks.append(data)
        return True

    def write(data: Any) -> Any:
        if not isinstance(data, bytes):
            data = text(data).encode()
        res().chunks.append(data)
        return True

    functions = {
        "bound": bound,
        "req_method": lambda: req().method.encode(),
        "req_path": lambda: req().path.encode(),
        "req_param": lambda name: _enc(req().params.get(text(name))),
        "req_query": lambda name: _enc((req().query.get(text(name)) or [None])[0]),
        "req_query_all": lambda: to_table(req().query),
        "req_header": lambda name: _enc(req().headers.get(text(name).lower())),
        "req_headers": lambda: to_table(req().headers),
        "req_params": lambda: to_table(req().params),
        "req_body": lambda: req().body,
        "req_body_json": body_json,
        "res_set_status": set_status,
        "res_set_header": lambda k, v: res().headers.__setitem__(text(k).lower(), text(v)) or True,
        "res_set_content_type": lambda v: (
            res().headers.__setitem__("content-type", text(v)) or True
        ),
        "res_write": write,
        "res_write_json": write_json,
    }
    host = state.table(**{name: state.wrap(_guarded(state, fn)) for name, fn in functions.items()})
    return state.lua.execute(_LUA, host, name="=[kit]http")


def _enc(value: str | None) -> bytes | None:
    return value.encode() if value is not None else None


def _guarded(state: Any, fn: Any) -> Any:
    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except (ValueError, TypeError) as exc:
            return state.raise_in_lua(str(exc))

    return call
