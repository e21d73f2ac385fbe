"""Wippy's small modules, function by function, through a real entry: ``json``, ``uuid``,
``logger`` (and ``print``), ``env``, ``base64``, ``ctx``. Shapes and error kinds follow Wippy's
pages (``en/lua/data/json.md``, ``en/lua/security/uuid.md``, ``en/lua/system/logger.md``,
``en/lua/system/env.md``, ``en/lua/data/base64.md``, ``en/lua/core/context.md``)."""

from __future__ import annotations

import json
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from runtime import json_schema, manifest
from runtime.clock import ManualClock
from runtime.durable import events as ev
from runtime.durable.events import Event
from runtime.durable.replay import Replay
from runtime.engine import Engine
from runtime.errors import INTERNAL, INVALID, NOT_FOUND, PERMISSION_DENIED, UnitError
from tests.conftest import MakeApp

START = 1_700_000_000.25

# Lua helpers every test chunk has: an error as a plain table, and a call's values counted.
HELPERS = """
local function E(err)
  if err == nil then return nil end
  return { kind = err:kind(), message = err:message(), retryable = err:retryable() }
end
local function count(...) return select("#", ...) end
"""


class Unit:
    """One ``app:f`` function entry (``handler``) running in its own engine."""

    def __init__(
        self,
        make_app: MakeApp,
        body: str,
        modules: list[str],
        *,
        env: dict[str, str] | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        env_block = ""
        if env:
            env_block = "    env:\n" + "".join(f"      {k}: {v!r}\n" for k, v in env.items())
        index = (
            'version: "1.0"\nnamespace: app\nentries:\n'
            "  - name: f\n    kind: function.lua\n    source: file://f.lua\n"
            f"    method: handler\n    modules: [{', '.join(modules)}]\n{env_block}"
            "  - name: reader\n    kind: function.lua\n    source: file://reader.lua\n"
            "    method: handler\n    modules: [ctx]\n"
        )
        reader = (
            'local ctx = require("ctx")\n'
            "return { handler = function(key)\n"
            "  local value, err = ctx.get(key)\n"
            "  if err then return { kind = err:kind() } end\n"
            "  if type(value) == 'table' then value.changed = true end\n"
            "  return { value = value }\n"
            "end }\n"
        )
        source = HELPERS + textwrap.dedent(body)
        app = make_app(index, {"f.lua": source, "reader.lua": reader})
        self.clock = ManualClock(START)
        self.logs: list[tuple[str, str, dict[str, Any]]] = []
        self.engine = Engine(
            manifest.load_app(app),
            clock=self.clock,
            log_sink=lambda level, message, fields: self.logs.append((level, message, fields)),
            environ=environ or {},
        )

    def call(self, *args: Any, context: dict[str, Any] | None = None) -> Any:
        return self.engine.call("app:f", list(args), context=context)

    def close(self) -> None:
        self.engine.close()


@pytest.fixture
def unit(make_app: MakeApp) -> Iterator[Any]:
    made: list[Unit] = []

    def build(body: str, modules: list[str], **kwargs: Any) -> Unit:
        made.append(Unit(make_app, body, modules, **kwargs))
        return made[-1]

    yield build
    for u in made:
        u.close()


def err(kind: str, message: str | None = None) -> dict[str, Any]:
    """The plain form of a non-retryable error (``E(err)`` in Lua)."""
    out: dict[str, Any] = {"kind": kind, "retryable": False}
    if message is not None:
        out["message"] = message
    return out


def without_message(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != "message"}


# -- json: encode ---------------------------------------------------------------------------------
def test_json_encode_writes_what_wippy_writes(unit):
    u = unit(
        """
        local json = require("json")
        return { handler = function()
          local bad, bad_err = json.encode({ [1] = 1, [3] = 3 })
          local text, nothing = json.encode({ b = 1, a = "x" })
          return {
            nil_ = json.encode(nil), yes = json.encode(true), int = json.encode(42),
            float = json.encode(3.14), whole = json.encode(10 / 2), str = json.encode("hello"),
            empty_str = json.encode(""), array = json.encode({ 1, 2, 3 }),
            object = text, object_err = nothing == nil, counts = count(json.encode({})),
            empty = json.encode({}), empty_in = json.encode({ list = {}, obj = json.object() }),
            marked = json.encode(json.array()), nested = json.encode({
              id = "ord-123", items = { { sku = "ABC", qty = 2 } }, total = 99.50,
            }),
            nums = json.encode({ 0.1, 1e-5, -0.0, 2^53, 1e20, 7.25e-9 }),
            top_small = json.encode(1e-7), top_big = json.encode(1e21), top_mid = json.encode(1e20),
            odd = json.encode({ 0/0, 1/0, -1/0, print, coroutine.create(function() end) }),
            error_value = json.encode({ error = errors.new({ kind = errors.NOT_FOUND, message = "gone" }) }),
            binary = json.encode({ s = "ok\\255" }), kit_object = json.encode({ c = channel.new(1) }),
            null = json.encode({ 1, json.null, 3 }), escapes = json.encode("a\\"b\\\\c\\n"),
            unicode = json.encode("h\\u{e9}llo"),
          }
        end }
        """,
        ["json"],
    )
    out = u.call()
    assert out == {
        "nil_": "null",
        "yes": "true",
        "int": "42",
        "float": "3.14",
        "whole": "5",
        "str": '"hello"',
        "empty_str": '""',
        "array": "[1,2,3]",
        "object": '{"a":"x","b":1}',
        "object_err": True,
        "counts": 2,
        "empty": "[]",
        "empty_in": '{"list":[],"obj":{}}',
        "marked": "[]",
        "nested": '{"id":"ord-123","items":[{"qty":2,"sku":"ABC"}],"total":99.5}',
        "nums": "[0.1,0.00001,0,9007199254740992,100000000000000000000,0.00000000725]",
        "top_small": "1e-7",
        "top_big": "1e+21",
        "top_mid": "100000000000000000000",
        "odd": "[null,null,null,null,null]",
        "error_value": '{"error":"gone"}',
        "binary": '{"s":"ok\ufffd"}',
        "kit_object": '{"c":null}',
        "null": "[1,null,3]",
        "escapes": '"a\\"b\\\\c\\n"',
        "unicode": '"héllo"',
    }


def test_json_encode_errors_are_internal_and_not_retryable(unit):
    u = unit(
        """
        local json = require("json")
        local function nest(levels)
          local t = {}
          for _ = 2, levels do t = { t } end
          return t
        end
        return { handler = function()
          local cyclic = { name = "loop" }
          cyclic.self = cyclic
          local results = {}
          for name, value in pairs({
            sparse = { [1] = "a", [3] = "c" }, mixed = { 1, 2, name = "x" },
            cycle = cyclic, too_deep = nest(130),
          }) do
            local text, e = json.encode(value)
            results[name] = { text = text, err = E(e) }
          end
          local ok_deep = json.encode(nest(129))
          results.deepest = #ok_deep
          return results
        end }
        """,
        ["json"],
    )
    out = u.call()
    assert out.pop("deepest") == 2 * 129
    for name, result in out.items():
        assert "text" not in result, name
        assert without_message(result["err"]) == err(INTERNAL), name
        assert result["err"]["message"].startswith("encode failed: "), name
    assert "sparse array" in out["sparse"]["err"]["message"]
    assert "alongside string keys" in out["mixed"]["err"]["message"]
    assert "cycle" in out["cycle"]["err"]["message"]
    assert "maximum nesting depth of 128" in out["too_deep"]["err"]["message"]


# -- json: decode ---------------------------------------------------------------------------------
def test_json_decode_values_and_nulls(unit):
    u = unit(
        """
        local json = require("json")
        return { handler = function()
          local obj = json.decode('{"name":"Bob","active":true,"n":1,"x":1.5,"e":1e2,"z":null}')
          local arr = json.decode("[10, null, 30]")
          local tail = json.decode("[1, null]")
          local nested = json.decode('{"data":{"users":[{"id":1,"name":"Alice"}]}}')
          local v, e = json.decode("null")
          return {
            name = obj.name, active = obj.active, n = math.type(obj.n), x = obj.x,
            e = math.type(obj.e), z_absent = obj.z == nil,
            arr1 = arr[1], arr2_nil = arr[2] == nil, arr3 = arr[3], arr_len = #arr,
            tail_len = #tail, user = nested.data.users[1].name,
            null_value = v == nil, null_err = e == nil, str = json.decode('"hi"'),
            big = math.type(json.decode("123456789012345678901234567890")),
            round = json.encode(json.decode('{"b":[1,2,{"c":"d"}],"a":{}}')),
          }
        end }
        """,
        ["json"],
    )
    assert u.call() == {
        "name": "Bob",
        "active": True,
        "n": "integer",
        "x": 1.5,
        "e": "float",
        "z_absent": True,
        "arr1": 10,
        "arr2_nil": True,
        "arr3": 30,
        "arr_len": 3,
        "tail_len": 1,
        "user": "Alice",
        "null_value": True,
        "null_err": True,
        "str": "hi",
        "big": "float",
        "round": '{"a":[],"b":[1,2,{"c":"d"}]}',
    }


def test_json_decode_errors_by_kind(unit):
    u = unit(
        """
        local json = require("json")
        return { handler = function()
          local out = {}
          for name, text in pairs({
            number = 42, table = {}, empty = "", syntax = "not valid json", cut = '{"a": [1,',
            trailing = '{"a": 1} x', deep = string.rep("[", 130) .. string.rep("]", 130),
          }) do
            local value, e = json.decode(text)
            out[name] = { value = value, err = E(e) }
          end
          local _, missing = json.decode()
          out.missing = { err = E(missing) }
          out.deepest = #json.encode(json.decode(string.rep("[", 129) .. string.rep("]", 129)))
          return out
        end }
        """,
        ["json"],
    )
    out = u.call()
    assert out.pop("deepest") == 2 * 129
    assert all("value" not in result for result in out.values())
    assert out["number"]["err"] == err(INVALID, "string expected, got number")
    assert out["table"]["err"] == err(INVALID, "string expected, got table")
    assert out["missing"]["err"] == err(INVALID, "string expected, got nil")
    assert out["empty"]["err"] == err(INVALID, "empty string is not valid JSON")
    for name in ("syntax", "cut", "trailing", "deep"):
        assert without_message(out[name]["err"]) == err(INTERNAL), name
        assert out[name]["err"]["message"].startswith("decode failed: "), name
    assert "line 1 column 1" in out["syntax"]["err"]["message"]
    assert "maximum nesting depth of 128" in out["deep"]["err"]["message"]


# -- json: validate / validate_string ---------------------------------------------------------
def test_json_validate_checks_json_schema(unit):
    u = unit(
        """
        local json = require("json")
        local user_schema = {
          type = "object",
          properties = {
            name = { type = "string", minLength = 1 },
            email = { type = "string", format = "email" },
            age = { type = "integer", minimum = 0, maximum = 150 },
          },
          required = { "name", "email" },
        }
        return { handler = function()
          local function check(schema, value)
            local ok, e = json.validate(schema, value)
            return { ok = ok, err = E(e) }
          end
          return {
            valid = check(user_schema, { name = "Alice", email = "alice@example.com", age = 30 }),
            counts = count(json.validate(user_schema, { name = "A", email = "a" })),
            missing = check(user_schema, { age = 30 }),
            wrong = check(user_schema, { name = 123, email = "x", age = 200 }),
            float_age = check(user_schema, { name = "A", email = "a", age = 30.0 }),
            -- format is an annotation (as in Wippy): not checked
            not_an_email = check(user_schema, { name = "A", email = "not-an-email" }),
            string_schema = check('{"type":"number","minimum":0}', 42),
            string_schema_bad = check('{"type":"number","minimum":0}', -1),
            tuple = check({ type = "array", prefixItems = { { type = "string" } }, items = false },
              { "a", "b" }),
            refs = check({ ["$defs"] = { pos = { type = "integer", exclusiveMinimum = 0 } },
              type = "array", items = { ["$ref"] = "#/$defs/pos" } }, { 1, 2, 0 }),
            dependent = check({ type = "object", dependentRequired = { card = { "cvv" } } },
              { card = "4111" }),
            empty_object = check({ type = "object" }, {}),
            no_schema = check(nil, { a = 1 }),
            no_data = check(user_schema, nil),
            bad_type = check(42, { a = 1 }),
            bad_schema = check({ type = "strin" }, "x"),
            bad_schema_text = check("{not json", "x"),
            unresolved = check({ ["$ref"] = "https://example.com/s.json" }, 1),
            cannot_convert = check({ type = "object" }, { f = print }),
          }
        end }
        """,
        ["json"],
    )
    out = u.call()
    assert out["valid"] == {"ok": True}
    assert out["counts"] == 1
    assert out["float_age"] == {"ok": True}
    assert out["not_an_email"] == {"ok": True}
    assert out["string_schema"] == {"ok": True}
    assert out["empty_object"] == {"ok": True}
    for name in (
        "missing",
        "wrong",
        "string_schema_bad",
        "tuple",
        "refs",
        "dependent",
        "no_schema",
        "no_data",
        "bad_type",
        "bad_schema",
        "bad_schema_text",
        "unresolved",
        "cannot_convert",
    ):
        assert out[name]["ok"] is False, name
        assert without_message(out[name]["err"]) == err(INVALID), name
    message = {
        name: result["err"]["message"]
        for name, result in out.items()
        if isinstance(result, dict) and "err" in result
    }
    assert message["missing"] == (
        "validation failed: $: 'email' is a required property; $: 'name' is a required property"
    )
    assert "$.age: 200 is greater than the maximum of 150" in message["wrong"]
    assert "$.name: 123 is not of type 'string'" in message["wrong"]
    assert message["refs"] == "validation failed: $[2]: 0 is less than or equal to the minimum of 0"
    assert "'cvv' is a dependency of 'card'" in message["dependent"]
    assert message["no_schema"] == "schema is required"
    assert message["no_data"] == "data is required"
    assert message["bad_type"] == "schema error: schema must be a string or table, got number"
    assert message["bad_schema"].startswith("compile schema: $.type: ")
    assert message["bad_schema_text"].startswith("compile schema: invalid JSON at line 1")
    assert message["unresolved"].startswith("compile schema: unresolvable $ref")
    assert message["cannot_convert"] == "convert data: data.f: a function cannot be sent"


def test_json_validate_string_checks_text_without_decoding(unit):
    u = unit(
        """
        local json = require("json")
        local schema = {
          type = "object",
          properties = { action = { type = "string", enum = { "create", "update", "delete" } } },
          required = { "action" },
        }
        return { handler = function()
          local function check(s, text)
            local ok, e = json.validate_string(s, text)
            return { ok = ok, err = E(e) }
          end
          return {
            valid = check(schema, '{"action":"create","data":{}}'),
            invalid = check(schema, '{"action":"drop"}'),
            string_schema = check('{"type":"array","maxItems":1}', "[1, 2]"),
            not_json = check(schema, "{nope"),
            not_string = check(schema, { action = "create" }),
            no_schema = check(nil, "{}"),
            bad_schema = check({ type = 5 }, "{}"),
          }
        end }
        """,
        ["json"],
    )
    out = u.call()
    assert out["valid"] == {"ok": True}
    assert out["invalid"]["ok"] is False
    assert out["invalid"]["err"] == err(
        INVALID, "validation failed: $.action: 'drop' is not one of ['create', 'update', 'delete']"
    )
    assert out["string_schema"]["err"]["message"].startswith("validation failed: $: [1, 2] is")
    assert out["not_json"]["err"] == err(
        INVALID,
        "validation failed: invalid JSON at line 1 column 2: Expecting property name enclosed "
        "in double quotes",
    )
    assert out["not_string"]["err"] == err(INVALID, "data must be a JSON string")
    assert out["no_schema"]["err"] == err(INVALID, "schema is required")
    assert out["bad_schema"]["err"]["message"].startswith("compile schema: $.type: 5 is not")


def test_schemas_are_compiled_once_per_content():
    first = json_schema.compile_schema(b'{"type": "string", "minLength": 2}')
    again = json_schema.compile_schema(b'{"type": "string", "minLength": 2}')
    other = json_schema.compile_schema(b'{"type": "string", "minLength": 3}')
    assert first is again and other is not first
    for n in range(json_schema.CACHE_SIZE):
        json_schema.compile_schema(json.dumps({"maxLength": n}).encode())
    # The cache holds the last CACHE_SIZE schemas used: the first has been dropped.
    assert json_schema.compile_schema(b'{"type": "string", "minLength": 2}') is not first


# -- uuid -----------------------------------------------------------------------------------------
NS_DNS = str(uuid.NAMESPACE_DNS)
NS_URL = str(uuid.NAMESPACE_URL)


def test_uuid_generators(unit):
    u = unit(
        f"""
        local uuid = require("uuid")
        return {{ handler = function()
          local v1, e1 = uuid.v1()
          local v4, e4 = uuid.v4()
          local v7, e7 = uuid.v7()
          local v3, e3 = uuid.v3("{NS_DNS}", "python.org")
          local v5, e5 = uuid.v5("{NS_URL}", "https://example.com/resource")
          local seen, unique = {{}}, true
          for _ = 1, 50 do
            local id = uuid.v4()
            if seen[id] then unique = false end
            seen[id] = true
          end
          return {{
            v1 = v1, v4 = v4, v7 = v7, v3 = v3, v5 = v5,
            errs = e1 == nil and e4 == nil and e7 == nil and e3 == nil and e5 == nil,
            counts = {{ count(uuid.v1()), count(uuid.v4()), count(uuid.v7()) }},
            v3_again = uuid.v3("{NS_DNS}", "python.org"),
            v5_upper_ns = uuid.v5("{NS_URL.upper()}", "https://example.com/resource"),
            binary_name = uuid.v5("{NS_DNS}", "\\0\\255"),
            unique = unique, v1_info = uuid.parse(v1), v7_info = uuid.parse(v7),
          }}
        end }}
        """,
        ["uuid"],
    )
    out = u.call()
    assert out["errs"] is True and out["unique"] is True
    assert out["counts"] == [2, 2, 2]
    v1, v4, v7 = (uuid.UUID(out[k]) for k in ("v1", "v4", "v7"))
    assert (v1.version, v4.version, v7.version) == (1, 4, 7)
    assert all(str(v) == out[k] for v, k in ((v1, "v1"), (v4, "v4"), (v7, "v7")))
    assert v1.variant == v4.variant == v7.variant == uuid.RFC_4122
    # v1 and v7 carry the context's clock; a v1 node is random, with the multicast bit set.
    assert abs((v1.time - 0x01B21DD213814000) / 1e7 - START) < 1e-6
    assert v1.node & (1 << 40)
    assert v7.int >> 80 == int(START * 1000)
    assert out["v1_info"] == {
        "version": 1,
        "variant": "RFC4122",
        "timestamp": int(START),
        "node": out["v1"][-12:],
    }
    assert out["v7_info"] == {"version": 7, "variant": "RFC4122", "timestamp": int(START)}
    assert out["v3"] == out["v3_again"] == str(uuid.uuid3(uuid.NAMESPACE_DNS, "python.org"))
    expected_v5 = str(uuid.uuid5(uuid.NAMESPACE_URL, "https://example.com/resource"))
    assert out["v5"] == out["v5_upper_ns"] == expected_v5
    assert uuid.UUID(out["binary_name"]).version == 5


def test_uuid_inspection(unit):
    u = unit(
        """
        local uuid = require("uuid")
        local id = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
        return { handler = function()
          local valid = {}
          for i, text in ipairs({
            id, "550E8400-E29B-41D4-A716-446655440000", "{" .. id .. "}", "urn:uuid:" .. id,
            "URN:UUID:" .. id, "6ba7b8109dad11d180b400c04fd430c8",
            "not-a-uuid", "", "6ba7b810-9dad-11d1-80b4", id .. "-extra",
            "6ba7b810x9dad-11d1-80b4-00c04fd430c8", "6ba7-b8109dad-11d1-80b4-00c04fd430c8",
            "6ba7b810-9dad-11d1-80b4-00c04fd430cg",
          }) do valid[i] = uuid.validate(text) end
          local info = uuid.parse(id)
          return {
            valid = valid, counts = count(uuid.validate(id)),
            non_strings = { uuid.validate(123), uuid.validate(nil), uuid.validate({}) },
            version = uuid.version(id), version_type = math.type(uuid.version(id)),
            v4_version = uuid.version(uuid.v4()),
            variants = {
              uuid.variant(id), uuid.variant("6ba7b810-9dad-11d1-00b4-00c04fd430c8"),
              uuid.variant("6ba7b810-9dad-11d1-c0b4-00c04fd430c8"),
              uuid.variant("6ba7b810-9dad-11d1-e0b4-00c04fd430c8"),
            },
            info = info, v4_info = uuid.parse(uuid.v4()),
            braces = uuid.format("{6BA7B810-9DAD-11D1-80B4-00C04FD430C8}"),
            standard = uuid.format(id, "standard"), simple = uuid.format(id, "simple"),
            urn = uuid.format(id, "urn"), default = uuid.format(id),
            other_type = uuid.format(id, 5),
          }
        end }
        """,
        ["uuid"],
    )
    out = u.call()
    assert out["valid"] == [True] * 6 + [False] * 7
    assert out["counts"] == 2
    assert out["non_strings"] == [False, False, False]
    assert (out["version"], out["version_type"], out["v4_version"]) == (1, "integer", 4)
    assert out["variants"] == ["RFC4122", "Reserved", "Microsoft", "Future"]
    assert out["info"] == {
        "version": 1,
        "variant": "RFC4122",
        "timestamp": 886630433,  # 1998-02-04T22:13:53Z, when RFC 4122's namespace ids were made
        "node": "00c04fd430c8",
    }
    assert out["v4_info"] == {"version": 4, "variant": "RFC4122"}
    assert out["braces"] == out["standard"] == out["default"] == out["other_type"]
    assert out["standard"] == "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
    assert out["simple"] == "6ba7b8109dad11d180b400c04fd430c8"
    assert out["urn"] == "urn:uuid:6ba7b810-9dad-11d1-80b4-00c04fd430c8"


def test_uuid_errors_are_invalid_values(unit):
    u = unit(
        """
        local uuid = require("uuid")
        local id = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
        return { handler = function()
          local out = {}
          for name, call in pairs({
            v3_bad_ns = function() return uuid.v3("invalid", "test") end,
            v5_bad_ns = function() return uuid.v5("not-uuid", "name") end,
            v3_no_name = function() return uuid.v3(id) end,
            v5_number = function() return uuid.v5(id, 5) end,
            version_bad = function() return uuid.version("invalid") end,
            version_number = function() return uuid.version(123) end,
            variant_bad = function() return uuid.variant("invalid") end,
            parse_bad = function() return uuid.parse("not-a-uuid") end,
            parse_table = function() return uuid.parse({}) end,
            format_bad = function() return uuid.format("invalid") end,
            format_number = function() return uuid.format(42, "simple") end,
            format_unknown = function() return uuid.format(id, "unknown") end,
          }) do
            local value, e = call()
            out[name] = { value = value, err = E(e) }
          end
          return out
        end }
        """,
        ["uuid"],
    )
    out = u.call()
    assert all("value" not in result for result in out.values())
    messages = {
        "v3_bad_ns": "invalid namespace UUID",
        "v5_bad_ns": "invalid namespace UUID",
        "v3_no_name": "namespace and name must be strings",
        "v5_number": "namespace and name must be strings",
        "version_bad": "invalid UUID format",
        "version_number": "input must be a string",
        "variant_bad": "invalid UUID format",
        "parse_bad": "invalid UUID format",
        "parse_table": "input must be a string",
        "format_bad": "invalid UUID format",
        "format_number": "input must be a string",
        "format_unknown": "unsupported format 'unknown' (standard, simple or urn)",
    }
    assert {name: result["err"] for name, result in out.items()} == {
        name: err(INVALID, message) for name, message in messages.items()
    }


def test_uuids_of_a_workflow_replay_identically(make_app):
    app = make_app(
        """
        version: "1.0"
        namespace: app
        entries:
          - name: ids
            kind: workflow.lua
            source: file://ids.lua
            modules: [uuid, time]
        """,
        {
            "ids.lua": """
            local uuid = require("uuid")
            local time = require("time")
            local function main()
              local before = { uuid.v1(), uuid.v4(), uuid.v7() }
              time.sleep("1h")
              return { before = before, after = { uuid.v1(), uuid.v4(), uuid.v7() } }
            end
            return { main = main }
            """
        },
    )
    results = []
    for attempt in range(2):
        clock = ManualClock(START + attempt * 1000)  # a later wall clock on the replay
        engine = Engine(manifest.load_app(app), clock=clock)
        try:
            history = [Event(ev.WORKFLOW_STARTED, START, {"input": None}, seq=1)]
            step = Replay(engine, "app:ids", "run-1", history).run(START)
            for seq, event in enumerate(step.new_events, start=2):
                event.seq = seq
                history.append(event)
            assert step.status == "running" and step.next_timer == START + 3600
            history.append(Event(ev.TIMER_FIRED, START + 3600, {"cmd": 1}, seq=len(history) + 1))
            # Replayed from the start: the ids drawn before the sleep come out the same.
            step = Replay(engine, "app:ids", "run-1", history).run(START + 3600)
            assert step.status == "completed"
            results.append(step.result)
        finally:
            engine.close()
    first, second = results
    assert first == second
    before = [uuid.UUID(text) for text in first["before"]]
    after = [uuid.UUID(text) for text in first["after"]]
    assert [u.version for u in before] == [1, 4, 7]
    assert len({*first["before"], *first["after"]}) == 6
    # v1 and v7 use the run's recorded time, not the wall clock.
    assert before[2].int >> 80 == int(START * 1000)
    assert after[2].int >> 80 == int((START + 3600) * 1000)


# -- logger and print -----------------------------------------------------------------------------
def test_logger_levels_call_shapes_and_fields(unit):
    u = unit(
        """
        local logger = require("logger")
        return { handler = function()
          logger:debug("debug message")
          logger:info("info message", { key = "value", count = 42 })
          logger.warn("dot form", { ratio = 0.5 })
          logger:error("failed", { error = errors.new({ kind = errors.INVALID, message = "bad input" }) })
          logger:info(12)
          logger:info("types", {
            str = "hello", int = 100, float = 2.5, yes = true, no = false,
            nested = { data = { nested = "value" }, list = { 1, "two" } },
            fn = print, nan = 0/0, inf = 1/0, [1] = "ignored", [true] = "ignored",
            mixed = { [1] = "a", [2] = "b", x = "dropped" }, keys = { [1.5] = "x", [true] = "y" },
          })
          return true
        end }
        """,
        ["logger"],
    )
    assert u.call() is True
    lines = {message: (level, fields) for level, message, fields in u.logs}
    assert lines["debug message"] == ("debug", {"entry": "app:f"})
    assert lines["info message"] == ("info", {"key": "value", "count": 42, "entry": "app:f"})
    assert lines["dot form"] == ("warning", {"ratio": 0.5, "entry": "app:f"})
    assert lines["failed"] == ("error", {"error": "bad input", "entry": "app:f"})
    assert lines["12"] == ("info", {"entry": "app:f"})
    level, fields = lines["types"]
    assert level == "info"
    assert fields.pop("fn").startswith("function: ")
    assert fields == {
        "str": "hello",
        "int": 100,
        "float": 2.5,
        "yes": True,
        "no": False,
        "nested": {"data": {"nested": "value"}, "list": [1, "two"]},
        "nan": "NaN",
        "inf": "+Inf",
        "mixed": ["a", "b"],
        "keys": {"1.5": "x", "true": "y"},
        "entry": "app:f",
    }


def test_logger_with_and_named_make_children(unit):
    u = unit(
        """
        local logger = require("logger")
        return { handler = function()
          local request = { id = "abc" }
          local child = logger:with({ component = "auth", request = request })
          request.id = "changed later"
          child:info("login attempt", { user = "test" })
          child.warn("dot form child")
          local grandchild = child:with({ request_id = "abc123", component = "api" })
          grandchild:info("processing")
          local named = logger:named("myservice")
          named:info("service started")
          local sub = named:named("handler"):with({ env = "prod" })
          sub:info("handling")
          logger.named("dot"):info("named by dot")
          logger:info("root unchanged")
          return true
        end }
        """,
        ["logger"],
    )
    assert u.call() is True
    lines = {message: fields for _, message, fields in u.logs}
    assert lines["login attempt"] == {
        "component": "auth",
        "request": {"id": "abc"},
        "user": "test",
        "entry": "app:f",
    }
    assert lines["dot form child"] == {
        "component": "auth",
        "request": {"id": "abc"},
        "entry": "app:f",
    }
    assert lines["processing"] == {
        "component": "api",
        "request": {"id": "abc"},
        "request_id": "abc123",
        "entry": "app:f",
    }
    assert lines["service started"] == {"logger": "myservice", "entry": "app:f"}
    assert lines["handling"] == {"env": "prod", "logger": "myservice.handler", "entry": "app:f"}
    assert lines["named by dot"] == {"logger": "dot", "entry": "app:f"}
    assert lines["root unchanged"] == {"entry": "app:f"}


def test_logger_refuses_bad_arguments(unit):
    u = unit(
        """
        local logger = require("logger")
        return { handler = function()
          local out = {}
          for name, call in pairs({
            no_message = function() logger:info() end,
            table_message = function() logger:info({}) end,
            string_fields = function() logger:info("m", "fields") end,
            with_nil = function() return logger:with() end,
            with_string = function() return logger:with("x") end,
            named_empty = function() return logger:named("") end,
            named_table = function() return logger:named({}) end,
          }) do
            local ok, e = pcall(call)
            out[name] = { ok = ok, text = tostring(e), kind = type(e) ~= "string" and e:kind() or nil }
          end
          return out
        end }
        """,
        ["logger"],
    )
    out = u.call()
    assert not any(result["ok"] for result in out.values())
    assert "the message must be a string, got nil" in out["no_message"]["text"]
    assert "the message must be a string, got table" in out["table_message"]["text"]
    assert "fields must be a table, got string" in out["string_fields"]["text"]
    assert "logger:with: fields must be a table, got nil" in out["with_nil"]["text"]
    assert "logger:with: fields must be a table, got string" in out["with_string"]["text"]
    assert out["named_empty"]["kind"] == INVALID
    assert out["named_empty"]["text"] == "logger:named: name cannot be empty"
    assert "the name must be a string, got table" in out["named_table"]["text"]
    assert u.logs == []


def test_print_joins_with_a_space_and_logs_at_info(unit):
    u = unit(
        """
        return { handler = function()
          print("a", 1, 2.5, 3.0, "b")
          print("flags:", true, nil, {}, "end")
          print()
          return true
        end }
        """,
        [],
    )
    assert u.call() is True
    assert u.logs == [
        ("info", "a 1 2.5 3 b", {"entry": "app:f", "source": "print"}),
        ("info", "flags:    end", {"entry": "app:f", "source": "print"}),
        ("info", "", {"entry": "app:f", "source": "print"}),
    ]


# -- env ------------------------------------------------------------------------------------------
def test_env_get_reads_the_entry_block_and_deployment_overrides(unit):
    u = unit(
        """
        local env = require("env")
        return { handler = function()
          local greeting, e1 = env.get("GREETING")
          local mode = env.get("MODE")
          local port = env.get("PORT") or "8080"
          local missing, e2 = env.get("NONEXISTENT_VAR")
          local secret, e3 = env.get("AWS_SECRET_ACCESS_KEY")
          local empty, e4 = env.get("")
          local all, e5 = env.get_all()
          return {
            greeting = greeting, no_err = e1 == nil, mode = mode, port = port,
            missing = missing, missing_err = E(e2), secret = secret, secret_err = E(e3),
            empty = empty, empty_err = E(e4), all = all, all_err = e5 == nil,
            number_key = env.get(42),
          }
        end }
        """,
        ["env"],
        env={"GREETING": "hi", "MODE": "dev"},
        environ={
            "UNITS_ENV_42": "answer",
            "UNITS_ENV_MODE": "prod",
            "UNITS_ENV_EXTRA": "x",
            "AWS_SECRET_ACCESS_KEY": "do-not-leak",
            "PATH": "/usr/bin",
        },
    )
    out = u.call()
    assert (out["greeting"], out["no_err"], out["mode"], out["port"]) == (
        "hi",
        True,
        "prod",
        "8080",
    )
    assert "missing" not in out and "secret" not in out and "empty" not in out
    assert without_message(out["missing_err"]) == err(NOT_FOUND)
    assert out["missing_err"]["message"].startswith(
        "environment variable not found: NONEXISTENT_VAR"
    )
    assert without_message(out["secret_err"]) == err(NOT_FOUND)
    assert out["empty_err"] == err(INVALID, "empty key")
    assert out["all"] == {"GREETING": "hi", "MODE": "prod", "42": "answer", "EXTRA": "x"}
    assert out["all_err"] is True
    assert out["number_key"] == "answer"


def test_env_set_is_refused_with_permission_denied(unit):
    u = unit(
        """
        local env = require("env")
        return { handler = function()
          local ok, e = env.set("APP_MODE", "production")
          local empty_ok, empty_err = env.set("", "value")
          local after = env.get("APP_MODE")
          local raised, message = pcall(env.set, "APP_MODE", {})
          local raised_key = pcall(env.get, {})
          return {
            ok = ok, err = E(e), empty_ok = empty_ok, empty_err = E(empty_err), after = after,
            value_raised = not raised, message = message, key_raised = not raised_key,
          }
        end }
        """,
        ["env"],
        env={"APP_MODE": "dev"},
    )
    out = u.call()
    assert "ok" not in out and "empty_ok" not in out
    assert without_message(out["err"]) == err(PERMISSION_DENIED)
    assert out["err"]["message"].startswith(
        "env.set: not allowed to set environment variable: APP_MODE"
    )
    assert "UNITS_ENV_APP_MODE" in out["err"]["message"]
    assert out["empty_err"] == err(INVALID, "empty key")
    assert out["after"] == "dev"
    assert out["value_raised"] is True and "the value must be a string" in out["message"]
    assert out["key_raised"] is True


# -- base64 ---------------------------------------------------------------------------------------
def test_base64_encode_and_decode(unit):
    u = unit(
        """
        local base64 = require("base64")
        return { handler = function()
          local round = true
          for _, s in ipairs({ "", "a", "ab", "abc", "hello world", "binary\\0data\\255" }) do
            if base64.decode(base64.encode(s)) ~= s then round = false end
          end
          return {
            hello = base64.encode("Hello, World!"), empty = base64.encode(""),
            a = base64.encode("a"), ab = base64.encode("ab"), abc = base64.encode("abc"),
            decoded = base64.decode("SGVsbG8sIFdvcmxkIQ=="), decoded_empty = base64.decode(""),
            lines = base64.decode("aGVs\\r\\nbG8=\\n"), loose_bits = base64.decode("YR=="),
            counts = { count(base64.encode("x")), count(base64.decode("eA==")) },
            round = round,
          }
        end }
        """,
        ["base64"],
    )
    assert u.call() == {
        "hello": "SGVsbG8sIFdvcmxkIQ==",
        "empty": "",
        "a": "YQ==",
        "ab": "YWI=",
        "abc": "YWJj",
        "decoded": "Hello, World!",
        "decoded_empty": "",
        "lines": "hello",
        "loose_bits": "a",
        "counts": [1, 1],
        "round": True,
    }


def test_base64_errors_are_invalid(unit):
    u = unit(
        """
        local base64 = require("base64")
        return { handler = function()
          local out = {}
          for name, call in pairs({
            encode_number = function() return base64.encode(123) end,
            encode_nil = function() return base64.encode() end,
            decode_number = function() return base64.decode(123) end,
            illegal = function() return base64.decode("!!!invalid!!!") end,
            unpadded = function() return base64.decode("YQ") end,
            short_padding = function() return base64.decode("YQ=") end,
            early_padding = function() return base64.decode("Y===") end,
            trailing = function() return base64.decode("YWI=YQ==") end,
            url_alphabet = function() return base64.decode("-_8=") end,
          }) do
            local value, e = call()
            out[name] = { value = value, err = E(e) }
          end
          return out
        end }
        """,
        ["base64"],
    )
    out = u.call()
    assert all("value" not in result for result in out.values())
    messages = {
        "encode_number": "string expected",
        "encode_nil": "string expected",
        "decode_number": "string expected",
        "illegal": "decode failed: illegal base64 data at input byte 0",
        "unpadded": "decode failed: illegal base64 data at input byte 0",
        "short_padding": "decode failed: illegal base64 data at input byte 3",
        "early_padding": "decode failed: illegal base64 data at input byte 1",
        "trailing": "decode failed: illegal base64 data at input byte 4",
        "url_alphabet": "decode failed: illegal base64 data at input byte 0",
    }
    assert {name: result["err"] for name, result in out.items()} == {
        name: err(INVALID, message) for name, message in messages.items()
    }


# -- ctx ------------------------------------------------------------------------------------------
def test_ctx_get_and_all(unit):
    u = unit(
        """
        local ctx = require("ctx")
        local funcs = require("funcs")
        return { handler = function()
          local id, e1 = ctx.get("request_id")
          local missing, e2 = ctx.get("nonexistent")
          local empty, e3 = ctx.get("")
          local all, e4 = ctx.all()
          local config = ctx.get("config")
          config.max_retries = 99
          local seen_by_callee = funcs.new():with_context({ extra = { n = 1 } }):call("app:reader", "extra")
          local raised = not pcall(ctx.get, {})
          return {
            id = id, no_err = e1 == nil, missing = missing, missing_err = E(e2), empty = empty,
            empty_err = E(e3), all = all, all_err = e4 == nil,
            config_again = ctx.get("config").max_retries, callee = seen_by_callee,
            callee_missing = funcs.call("app:reader", "request_id"), raised = raised,
            number_key = ctx.get(7),
          }
        end }
        """,
        ["ctx", "funcs"],
    )
    out = u.call(context={"request_id": "req-123", "config": {"max_retries": 3}, "7": "seven"})
    assert (out["id"], out["no_err"]) == ("req-123", True)
    assert "missing" not in out and "empty" not in out
    assert out["missing_err"] == err(NOT_FOUND, "key not found: nonexistent")
    assert out["empty_err"] == err(INVALID, "empty key")
    assert out["all"] == {"request_id": "req-123", "config": {"max_retries": 3}, "7": "seven"}
    assert out["all_err"] is True
    # A table value is a copy: changing it changes neither the context nor the caller's table.
    assert out["config_again"] == 3
    assert out["callee"] == {"value": {"n": 1, "changed": True}}
    # A callee sees the caller's context (with_context adds to it).
    assert out["callee_missing"] == {"value": "req-123"}
    assert out["raised"] is True
    assert out["number_key"] == "seven"


def test_ctx_without_values_is_empty_and_not_found(unit):
    u = unit(
        """
        local ctx = require("ctx")
        return { handler = function()
          local all, e = ctx.all()
          local value, missing = ctx.get("user")
          return { all = all, none = next(all) == nil, no_err = e == nil, value = value,
            missing = E(missing) }
        end }
        """,
        ["ctx"],
    )
    out = u.call()
    assert out == {
        "none": True,
        "all": {},
        "no_err": True,
        "missing": err(NOT_FOUND, "key not found: user"),
    }


def test_a_module_error_returned_from_a_function_keeps_its_kind(unit):
    u = unit(
        """
        local env = require("env")
        return { handler = function() return env.get("NOPE") end }
        """,
        ["env"],
    )
    with pytest.raises(UnitError) as exc:
        u.call()
    assert exc.value.kind == NOT_FOUND
    assert exc.value.message.startswith("environment variable not found: NOPE")
