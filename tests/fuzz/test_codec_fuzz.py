"""The codec with values it must refuse as well as ones it must carry (tests/test_codec.py holds
the valid round trips): anything at all from Python, JSON text of any shape, and Lua tables built
by random constructors (functions, cycles, metatables, NaN, odd keys). Each conversion either
succeeds, and then a second round trip gives the same value, or raises CodecError naming where."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from runtime import codec as codec_module
from runtime.codec import MAX_DEPTH, Codec
from runtime.errors import CodecError
from runtime.sandbox import LuaState
from tests.fuzz.conftest import fuzz

_STATE = LuaState()
CODEC = Codec(_STATE.lua)


class Opaque:
    pass


# -- anything from Python -----------------------------------------------------------------------

ODD_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too
    st.floats(),  # NaN and infinities too
    st.text(),  # lone surrogates too
    st.binary(max_size=16),
    st.sampled_from([Opaque(), object(), 1j, frozenset(), set(), range(2), bytearray(b"x")]),
)
ODD_KEYS = st.one_of(
    st.text(max_size=6), st.integers(), st.none(), st.booleans(), st.binary(max_size=3)
)
ANYTHING = st.recursive(
    ODD_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(ODD_KEYS, inner, max_size=4),
        st.builds(lambda v: {"$bytes": v}, inner),
        st.builds(lambda v: {"$map": v}, inner),
    ),
    max_leaves=12,
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _without_none_entries(value: Any) -> Any:
    """A None dict value means an absent key on the Lua side (by design): compare without."""
    if isinstance(value, dict):
        return {k: _without_none_entries(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none_entries(v) for v in value]
    return value


def _as_decoded(value: Any) -> Any:
    """JSON data as json.decode keeps it, written again: nulls gone from objects and from the
    end of arrays, an empty table as []."""
    if isinstance(value, dict):
        kept = {k: _as_decoded(v) for k, v in value.items() if v is not None}
        return kept or []
    if isinstance(value, list):
        items = list(value)
        while items and items[-1] is None:
            items.pop()
        return [_as_decoded(v) for v in items]
    return value


def _assert_codec_error(exc: CodecError, root: str) -> None:
    assert exc.kind == "Invalid"
    assert exc.path.startswith(root), (exc.path, root)
    assert exc.reason and exc.message.startswith(exc.path)


@fuzz(300)
@given(ANYTHING)
@example(_nested(MAX_DEPTH + 5))
@example({"a": [1, {"b": float("nan")}]})
@example({1: "x"})
@example("\ud800")
@example(2**64)
@example({"$bytes": "not base64!"})
def test_python_values_convert_or_name_the_path(value):
    try:
        lua_value = CODEC.to_lua(value, "payload")
    except CodecError as exc:
        _assert_codec_error(exc, "payload")
    else:
        back = CODEC.to_python(lua_value, "payload")
        assert CODEC.to_python(CODEC.to_lua(back)) == _without_none_entries(back)
    try:
        text = codec_module.dumps(value)
    except CodecError as exc:
        _assert_codec_error(exc, "value")
    else:
        again = codec_module.loads(text)
        assert codec_module.dumps(again) == text


# -- JSON text of any shape ---------------------------------------------------------------------

JSON_ATOMS = st.sampled_from(
    [
        "null",
        "true",
        "false",
        "0",
        "-0",
        "1e400",
        "-1e400",
        "123456789012345678901234567890",
        "1.5",
        '"x"',
        '"\\ud800"',
        '"\\u0000"',
        "NaN",
        "Infinity",
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        '{"$bytes": "AAA="}',
        '{"$bytes": 1}',
        '{"$map": []}',
        '{"$map": {"a": 1}}',
        "[null]",
        '{"a": null}',
        '"\\x"',
        "'s'",
        "",
    ]
)


@st.composite
def json_texts(draw):
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return "".join(draw(st.lists(JSON_ATOMS, max_size=8)))
    if kind == 1:
        return draw(st.text(max_size=30))
    if kind == 2:
        value = draw(
            st.recursive(
                st.none()
                | st.booleans()
                | st.integers()
                | st.floats(allow_nan=False)
                | st.text(max_size=5),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=4), inner, max_size=3)
                ),
                max_leaves=10,
            )
        )
        text = json.dumps(value)
        cut = draw(st.integers(0, len(text)))
        return text[:cut] if draw(st.booleans()) else text
    return "[" * draw(st.integers(MAX_DEPTH - 2, MAX_DEPTH + 3)) + "]" * draw(
        st.integers(0, MAX_DEPTH + 3)
    )


@fuzz(300)
@given(json_texts(), st.booleans())
@example("[" * 2000, False)
@example('{"$bytes": "////"}', True)
@example("1e400", False)
def test_json_text_decodes_or_is_refused(text, as_bytes):
    raw: Any = text.encode("utf-8", "surrogatepass") if as_bytes else text
    try:
        value = codec_module.loads(raw)
    except CodecError as exc:
        _assert_codec_error(exc, "")
    else:
        # loads is laxer than dumps (an int beyond 64 bits, 1e400 read as inf, nesting past
        # MAX_DEPTH): such a value fails cleanly at its next conversion, never half way.
        try:
            text = codec_module.dumps(value)
        except CodecError as exc:
            _assert_codec_error(exc, "value")
        else:
            assert codec_module.loads(text) == value
    try:
        lua_value = CODEC.json_decode(raw)
    except CodecError as exc:
        _assert_codec_error(exc, "json")
    else:
        try:
            encoded = CODEC.json_encode(lua_value)
        except CodecError as exc:  # e.g. a string that is not UTF-8 after a \\ud800 escape
            _assert_codec_error(exc, "value")
        else:
            # Stable from the second round on (the first may change a number's type, as Wippy's
            # does: -0.0 is written -0, which reads back as the integer 0).
            again = CODEC.json_encode(CODEC.json_decode(encoded))
            assert json.loads(again) == json.loads(encoded)
            assert CODEC.json_encode(CODEC.json_decode(again)) == again


# -- Lua tables from random constructors ---------------------------------------------------------

LUA_KEYS = st.sampled_from(
    [
        "1",
        "2",
        "3",
        "0",
        "-1",
        "1.5",
        "2^53",
        '"a"',
        '"b"',
        '"$map"',
        '"$bytes"',
        "true",
        "math.huge",
        '"\\255"',
        "{}",
    ]
)
LUA_LEAVES = st.sampled_from(
    [
        "1",
        "-0.0",
        "0/0",
        "1/0",
        "math.maxinteger",
        "2^63",
        '"x"',
        '"\\0\\255"',
        "true",
        "false",
        "nil",
        "NULL",
        "function() end",
        "coroutine.create(function() end)",
        "ARRAY()",
        "setmetatable({}, { __index = function() error('no') end, __pairs = function() error('no') end })",
    ]
)


def lua_constructors():
    return st.recursive(
        LUA_LEAVES,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4).map(lambda items: "{" + ", ".join(items) + "}"),
            st.lists(st.tuples(LUA_KEYS, inner), max_size=4).map(
                lambda pairs: "{" + ", ".join(f"[{k}] = {v}" for k, v in pairs) + "}"
            ),
            inner.map(lambda v: f"ARRAY({{ {v} }})"),
            inner.map(lambda v: f"CYCLE({v})"),
        ),
        max_leaves=10,
    )


_BUILD = _STATE.lua.execute(
    """
    local array_mt, null = ...
    local env = {
      math = math, coroutine = coroutine, setmetatable = setmetatable, error = error,
      NULL = null,
      ARRAY = function(t) return setmetatable(t or {}, array_mt) end,
      CYCLE = function(v) local t = { v }; t.self = t; return t end,
    }
    return function(src)
      local f = assert(load("return " .. src, "=gen", "t", env))
      return f()
    end
    """,
    CODEC.array_mt,
    CODEC.null,
)


@fuzz(300)
@given(lua_constructors())
@example("{[1] = 1, [3] = 3}")
@example('{[1] = 1, ["a"] = 2}')
@example("{0/0}")
@example("{[1.5] = 1}")
@example('{["\\255"] = 1}')
@example('{["a"] = NULL}')
def test_lua_tables_convert_or_name_the_path(src):
    value = _BUILD(src.encode())
    try:
        py = CODEC.to_python(value, "result")
    except CodecError as exc:
        _assert_codec_error(exc, "result")
        return
    assert CODEC.to_python(CODEC.to_lua(py)) == _without_none_entries(py)
    try:
        text = CODEC.json_encode(value)
    except CodecError as exc:  # e.g. a key that is not UTF-8
        _assert_codec_error(exc, "value")
        return
    # Decoded, a null in an array is a hole (as in Wippy): encoding again writes the same JSON
    # up to those holes (a trailing one is gone) and the empty tables they leave, or refuses a
    # hole inside an array as a sparse array.
    try:
        again = CODEC.json_encode(CODEC.json_decode(text))
    except CodecError as exc:
        _assert_codec_error(exc, "value")
        assert "sparse array" in exc.reason and b"null" in text
    else:
        assert _as_decoded(json.loads(again)) == _as_decoded(json.loads(text))
