"""``payload`` (a global, as in Wippy): ``payload.new(v)`` and ``payload.format.*``.

A Payload holds a Lua value in a format. ``p:transcode(fmt)`` re-encodes it as JSON, YAML,
MessagePack, text or bytes and ``p:data()`` decodes it back, through the codecs here (the
kit's value codec underneath: what one format cannot hold is a clear error, never a silent
change). The Lua side is the prelude's ``new_payload``, shared with futures and messages.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import msgpack
import yaml

from runtime.codec import from_json_value, to_json_value
from runtime.errors import CodecError

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

JSON = "json/plain"
YAML = "yaml/plain"
STRING = "text/plain"
BYTES = "application/octet-stream"
MSGPACK = "application/msgpack"

_LUA = """
local kit = ...
local M = { format = {} }
for k, v in pairs(kit.PAYLOAD_FORMAT) do M.format[k] = v end
function M.new(value)
  return kit.new_payload(value)
end
return M
"""


def install(engine: Engine) -> None:
    """Give the prelude's payloads their codecs (``kit.payload_encode`` / ``_decode``)."""
    state, codec = engine.state, engine.codec

    def encode(value: Any, fmt: Any) -> Any:
        name = fmt.decode("utf-8", "replace") if isinstance(fmt, bytes) else str(fmt)
        try:
            if name in (STRING, BYTES):
                data = codec.to_python(value, "value")
                if name == STRING and isinstance(data, int | float) and not isinstance(data, bool):
                    return str(data).encode(), None
                if not isinstance(data, str | bytes):
                    return None, f"a {type(data).__name__} cannot be {name}".encode()
                return data.encode() if isinstance(data, str) else data, None
            wire = to_json_value(codec.to_python(value, "value"))
            if name == JSON:
                return json.dumps(wire, ensure_ascii=False, separators=(",", ":")).encode(), None
            if name == YAML:
                return yaml.safe_dump(wire, allow_unicode=True, sort_keys=True).encode(), None
            if name == MSGPACK:
                return msgpack.packb(wire, use_bin_type=True), None
        except CodecError as exc:
            return None, exc.message.encode()
        return None, f"unknown payload format '{name}'".encode()

    def decode(data: Any, fmt: Any) -> Any:
        name = fmt.decode("utf-8", "replace") if isinstance(fmt, bytes) else str(fmt)
        try:
            if name in (STRING, BYTES):
                return data, None
            if name == JSON:
                value = json.loads(data)
            elif name == YAML:
                value = yaml.safe_load(data)
            elif name == MSGPACK:
                value = msgpack.unpackb(data, raw=False)
            else:
                return None, f"unknown payload format '{name}'".encode()
            return codec.to_lua(from_json_value(value), "value"), None
        except (ValueError, yaml.YAMLError, msgpack.UnpackException, CodecError) as exc:
            return None, str(exc).encode()

    state.set(state.kit, b"payload_encode", state.wrap(encode))
    state.set(state.kit, b"payload_decode", state.wrap(decode))


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state
    return state.lua.execute(_LUA, state.kit, name="=[kit]payload")
