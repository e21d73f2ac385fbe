"""``json``: Wippy's JSON module (``en/lua/data/json.md``).

``encode(value) -> string, err`` and ``decode(text) -> value, err`` go through the codec's JSON
mode (:meth:`runtime.codec.Codec.json_encode`, which writes what Wippy's encoder writes);
``validate(schema, value)`` and ``validate_string(schema, text)`` check JSON Schema 2020-12
(:mod:`runtime.json_schema`) and answer ``true`` or ``false, err``. The kit adds ``json.array(t)``
/ ``json.object(t)`` (mark a table so that an empty one is ``[]`` / ``{}``: Wippy writes every
empty table as ``[]``) and ``json.null`` (a null inside an array).

Every error is non-retryable. Kinds, as Wippy's: a value that cannot be encoded and text that
is not JSON are INTERNAL; an argument of the wrong type, empty text, a schema that does not
compile and a failed validation are INVALID.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime import json_schema
from runtime.errors import INTERNAL, INVALID, CodecError, UnitError
from runtime.sandbox import lua_type

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_LUA = """
local encode, decode, validate, validate_string, array_mt, object_mt, null = ...
local setmetatable, type, error = setmetatable, type, error
local M = {
  encode = encode, decode = decode, validate = validate, validate_string = validate_string,
  null = null,
}
local function mark(name, mt)
  return function(t)
    if t == nil then t = {} end
    if type(t) ~= "table" then error("json." .. name .. ": expected a table", 2) end
    return setmetatable(t, mt)
  end
end
M.array = mark("array", array_mt)
M.object = mark("object", object_mt)
return M
"""


def _type_name(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bytes):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return lua_type(value) or "userdata"


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec
    table_type = type(codec.null)

    def error(kind: str, message: str) -> Any:
        return state.new_error(kind, message, retryable=False)

    def encode(value: Any = None, *_: Any) -> Any:
        try:
            return codec.json_encode(value), None
        except CodecError as exc:
            return None, error(INTERNAL, f"encode failed: {exc.message}")

    def decode(text: Any = None, *_: Any) -> Any:
        if not isinstance(text, bytes):
            return None, error(INVALID, f"string expected, got {_type_name(text)}")
        if not text:
            return None, error(INVALID, "empty string is not valid JSON")
        try:
            return codec.json_decode(text), None
        except CodecError as exc:
            return None, error(INTERNAL, f"decode failed: {exc.message}")

    def schema_text(schema: Any) -> bytes:
        if isinstance(schema, bytes):
            return schema
        if type(schema) is table_type:
            try:
                return codec.json_encode(schema, "schema")
            except CodecError as exc:
                raise json_schema.SchemaError(f"schema error: {exc.message}") from None
        raise json_schema.SchemaError(
            f"schema error: schema must be a string or table, got {_type_name(schema)}"
        )

    def check(schema: Any, instance: Callable[[], Any]) -> Any:
        # In Wippy's order: the schema compiles, then the data converts, then it is checked.
        try:
            validator = json_schema.compile_schema(schema_text(schema))
            problems = json_schema.violations(validator, instance())
        except UnitError as exc:
            return False, error(INVALID, exc.message)
        if problems:
            return False, error(INVALID, "validation failed: " + "; ".join(problems))
        return True

    def validate(schema: Any = None, data: Any = None, *_: Any) -> Any:
        if schema is None:
            return False, error(INVALID, "schema is required")
        if data is None:
            return False, error(INVALID, "data is required")

        def instance() -> Any:
            try:
                return codec.to_python(data, "data")
            except CodecError as exc:
                raise UnitError(INVALID, f"convert data: {exc.message}") from None

        return check(schema, instance)

    def validate_string(schema: Any = None, text: Any = None, *_: Any) -> Any:
        if schema is None:
            return False, error(INVALID, "schema is required")
        if not isinstance(text, bytes):
            return False, error(INVALID, "data must be a JSON string")

        def instance() -> Any:
            try:
                return json_schema.parse_json_text(text)
            except ValueError as exc:
                raise UnitError(INVALID, f"validation failed: {exc}") from None

        return check(schema, instance)

    return state.lua.execute(
        _LUA,
        state.wrap(encode),
        state.wrap(decode),
        state.wrap(validate),
        state.wrap(validate_string),
        codec.array_mt,
        codec.object_mt,
        codec.null,
        name="=[kit]json",
    )
