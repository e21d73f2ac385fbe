"""The codec: Lua <-> Python <-> JSON conversions, their round trips and their errors."""

from __future__ import annotations

import json
import math
import struct
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lupa import lua54

from runtime import codec as codec_module
from runtime.codec import INT_MAX, INT_MIN, JSON_MAX_DEPTH, MAX_DEPTH, Codec, dumps, loads
from runtime.errors import CodecError


def _refuse(obj: Any, name: Any, is_setting: bool) -> Any:
    raise AttributeError("no attribute access")


@pytest.fixture(scope="module")
def lua() -> Any:
    # The options the kit's sandbox uses (runtime/sandbox.py).
    return lua54.LuaRuntime(
        register_eval=False,
        register_builtins=False,
        unpack_returned_tuples=True,
        encoding=None,
        attribute_filter=_refuse,
    )


@pytest.fixture(scope="module")
def codec(lua: Any) -> Codec:
    return Codec(lua)


@pytest.fixture(scope="module")
def run(lua: Any, codec: Codec) -> Any:
    """Run a Lua chunk with ``json`` (``array``, ``null``) and ``deep_equal`` in scope."""
    prelude = """
    local array_mt, null, object_mt = ...
    json = {
      null = null,
      array = function(t) return setmetatable(t or {}, array_mt) end,
      object = function(t) return setmetatable(t or {}, object_mt) end,
    }
    function deep_equal(a, b)
      if type(a) ~= type(b) then return false end
      if type(a) == "number" then return math.type(a) == math.type(b) and a == b end
      if type(a) ~= "table" then return a == b end
      if rawequal(a, b) then return true end
      for k, v in pairs(a) do
        if not deep_equal(v, rawget(b, k)) then return false end
      end
      for k in pairs(b) do
        if rawget(a, k) == nil then return false end
      end
      return true
    end
    """
    lua.execute(prelude, codec.array_mt, codec.null, codec.object_mt)

    def run_chunk(source: str, *args: Any) -> Any:
        return lua.execute(source, *args)

    return run_chunk


def same(a: Any, b: Any) -> bool:
    """Equality that also compares types (1, 1.0 and True differ; so do 0.0 and -0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def without_none_entries(value: Any) -> Any:
    """What Lua keeps of a value: a dict entry whose value is None is an absent key."""
    if isinstance(value, dict):
        return {k: without_none_entries(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none_entries(v) for v in value]
    return value


def error_of(fn: Any, *args: Any) -> str:
    with pytest.raises(CodecError) as info:
        fn(*args)
    return info.value.message


# -- strategies ---------------------------------------------------------------------------------
def _is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


ints = st.integers(min_value=INT_MIN, max_value=INT_MAX) | st.sampled_from(
    [INT_MIN, INT_MAX, INT_MIN + 1, INT_MAX - 1, 0, -1, 2**53 + 1]
)
floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [-0.0, 0.0, 1.0, -1.0, 1e308, -1e308, 5e-324, 2.2250738585072014e-308, 1e16, 0.1]
)
# Binary only: a Lua string that is valid UTF-8 is text, so valid-UTF-8 bytes come back as str.
binary = st.binary(min_size=1, max_size=12).filter(lambda b: not _is_utf8(b)) | st.sampled_from(
    [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"abc\x00\xfe", b"\xc0\xaf"]
)
text = st.text(max_size=12) | st.sampled_from(["", "héllo", "日本", "😀", "a\x00b", "null"])
keys = text | st.sampled_from(["$bytes", "$map", "a b", "1", "_x", "end"])
scalars = st.none() | st.booleans() | ints | floats | text | binary


def _containers(children: Any) -> Any:
    return (
        st.lists(children, max_size=5)
        | st.dictionaries(keys, children, max_size=5)
        | st.builds(lambda v: {"$bytes": v}, children)
        | st.builds(lambda v: {"$map": v}, children)
    )


values = st.recursive(scalars, _containers, max_leaves=25)
json_values = st.recursive(scalars | st.binary(max_size=8), _containers, max_leaves=25)

PROPERTY = settings(max_examples=200, deadline=None)


# -- round trips --------------------------------------------------------------------------------
@PROPERTY
@given(values)
def test_lua_round_trip(codec: Codec, value: Any) -> None:
    back = codec.to_python(codec.to_lua(value))
    assert same(back, without_none_entries(value))


@PROPERTY
@given(values)
def test_lua_round_trip_without_none_entries_is_exact(codec: Codec, value: Any) -> None:
    value = without_none_entries(value)
    assert same(codec.to_python(codec.to_lua(value)), value)


@PROPERTY
@given(json_values)
def test_json_value_round_trip(value: Any) -> None:
    assert same(codec_module.from_json_value(codec_module.to_json_value(value)), value)


@PROPERTY
@given(json_values)
def test_dumps_loads_round_trip(value: Any) -> None:
    assert same(loads(dumps(value)), value)


def as_wippy_writes_it(value: Any, top: bool = True) -> Any:
    """What JSON Wippy's encoder writes for a value: an empty table is ``[]``, an integral float
    an integer (see runtime/gojson.py)."""
    if isinstance(value, dict):
        return {k: as_wippy_writes_it(v, False) for k, v in value.items()} if value else []
    if isinstance(value, list):
        return [as_wippy_writes_it(v, False) for v in value]
    if isinstance(value, float) and value.is_integer() and (top and abs(value) >= 1e21):
        return value  # a top-level float this large has an exponent
    if isinstance(value, float) and value.is_integer():
        # Inside a table Go writes int64(f) when it fits; otherwise (and at the top level) the
        # shortest digits padded with zeros.
        exact = not top and abs(value) < 2**63
        return int(value) if exact else int(Decimal(repr(value)))
    return value


def as_lua_reads_it(value: Any) -> Any:
    """JSON values as json.decode reads them: an integer beyond 64 bits is a float."""
    if isinstance(value, dict):
        return {k: as_lua_reads_it(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_lua_reads_it(v) for v in value]
    if type(value) is int and not INT_MIN <= value <= INT_MAX:
        return float(value)
    return value


def has_null_in_a_list(value: Any) -> bool:
    if isinstance(value, dict):
        return any(has_null_in_a_list(v) for v in value.values())
    if isinstance(value, list):
        return any(v is None or has_null_in_a_list(v) for v in value)
    return False


@PROPERTY
@given(values)
def test_json_encode_decode_agree_with_python_json(codec: Codec, value: Any) -> None:
    value = without_none_entries(value)
    has_binary = "$bytes" in dumps(value)
    if has_binary:
        return
    encoded = codec.json_encode(codec.to_lua(value))
    assert same(json.loads(encoded), as_wippy_writes_it(value))
    if not has_null_in_a_list(value):
        # (A null in an array decodes to a hole, which the encoder refuses, as Wippy's does.)
        assert same(
            codec.to_python(codec.json_decode(encoded)), as_lua_reads_it(json.loads(encoded))
        )
        again = codec.json_encode(codec.json_decode(encoded))
        # The same text, but for -0.0: written -0, it reads back as the integer 0 (as in Wippy).
        assert again == (b"0" if encoded == b"-0" else encoded)


wide_values = st.recursive(
    st.lists(scalars, min_size=20, max_size=120),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
    max_leaves=4,
)


@settings(max_examples=50, deadline=None)
@given(wide_values)
def test_wide_values_round_trip(codec: Codec, value: Any) -> None:
    # Longer tapes are released differently from short ones (see the Lua walk).
    value = without_none_entries(value)
    assert same(codec.to_python(codec.to_lua(value)), value)
    assert same(codec.to_python(codec.to_lua({"small": [1, "x"]})), {"small": [1, "x"]})


def test_works_in_the_kit_sandbox() -> None:
    from runtime.sandbox import LuaState

    state = LuaState()
    codec = Codec(state.lua)
    value = {"a": [1, 2.5, "x", b"\xff", None, {}], "b": {"c": []}}
    assert same(codec.to_python(codec.to_lua(value)), value)
    assert codec.json_encode(codec.to_lua({"k": [None]})) == b'{"k":[null]}'
    # A null in an array is a hole once decoded: a trailing one is gone, as in Wippy.
    assert codec.json_encode(codec.json_decode(b'{"k":[null]}')) == b'{"k":[]}'


def test_lua_built_values_survive_python(run: Any, codec: Codec) -> None:
    original = run(
        """
        local t = {
          name = "unit", count = 3, ratio = 0.5, whole = 1.0, big = math.maxinteger,
          small = math.mininteger, neg_zero = -0.0, yes = true, no = false,
          blob = "\\xff\\x00\\xfe", text = "h\\u{e9}llo",
          list = { 1, "two", 3.0, { x = 1 }, json.null },
          empty = {}, empty_list = json.array(), marked = json.array({ 1, 2 }),
          nested = { a = { b = { c = { "deep" } } } },
          ["a b"] = { ["$bytes"] = "not a marker" },
        }
        return t
        """
    )
    py = codec.to_python(original)
    assert same(py["whole"], 1.0)
    assert same(py["big"], INT_MAX)
    assert same(py["small"], INT_MIN)
    assert same(py["neg_zero"], -0.0)
    assert py["blob"] == b"\xff\x00\xfe"
    assert py["text"] == "héllo"
    assert same(py["list"], [1, "two", 3.0, {"x": 1}, None])
    assert same(py["empty"], {})
    assert same(py["empty_list"], [])
    assert same(py["marked"], [1, 2])
    assert py["nested"] == {"a": {"b": {"c": ["deep"]}}}
    assert py["a b"] == {"$bytes": "not a marker"}
    back = codec.to_lua(py)
    assert run("return deep_equal(...)", original, back) is True
    # The same again through the persisted form.
    assert run("return deep_equal(...)", original, codec.to_lua(loads(dumps(py)))) is True


# -- Lua -> Python -------------------------------------------------------------------------------
def test_scalars_from_lua(run: Any, codec: Codec) -> None:
    assert codec.to_python(None) is None
    assert codec.to_python(run("return true")) is True
    assert same(codec.to_python(run("return 7")), 7)
    assert same(codec.to_python(run("return 7.0")), 7.0)
    assert codec.to_python(run("return 'héllo'")) == "héllo"
    assert codec.to_python(run("return '\\xff'")) == b"\xff"
    assert codec.to_python(run("return json.null")) is None


def test_tables_from_lua(run: Any, codec: Codec) -> None:
    assert codec.to_python(run("return {}")) == {}
    assert codec.to_python(run("return json.array()")) == []
    assert codec.to_python(run("return {10, 20, 30}")) == [10, 20, 30]
    assert codec.to_python(run("return {a = 1, b = {true, false}}")) == {"a": 1, "b": [True, False]}
    # Keys 1..n put in out of order (some of them land in the hash part) are still an array.
    backwards = run("local t = {} for i = 40, 1, -1 do t[i] = i * 2 end return t")
    assert codec.to_python(backwards) == [i * 2 for i in range(1, 41)]
    mixed_order = run("local t = {1, 2} t[4] = 4 t[3] = 3 t[6] = {6} t[5] = 5 return t")
    assert codec.to_python(mixed_order) == [1, 2, 3, 4, 5, [6]]
    assert codec.to_python(run("return json.array({1, 2, 3})")) == [1, 2, 3]
    assert codec.to_python(run("return {json.null, json.null}")) == [None, None]
    assert codec.to_python(run("return {a = json.null}")) == {"a": None}
    binary_in_list = run("return {'a', '\\xff', 'b'}")
    assert codec.to_python(binary_in_list) == ["a", b"\xff", "b"]
    # String keys that look like numbers stay string keys.
    assert codec.to_python(run("return {['1'] = 'x'}")) == {"1": "x"}


def test_metatables_do_not_run(run: Any, codec: Codec) -> None:
    tricky = run(
        """
        local calls = 0
        local mt = {
          __index = function() calls = calls + 1 return 1 end,
          __pairs = function() calls = calls + 1 return next, {}, nil end,
          __eq = function() calls = calls + 1 return true end,
          __len = function() calls = calls + 1 return 0 end,
        }
        local t = setmetatable({ x = setmetatable({ 1, 2 }, mt) }, mt)
        return t, function() return calls end
        """
    )
    table, calls = tricky
    assert codec.to_python(table) == {"x": [1, 2]}
    assert calls() == 0


def test_shared_tables_are_not_cycles(run: Any, codec: Codec) -> None:
    shared = run("local s = {1} return {a = s, b = s, c = {s, s}}")
    assert codec.to_python(shared) == {"a": [1], "b": [1], "c": [[1], [1]]}


def test_depth_limit_from_lua(run: Any, codec: Codec) -> None:
    build = (
        "local n = ... local t = {} local top = t for i = 2, n do t.a = {} t = t.a end return top"
    )
    assert codec.to_python(run(build, MAX_DEPTH)) is not None
    message = error_of(codec.to_python, run(build, MAX_DEPTH + 1))
    assert message == "value" + ".a" * MAX_DEPTH + ": nesting deeper than 100"


def test_long_values_cross_in_slices(codec: Codec) -> None:
    value = {"xs": list(range(120_000)), "ys": [{"i": i} for i in range(30_000)]}
    table = codec.to_lua(value)
    assert codec.to_python(table) == value
    # The state is clean afterwards: a small conversion still works.
    assert codec.to_python(codec.to_lua({"a": [1]})) == {"a": [1]}


# -- errors from Lua -----------------------------------------------------------------------------
def test_function_inside_nested_table(run: Any, codec: Codec) -> None:
    t = run("return {items = {1, 2, {cb = function() end}}}")
    assert error_of(codec.to_python, t, "payload") == (
        "payload.items[3].cb: a function cannot be sent"
    )
    assert error_of(codec.to_python, run("return print or function() end")) == (
        "value: a function cannot be sent"
    )


def test_error_path_quotes_non_identifier_keys(run: Any, codec: Codec) -> None:
    t = run("return {['a b'] = {f = function() end}}")
    assert error_of(codec.to_python, t) == 'value["a b"].f: a function cannot be sent'


def test_cycle(run: Any, codec: Codec) -> None:
    t = run("local t = {a = {}} t.a.b = t.a return t")
    assert error_of(codec.to_python, t, "payload") == (
        "payload.a.b: cycle: table already seen at payload.a"
    )
    root = run("local t = {x = 1} t.self = t return t")
    assert error_of(codec.to_python, root) == "value.self: cycle: table already seen at value"
    # After a failed walk the codec starts clean: the same tables convert once the cycle is cut.
    run("local t = ... t.a.b = nil", t)
    assert codec.to_python(t) == {"a": {}}


def test_key_errors(run: Any, codec: Codec) -> None:
    cases = {
        "return {[true] = 1}": "value: table has a boolean key",
        "return {[1.5] = 1}": "value: table has non-integer number key 1.5",
        "return {[{}] = 1}": "value: table has a table key",
        "return {x = {a = 1, [5] = 2}}": (
            "value.x: table has non-string key 5 alongside string keys"
        ),
        "return {1, 2, x = 3}": "value: table has non-string key 1 alongside string keys",
        "return {1, 2, 3, nil, 5}": "value: sparse array: key 4 missing",
        "return {[0] = 'a', [1] = 'b'}": "value: sparse array: key 2 missing",
        "return {list = {[2] = 'b'}}": "value.list: sparse array: key 1 missing",
        "return {['\\xff\\x41'] = 1}": 'value: key "\\xffA" is not valid UTF-8',
        "return json.array({x = 1})": 'value: array (json.array) has string key "x"',
    }
    for source, expected in cases.items():
        assert error_of(codec.to_python, run(source)) == expected, source


def test_non_finite_numbers(run: Any, codec: Codec) -> None:
    assert error_of(codec.to_python, run("return {x = 0/0}")) == "value.x: not a finite number"
    assert error_of(codec.to_python, run("return {1, -math.huge}")) == (
        "value[2]: not a finite number"
    )
    assert error_of(codec.to_python, run("return math.huge")) == "value: not a finite number"


def test_userdata_and_coroutines(run: Any, codec: Codec) -> None:
    t = run("return {x = ...}", object())
    assert error_of(codec.to_python, t) == "value.x: a userdata value cannot be sent"
    assert error_of(codec.to_python, object()) == "value: a userdata value cannot be sent"
    co = run("return {co = coroutine.create(function() end)}")
    assert error_of(codec.to_python, co) == "value.co: a coroutine cannot be sent"


# -- Python -> Lua -------------------------------------------------------------------------------
def test_to_lua_shapes(run: Any, codec: Codec) -> None:
    check = run(
        """
        return function(v)
          return getmetatable(v), v[1], v[2], rawequal(v[3], json.null), #v
        end
        """
    )
    assert check(codec.to_lua([1, "x", None])) == (b"json.array", 1, b"x", True, 3)
    assert run("return getmetatable(...)", codec.to_lua([])) == b"json.array"
    assert run("return getmetatable(...)", codec.to_lua({})) is None
    assert run("local t = ... return t.a, t.b", codec.to_lua({"a": None, "b": 1})) == (None, 1)
    assert codec.to_lua("héllo") == "héllo".encode()
    assert codec.to_lua(b"\xff") == b"\xff"
    assert codec.to_lua(None) is None
    assert run("return math.type(...)", codec.to_lua(1.0)) == b"float"
    assert run("return math.type(...)", codec.to_lua(1)) == b"integer"
    # A list that is emptied in Lua is still an array.
    emptied = run("local t = ... t[1] = nil return t", codec.to_lua([1]))
    assert codec.to_python(emptied) == []
    assert codec.to_python(codec.to_lua((1, (2,)))) == [1, [2]]


def test_to_lua_errors(codec: Codec) -> None:
    assert error_of(codec.to_lua, 2**63) == "value: integer out of the signed 64-bit range"
    assert error_of(codec.to_lua, INT_MIN - 1) == "value: integer out of the signed 64-bit range"
    assert error_of(codec.to_lua, [1, {"a": 2**63}], "args[1]") == (
        "args[1][2].a: integer out of the signed 64-bit range"
    )
    assert error_of(codec.to_lua, {"x": [float("nan")]}) == "value.x[1]: not a finite number"
    assert error_of(codec.to_lua, float("inf")) == "value: not a finite number"
    assert error_of(codec.to_lua, {"a": {1: "x"}}) == "value.a: dict key 1 is not a string"
    assert error_of(codec.to_lua, {"s": {1, 2}}) == "value.s: cannot convert set"
    assert error_of(codec.to_lua, object()) == "value: cannot convert object"
    assert error_of(codec.to_lua, ["\ud800"]) == (
        "value[1]: string is not valid Unicode (lone surrogate)"
    )
    deep: Any = []
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert error_of(codec.to_lua, deep).endswith(": nesting deeper than 100")
    assert codec.to_python(codec.to_lua(deep[0])) == deep[0]


# -- the Lua json module -------------------------------------------------------------------------
def test_json_encode(run: Any, codec: Codec) -> None:
    t = run(
        "return {b = {1, 2.5, 'é', json.null, true}, a = {}, c = json.array(), d = json.object()}"
    )
    assert codec.json_encode(t) == '{"a":[],"b":[1,2.5,"é",null,true],"c":[],"d":{}}'.encode()
    assert codec.json_encode(None) == b"null"
    assert codec.json_encode(run("return 'x'")) == b'"x"'
    assert codec.json_encode(run("return {['$bytes'] = 'x'}")) == b'{"$bytes":"x"}'
    # An object marker only matters when the table is empty.
    assert codec.json_encode(run("return json.object({1, 2})")) == b"[1,2]"
    # to_python keeps its own rule: an empty unmarked table is {}.
    assert codec.to_python(run("return {}")) == {}


def test_json_encode_numbers_as_wippy_writes_them(run: Any, codec: Codec) -> None:
    t = run("return {3.0, -0.0, 0.5, 1e-5, 2^53, 1e300, 12345678.9, math.maxinteger}")
    assert codec.json_encode(t) == (
        b"[3,0,0.5,0.00001,9007199254740992,1" + b"0" * 300 + b",12345678.9,9223372036854775807]"
    )
    top = {"3.0": b"3", "-0.0": b"-0", "1e-6": b"0.000001", "1e-7": b"1e-7", "1.5e-10": b"1.5e-10"}
    top |= {"1e20": b"100000000000000000000", "1e21": b"1e+21", "-2.5e300": b"-2.5e+300"}
    for src, text in top.items():
        assert codec.json_encode(run(f"return {src}")) == text, src


def test_json_encode_writes_null_for_values_json_cannot_hold(run: Any, codec: Codec) -> None:
    assert codec.json_encode(run("return {f = print or function() end, n = 0/0, i = 1/0}")) == (
        b'{"f":null,"i":null,"n":null}'
    )
    assert codec.json_encode(run("return {1/0, -1/0, coroutine.create(print)}")) == (
        b"[null,null,null]"
    )
    assert codec.json_encode(run("return 0/0")) == b"null"
    # Bytes that are not UTF-8 become U+FFFD, as Go's encoder writes them.
    assert (
        codec.json_encode(run("return {s = {'ok', '\\xff'}}")) == '{"s":["ok","\ufffd"]}'.encode()
    )
    assert codec.json_encode(run("return '\\xff'")) == '"\ufffd"'.encode()
    # Not so for keys, and the codec's own conversion still refuses all of these.
    assert error_of(codec.json_encode, run("return {['\\xff'] = 1}")) == (
        'value: key "\\xff" is not valid UTF-8'
    )
    assert (
        error_of(codec.to_python, run("return {f = print}")) == "value.f: a function cannot be sent"
    )
    assert error_of(codec.to_python, run("return {0/0}")) == "value[1]: not a finite number"


def test_json_encode_depth_is_wippys(run: Any, codec: Codec) -> None:
    nest = "local t = {} for _ = 2, ... do t = {t} end return t"
    assert (
        codec.json_encode(run(nest, JSON_MAX_DEPTH))
        == b"[" * JSON_MAX_DEPTH + b"]" * JSON_MAX_DEPTH
    )
    assert error_of(codec.json_encode, run(nest, JSON_MAX_DEPTH + 1)).endswith(
        ": exceeded maximum nesting depth of 128"
    )
    # The codec's own limit stays MAX_DEPTH.
    assert error_of(codec.to_python, run(nest, MAX_DEPTH + 1)).endswith(": nesting deeper than 100")


def test_json_decode(run: Any, codec: Codec) -> None:
    t = codec.json_decode(b'{"a": [1, null, 2.0, "\\u00e9"], "b": null, "c": {}, "d": []}')
    assert run("local t = ... return t.b == nil, t.a[2] == nil, #t.a", t) == (True, True, 4)
    assert same(codec.to_python(t), {"a": [1, None, 2.0, "é"], "c": {}, "d": []})
    assert codec.json_decode("null") is None
    assert codec.json_decode('"x"') == b"x"
    assert same(codec.json_decode("123456789012345678901234567890"), 1.2345678901234568e29)


def test_json_decode_errors(codec: Codec) -> None:
    assert error_of(codec.json_decode, b'{"a": }') == (
        "json: invalid JSON at line 1 column 7: Expecting value"
    )
    assert error_of(codec.json_decode, "[1,\n  2,\n  oops]") == (
        "json: invalid JSON at line 3 column 3: Expecting value"
    )
    assert error_of(codec.json_decode, b"[1, NaN]") == (
        "json: invalid JSON at line 1 column 5: NaN is not allowed"
    )
    assert error_of(codec.json_decode, b'["a", "\xff"]') == (
        "json: invalid JSON at line 1 column 8: invalid UTF-8"
    )
    assert error_of(codec.json_decode, b"[1e999]") == "json[1]: not a finite number"
    deepest = b"[" * JSON_MAX_DEPTH + b"]" * JSON_MAX_DEPTH
    assert codec.json_encode(codec.json_decode(deepest)) == deepest
    too_deep = b"[" * (JSON_MAX_DEPTH + 1) + b"]" * (JSON_MAX_DEPTH + 1)
    assert error_of(codec.json_decode, too_deep).endswith(": exceeded maximum nesting depth of 128")
    very_deep = b"[" * 100_000 + b"]" * 100_000
    assert error_of(codec.json_decode, very_deep) == "json: exceeded maximum nesting depth of 128"


def test_null_sentinel(run: Any, codec: Codec) -> None:
    assert run("return tostring(json.null), getmetatable(json.null)") == (b"null", b"json.null")
    ok, _ = run("return pcall(function() json.null.x = 1 end)")
    assert ok is False
    ok, _ = run("return pcall(setmetatable, json.null, {})")
    assert ok is False


# -- JSON forms -----------------------------------------------------------------------------------
def test_json_value_markers() -> None:
    to_json, from_json = codec_module.to_json_value, codec_module.from_json_value
    assert to_json(b"\x00\xff") == {"$bytes": "AP8="}
    assert to_json({"$bytes": "x"}) == {"$map": {"$bytes": "x"}}
    assert to_json({"$map": {"$map": 1}}) == {"$map": {"$map": {"$map": {"$map": 1}}}}
    assert to_json({"$bytes": "x", "y": 1}) == {"$bytes": "x", "y": 1}
    assert to_json([b"a", {"k": b""}]) == [{"$bytes": "YQ=="}, {"k": {"$bytes": ""}}]
    assert from_json({"$map": {"$bytes": "x"}}) == {"$bytes": "x"}
    assert from_json({"$map": {"b": {"$bytes": "YQ=="}}}) == {"b": b"a"}
    assert (
        error_of(from_json, {"a": [{"$bytes": 5}]}) == "value.a[1]: $bytes must be a base64 string"
    )
    assert error_of(from_json, {"$bytes": "!!"}) == "value: $bytes is not valid base64"
    assert error_of(from_json, {"$map": []}) == "value: $map must be an object"


def test_json_value_errors() -> None:
    to_json = codec_module.to_json_value
    assert error_of(to_json, {"a": [1, 2**64]}) == (
        "value.a[2]: integer out of the signed 64-bit range"
    )
    assert error_of(to_json, {"a": math.nan}) == "value.a: not a finite number"
    assert error_of(to_json, {1: 2}) == "value: dict key 1 is not a string"
    assert error_of(dumps, {"a": object()}) == "value.a: cannot convert object"


def test_dumps_and_loads() -> None:
    assert dumps({"a": [1, "é", None, 1.0, b"\x01"]}) == '{"a":[1,"é",null,1.0,{"$bytes":"AQ=="}]}'
    assert same(
        loads('{"a":[1,"é",null,1.0,{"$bytes":"AQ=="}]}'), {"a": [1, "é", None, 1.0, b"\x01"]}
    )
    assert same(loads(b"[1.0, 2]"), [1.0, 2])
    assert error_of(loads, "{") == (
        "json: invalid JSON at line 1 column 2: Expecting property name enclosed in double quotes"
    )
    assert error_of(loads, '{"NaN": -Infinity}') == (
        "json: invalid JSON at line 1 column 9: -Infinity is not allowed"
    )
