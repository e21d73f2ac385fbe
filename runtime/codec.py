"""Values crossing the Lua / Python / JSON boundary (DESIGN.md, "Values crossing the boundary").

The Python value domain is: ``None``, ``bool``, ``int`` (signed 64-bit), finite ``float``,
``str`` (text), ``bytes`` (binary), ``list`` and ``dict`` with ``str`` keys.

- :class:`Codec` converts between that domain and the values of one Lua state.
- :func:`to_json_value` / :func:`from_json_value` (and :func:`dumps` / :func:`loads`) give the
  persisted / wire form: plain JSON where binary travels as ``{"$bytes": "<base64>"}`` and a user
  dict that would read as a marker is wrapped as ``{"$map": {...}}``.
- :meth:`Codec.json_encode` / :meth:`Codec.json_decode` back the Lua ``json`` module: strict RFC
  JSON, no markers, JSON ``null`` inside arrays is :attr:`Codec.null`.

Every Python<->Lua crossing costs far more than a Lua or Python step, so:

- Lua -> Python is one call: a Lua walk flattens the whole value into a "tape" of plain values
  returned at once, checking what is cheap in Lua (cycles, depth, value types, finite numbers);
  Python rebuilds lists and dicts from the tape and checks what is cheap in Python (keys: kinds,
  arrays 1..n, UTF-8). The tape format is described at :func:`_parse`.
- Python -> Lua is one call per table (``table_from`` for maps, a vararg constructor for arrays),
  which measured faster than a tape rebuilt by a Lua loop.

Paths in errors are built only when something fails: the failure travels up as :class:`_Fail`
and each level adds its key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from lupa import lua54

from runtime.errors import CodecError
from runtime.gojson import dumps_go, go_float, go_numbers

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "JSON_MAX_DEPTH",
    "MAX_DEPTH",
    "Codec",
    "dumps",
    "format_path",
    "from_json_value",
    "loads",
    "to_json_value",
]

#: Tables (lists, dicts) may nest this deep; the outermost one is level 1.
MAX_DEPTH = 100
#: The json module's limit (``json.encode`` / ``json.decode``): Wippy's encoder and decoder
#: refuse a table below depth 128, counting the outermost as depth 0.
JSON_MAX_DEPTH = 129
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
#: Most tape entries (about two per element) one Lua value may produce. Tables shared by
#: reference are expanded at every place they appear, so without a ceiling a small value of
#: shared tables could expand exponentially.
MAX_TAPE = 10_000_000

# Lua cannot hold a million values on its stack: longer tapes and arrays cross in slices.
_CHUNK = 100_000

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_BYTES = "$bytes"
_MAP = "$map"
_SURROGATE = "string is not valid Unicode (lone surrogate)"
_DEEP = f"nesting deeper than {MAX_DEPTH}"
_JSON_DEEP = f"exceeded maximum nesting depth of {JSON_MAX_DEPTH - 1}"

_LUA = r"""
local MAX_DEPTH, MAX_TAPE, CHUNK, JSON_MAX_DEPTH = ...
local next, type, rawequal, getmetatable, setmetatable, error, select =
  next, type, rawequal, getmetatable, setmetatable, error, select
local unpack, tmove = table.unpack, table.move
local mtype, tointeger = math.type, math.tointeger

-- Arrays are recognised by the marker their protected metatable shows to getmetatable, so
-- application code can neither read nor alter the metatable every array shares.
local ARRAY = "json.array"
local array_mt = { __metatable = ARRAY }
-- json.object(): an empty table the json module writes as {} (an unmarked empty one is [], as
-- Wippy writes it).
local OBJECT = "json.object"
local object_mt = { __metatable = OBJECT }
local null = setmetatable({}, {
  __metatable = "json.null",
  __tostring = function() return "null" end,
  __newindex = function() error("json.null cannot be modified", 2) end,
})

-- Only raw operations below: no metamethod of a user table runs during a walk, so a walk cannot
-- re-enter and the shared state is safe.
local buf, n = {}, 0
local keys = {}      -- keys[d]: the key under which the walk went below depth d (error paths)
local seen = {}      -- table -> depth, for the tables on the current path (cycles)
local dirty = false  -- a walk stopped half way: buf and seen need a reset
local FAIL = setmetatable({}, { __tostring = function() return "codec failure" end })
local fail_reason, fail_plen, fail_detail
-- The json module's walk (to_tape(t, true)) follows Wippy's encoder: deeper tables, and null
-- for the values JSON cannot hold, where the codec refuses them.
local json_mode, depth_limit = false, MAX_DEPTH
local odd_floats = false  -- json mode: a float Python must rewrite for Go's text (see json_float)

local function fail(reason, plen, detail)
  fail_reason, fail_plen, fail_detail = reason, plen, detail
  error(FAIL, 0)
end

-- A value the codec refuses (NaN, an infinity, a function, a coroutine, userdata); the json
-- module writes null for it, as Wippy's encoder does.
local function odd_value(v, tv, k, depth)
  if not json_mode then
    keys[depth] = k
    fail(tv == "number" and "nan" or tv, depth)
  end
  buf[n + 1] = nil
  n = n + 2
  buf[n] = false
end

-- A float as Wippy's encoder writes it inside a table: an integral one is an integer. Those
-- Python's json writes otherwise (an exponent, or digits beyond 64 bits) are left to Python.
local function json_float(v)
  local i = tointeger(v)
  if i then return i end
  local a = v < 0 and -v or v
  if a >= 1e16 or (a < 1e-4 and a ~= 0) then odd_floats = true end
  return v
end

local function walk(t, depth)
  if rawequal(t, null) then
    buf[n + 1] = nil
    n = n + 2
    buf[n] = false
    return
  end
  if json_mode then
    local mt = getmetatable(t)
    if type(mt) == "string" and mt ~= ARRAY and mt ~= OBJECT then
      -- One of the kit's objects (Wippy's userdata: an error, a Time, a channel): Wippy's
      -- encoder writes an error as its message and any other as null.
      buf[n + 1] = nil
      n = n + 2
      local message = mt == "error" and rawget(t, "message_")
      buf[n] = type(message) == "string" and message or false
      return
    end
  end
  if depth > depth_limit then fail("deep", depth - 1) end
  local first = seen[t]
  if first then fail("cycle", depth - 1, first - 1) end
  if n > MAX_TAPE then fail("large", depth - 1) end
  seen[t] = depth
  buf[n + 1] = nil
  local head = n + 2
  n = n + 3
  -- Keys are checked in Python. The leading run of keys 1, 2, 3... (all of a plain array) is
  -- left off the tape: the comparison needs no function call, and a string never equals a number.
  local cnt, run, flat = 0, 0, 2
  for k, v in next, t do
    cnt = cnt + 1
    if k == cnt and run == cnt - 1 then
      run = cnt
    else
      n = n + 1
      buf[n] = k
    end
    local tv = type(v)
    if tv == "table" then
      flat = 0
      keys[depth] = k
      walk(v, depth + 1)
    -- x - x is nan for nan and the infinities, 0 otherwise
    elseif tv == "number" and v - v == 0 then
      if json_mode and mtype(v) == "float" then v = json_float(v) end
      n = n + 1
      buf[n] = v
    elseif tv == "string" or tv == "boolean" then
      n = n + 1
      buf[n] = v
    else
      flat = 0
      odd_value(v, tv, k, depth)
    end
  end
  seen[t] = nil
  buf[head + 1] = run
  if run == cnt and cnt > 0 then
    buf[head] = cnt * 4 + flat
  else
    local mt = getmetatable(t)
    if mt == ARRAY then
      buf[head] = cnt * 4 + flat + 1
    else
      buf[head] = cnt * 4 + flat
      if cnt == 0 and mt == OBJECT then buf[head + 1] = -1 end
    end
  end
end

local function release(...)
  -- Drop the tape's references so they do not outlive the conversion.
  for i = 1, n do buf[i] = nil end
  n = 0
  dirty = false
  return ...
end

-- Clearing a short tape costs about a tenth of a conversion; its stale references are
-- overwritten by the next one, so only long tapes are cleared at once.
local KEEP = 64

-- The tape (its first value is nil), or true, n when it is too long to return at once.
local function to_tape(t, json)
  if dirty then
    for k in next, seen do seen[k] = nil end
    buf, n = {}, 0
  end
  dirty = true
  fail_reason = nil
  json_mode = json == true
  depth_limit = json_mode and JSON_MAX_DEPTH or MAX_DEPTH
  odd_floats = false
  n = 0
  walk(t, 1)
  if n > CHUNK then return true, n end
  if n > KEEP then return release(unpack(buf, 1, n)) end
  dirty = false
  return unpack(buf, 1, n)
end

local function slice(i, j)
  return unpack(buf, i, j)
end

local function finish()
  release()
  buf = {}
end

-- After a failed walk: false, reason, detail, path keys... (nothing if the error was not ours).
local function failure()
  if fail_reason == nil then return end
  local reason = fail_reason
  fail_reason = nil
  return false, reason, fail_detail, unpack(keys, 1, fail_plen)
end

local function new_array(...)
  return setmetatable({ ... }, array_mt)
end

-- Appends after index m (not #t: an array decoded from JSON may have nil holes).
local function extend(t, m, ...)
  tmove({ ... }, 1, select("#", ...), m + 1, t)
end

local function had_odd_floats()
  return odd_floats
end

return array_mt, null, to_tape, slice, finish, failure, new_array, extend, object_mt,
  had_odd_floats
"""


class _Fail(Exception):
    """A conversion failure on its way up; ``keys`` holds the path, innermost key first."""

    def __init__(self, reason: str, *keys: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.keys = list(keys)

    def error(self, root: str) -> CodecError:
        return CodecError(format_path(root, self.keys[::-1]), self.reason)


def format_path(root: str, keys: tuple[Any, ...] | list[Any]) -> str:
    """``root`` followed by Lua-style accessors: ``payload.items[3].cb``, ``x["a b"]``.

    ``keys`` are dict keys (``str``, or ``bytes`` as they come from Lua) and 1-based indices.
    """
    parts = [root]
    for key in keys:
        if isinstance(key, bytes):
            try:
                key = key.decode()
            except UnicodeDecodeError:
                parts.append(f"[{_quote(key)}]")
                continue
        if isinstance(key, str):
            parts.append(f".{key}" if _IDENT.match(key) else f"[{_quote(key)}]")
        else:
            parts.append(f"[{_lua_repr(key)}]")
    return "".join(parts)


def _quote(key: str | bytes) -> str:
    if isinstance(key, str):
        return json.dumps(key, ensure_ascii=False)
    # Not UTF-8: show printable ASCII as is and every other byte as a Lua \xNN escape.
    return (
        '"'
        + "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\x{b:02x}" for b in key)
        + '"'
    )


def _lua_repr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | str):
        return _quote(value)
    return repr(value) if isinstance(value, float) else str(value)


def _kind_name(lua_type: str) -> str:
    return {"thread": "a coroutine", "userdata": "a userdata value"}.get(lua_type, f"a {lua_type}")


def _not_sendable(value: Any) -> str:
    # Python objects that went through Lua come back as themselves: for Lua they were userdata.
    return f"{_kind_name(lua54.lua_type(value) or 'userdata')} cannot be sent"


class Codec:
    """Converts values between one Lua state and the Python value domain (and JSON).

    Args:
        lua: the state's ``lupa.lua54.LuaRuntime`` (created with ``encoding=None``).

    Attributes:
        array_mt: metatable marking a Lua table as an array (``json.array()``), so that an empty
            one stays ``[]``. It is protected: ``getmetatable`` on an array gives ``"json.array"``.
        object_mt: metatable marking a table as an object (``json.object()``): an empty one is
            ``{}`` to :meth:`json_encode` (``getmetatable`` gives ``"json.object"``).
        null: the Lua sentinel for JSON null inside arrays (``json.null``); ``tostring`` gives
            ``"null"``, ``getmetatable`` gives ``"json.null"``.
    """

    def __init__(self, lua: Any) -> None:
        self.lua = lua
        (
            self.array_mt,
            self.null,
            self._to_tape,
            self._slice,
            self._finish,
            self._failure,
            self._new_array,
            self._extend,
            self.object_mt,
            self._had_odd_floats,
        ) = lua.execute(_LUA, MAX_DEPTH, MAX_TAPE, _CHUNK, JSON_MAX_DEPTH)
        self._table_type = type(self.null)
        self._table_from = lua.table_from

    # -- Lua -> Python -------------------------------------------------------------------------
    def to_python(self, value: Any, path: str = "value") -> Any:
        """Convert a Lua value to the Python domain.

        nil is ``None``; a string is ``str`` when it is valid UTF-8 and ``bytes`` otherwise; a
        table with keys exactly ``1..n`` (or marked with :attr:`array_mt`) is a list; a table with
        string keys is a dict; an empty unmarked table is ``{}``; :attr:`null` is ``None``, and
        so is a nil hole of a table marked with :attr:`array_mt` (what ``json.decode`` makes of
        a null in an array).

        Raises:
            CodecError: the value, or the part of it the error's path names, cannot be sent:
                functions, userdata, coroutines, cycles, non-string or mixed keys, sparse arrays,
                keys that are not UTF-8, NaN and infinities, nesting deeper than :data:`MAX_DEPTH`.
        """
        tp = type(value)
        if tp is bytes:
            try:
                return value.decode()
            except UnicodeDecodeError:
                return value
        if tp is self._table_type:
            return self._from_table(value, path, False)
        return _scalar_to_python(value, path, False)

    def _from_table(self, table: Any, path: str, strict: bool) -> Any:
        # strict: the json module's walk (to_tape's json mode).
        try:
            tape = self._to_tape(table, strict)
        except lua54.LuaError:
            failure = self._failure()
            if not failure:
                raise
            raise _lua_failure(path, failure, _JSON_DEEP if strict else _DEEP) from None
        if tape[0] is True:
            tape = self._read_slices(tape[1])
        try:
            return _parse(tape, 1, strict)[0]
        except _Fail as fail:
            raise fail.error(path) from None

    def _read_slices(self, size: int) -> tuple[Any, ...]:
        try:
            parts = [self._slice(i, min(i + _CHUNK - 1, size)) for i in range(1, size + 1, _CHUNK)]
        finally:
            self._finish()
        return tuple(item for part in parts for item in part)

    # -- Python -> Lua -------------------------------------------------------------------------
    def to_lua(self, value: Any, path: str = "value") -> Any:
        """Convert a Python domain value to a Lua value.

        ``None`` is nil (inside a list :attr:`null`; as a dict value the key is left out), ``str``
        is a Lua string of its UTF-8 bytes, ``bytes`` a Lua string as is, a list or tuple a table
        marked with :attr:`array_mt`, a dict a table.

        Raises:
            CodecError: a dict key that is not ``str``, an int outside signed 64-bit, NaN or an
                infinity, a str with lone surrogates, nesting deeper than :data:`MAX_DEPTH`, or a
                value of any other type.
        """
        try:
            return self._to_lua(value, 0, False)
        except _Fail as fail:
            raise fail.error(path) from None

    def _to_lua(self, value: Any, depth: int, from_json: bool) -> Any:
        # from_json: a value json.loads made for json_decode (Wippy's decoder: its depth limit,
        # and JSON null inside an array is nil, a hole, as in Wippy).
        tp = type(value)
        if tp is str:
            try:
                return value.encode()
            except UnicodeEncodeError:
                raise _Fail(_SURROGATE) from None
        if tp is int:
            if INT_MIN <= value <= INT_MAX:
                return value
            if from_json:  # JSON numbers have no integer limit; Lua's float is the nearest fit
                try:
                    return float(value)
                except OverflowError:
                    raise _Fail("not a finite number") from None
            raise _Fail("integer out of the signed 64-bit range")
        if tp is float:
            # inf - inf and nan - nan are nan, which is truthy; a finite x - x is 0.0.
            if value - value:
                raise _Fail("not a finite number")
            return value
        if tp is bytes or tp is bool or value is None:
            return value
        if depth >= (JSON_MAX_DEPTH if from_json else MAX_DEPTH) and isinstance(
            value, dict | list | tuple
        ):
            raise _Fail(_JSON_DEEP if from_json else _DEEP)
        if isinstance(value, dict):
            out: dict[bytes, Any] = {}
            key: Any = None
            try:
                for key, item in value.items():
                    if type(key) is not str:
                        break
                    tp = type(item)
                    if tp is str:
                        try:
                            item = item.encode()
                        except UnicodeEncodeError:
                            raise _Fail(_SURROGATE) from None
                    elif item is None:
                        continue  # nil: the key is absent on the Lua side
                    elif (
                        tp is not bytes
                        and tp is not bool
                        and (tp is not int or not INT_MIN <= item <= INT_MAX)
                    ):
                        item = self._to_lua(item, depth + 1, from_json)
                    out[key.encode()] = item
                else:
                    return self._table_from(out)
            except _Fail as fail:
                fail.keys.append(key)
                raise
            except UnicodeEncodeError:
                raise _Fail(f"dict key {key!r} is not valid Unicode") from None
            raise _Fail(f"dict key {key!r} is not a string")
        if isinstance(value, list | tuple):
            null = None if from_json else self.null
            items = list(value)
            index = 0
            try:
                for index, item in enumerate(items):
                    tp = type(item)
                    if tp is str:
                        try:
                            items[index] = item.encode()
                        except UnicodeEncodeError:
                            raise _Fail(_SURROGATE) from None
                    elif item is None:
                        items[index] = null
                    elif (
                        tp is not bytes
                        and tp is not bool
                        and (tp is not int or not INT_MIN <= item <= INT_MAX)
                    ):
                        items[index] = self._to_lua(item, depth + 1, from_json)
            except _Fail as fail:
                fail.keys.append(index + 1)
                raise
            if len(items) <= _CHUNK:
                return self._new_array(*items)
            table = self._new_array()
            for start in range(0, len(items), _CHUNK):
                self._extend(table, start, *items[start : start + _CHUNK])
            return table
        if isinstance(value, bytearray | memoryview):
            return bytes(value)
        raise _Fail(f"cannot convert {tp.__name__}")

    # -- the Lua json module -------------------------------------------------------------------
    def json_encode(self, value: Any, path: str = "value") -> bytes:
        """Encode a Lua value as compact RFC 8259 JSON text (UTF-8 bytes; object keys sorted),
        the way Wippy's encoder writes it.

        An empty table is ``[]`` (``{}`` when marked with :attr:`object_mt`); NaN, infinities,
        functions, coroutines and userdata are ``null``; an error value is its message; bytes
        that are not UTF-8 become U+FFFD; a float with an integral value is written as an integer
        and no number has an exponent (a top-level float below 1e-6 or from 1e21 has one, as Go
        writes it). Tables may nest :data:`JSON_MAX_DEPTH` deep.

        Raises:
            CodecError: cycles, mixed or non-string keys, sparse arrays, keys that are not UTF-8,
                nesting deeper than :data:`JSON_MAX_DEPTH`.
        """
        if type(value) is not self._table_type:
            py = _scalar_to_python(value, path, True)
            if type(py) is float:
                return go_float(py, top=True).encode()
            return json.dumps(py, ensure_ascii=False).encode()
        py = self._from_table(value, path, True)
        raw = False
        # The walk wrote integral floats as integers; the few others Go writes differently
        # from repr (an exponent, digits beyond 64 bits) are rewritten here.
        if self._had_odd_floats():
            py, raw = go_numbers(py)
        if raw:
            return dumps_go(py).encode()
        return json.dumps(
            py, ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=True
        ).encode()

    def json_decode(self, text: bytes | str) -> Any:
        """Decode JSON text to a Lua value.

        Objects are tables, arrays are tables marked with :attr:`array_mt`; ``null`` is nil (in
        an object the key is absent, in an array the index is a hole, as Wippy decodes it).
        Integers outside signed 64-bit become floats.

        Raises:
            CodecError: path ``json``: ``invalid JSON at line L column C: msg``; or a value Lua
                cannot hold (a number beyond the float range, nesting deeper than
                :data:`JSON_MAX_DEPTH`).
        """
        value = _parse_json(text, _JSON_DEEP)
        try:
            return self._to_lua(value, 0, True)
        except _Fail as fail:
            raise fail.error("json") from None


def _scalar_to_python(value: Any, path: str, strict: bool) -> Any:
    tp = type(value)
    if value is None or tp is bool or tp is int:
        return value
    # strict: the json module's encoder, which writes null where the codec refuses (see
    # json_encode).
    if tp is float:
        if value - value:  # nan or an infinity (see Codec._to_lua)
            if strict:
                return None
            raise CodecError(path, "not a finite number")
        return value
    if tp is bytes:
        try:
            return value.decode()
        except UnicodeDecodeError:
            if strict:
                return value.decode("utf-8", "replace")
            return value
    if strict:
        return None
    raise CodecError(path, _not_sendable(value))


def _lua_failure(path: str, failure: tuple[Any, ...], deep: str = _DEEP) -> CodecError:
    _, reason_bytes, detail, *keys = failure
    reason = reason_bytes.decode()
    if reason == "deep":
        message = deep
    elif reason == "cycle":
        message = f"cycle: table already seen at {format_path(path, keys[:detail])}"
    elif reason == "nan":
        message = "not a finite number"
    elif reason in ("function", "userdata", "thread"):
        message = f"{_kind_name(reason)} cannot be sent"
    elif reason == "large":
        message = f"value too large (more than {MAX_TAPE} parts)"
    else:
        message = reason
    return CodecError(format_path(path, keys), message)


def _parse(tape: tuple[Any, ...], i: int, strict: bool) -> tuple[Any, int]:
    """Rebuild the table whose header starts at ``tape[i]``; return it and the index after it.

    A header is ``False`` (:attr:`Codec.null`, or in json mode a value JSON has no form for),
    an error's message (json mode), or ``code, run`` with ``code = count * 4 + bits`` (2: no
    value is a table; 1: the table carries :attr:`Codec.array_mt`). ``run`` values with the keys
    ``1..run`` come first, then ``count - run`` key, value pairs; an empty table marked with
    :attr:`Codec.object_mt` has ``run`` -1.
    """
    code = tape[i]
    if code is False:
        return None, i + 1
    if type(code) is bytes:  # an error value, written as its message (json mode)
        return _text(code, strict), i + 1
    count = code >> 2
    run = tape[i + 1]
    i += 2
    if count == 0:
        if strict:  # the json module: [] as Wippy writes it, {} for json.object() (run -1)
            return ({} if run == -1 else []), i
        return ([] if code & 1 else {}), i
    if run == count:
        if code & 2:
            end = i + count
            try:
                return [v.decode() if type(v) is bytes else v for v in tape[i:end]], end
            except UnicodeDecodeError:
                pass  # a binary string: the loop below keeps it as bytes
        items: list[Any] = []
        append = items.append
        try:
            for _ in range(count):
                value = tape[i]
                if value is None:
                    value, i = _parse(tape, i + 1, strict)
                else:
                    i += 1
                    if type(value) is bytes:
                        value = _text(value, strict)
                append(value)
        except _Fail as fail:
            fail.keys.append(len(items) + 1)
            raise
        return items, i
    if run:
        return _parse_keyed(tape, i, count, run, strict, code & 1)
    start = i
    out: dict[str, Any] = {}
    key: Any = None
    all_strings = False
    try:
        for _ in range(count):
            key = tape[i]
            if type(key) is not bytes:
                break
            value = tape[i + 1]
            i += 2
            if type(value) is bytes:
                try:
                    value = value.decode()
                except UnicodeDecodeError:
                    if strict:
                        value = value.decode("utf-8", "replace")
            elif value is None:
                value, i = _parse(tape, i, strict)
            out[key.decode()] = value
        else:
            all_strings = True
    except _Fail as fail:
        fail.keys.append(key)
        raise
    except UnicodeDecodeError:
        raise _Fail(f"key {_quote(key)} is not valid UTF-8") from None
    if not all_strings:
        # Rebuilt from the start: the first key was not a string (no work is lost) or the table
        # mixes key kinds (an error).
        return _parse_keyed(tape, start, count, 0, strict, code & 1)
    if code & 1:
        raise _Fail(f"array (json.array) has string key {_quote(key)}")
    return out, i


def _parse_keyed(
    tape: tuple[Any, ...], i: int, count: int, run: int, strict: bool, marked: int = 0
) -> tuple[Any, int]:
    """A table with a key that is not a string: an array whose keys came out of order, a
    :attr:`Codec.array_mt` array with nil holes (``marked``; not in strict mode), or an error
    naming the offending key."""
    pairs: list[tuple[Any, Any]] = []
    key: Any = None
    try:
        for n in range(count):
            if n < run:
                key = n + 1
            else:
                key = tape[i]
                i += 1
            value = tape[i]
            if value is None:
                value, i = _parse(tape, i + 1, strict)
            else:
                i += 1
                if type(value) is bytes:
                    value = _text(value, strict)
            pairs.append((key, value))
    except _Fail as fail:
        fail.keys.append(key)
        raise
    has_string = False
    first_int = None
    for key, _ in pairs:
        tp = type(key)
        if tp is bytes:
            has_string = True
        elif tp is int:
            if first_int is None:
                first_int = key
        elif tp is bool:
            raise _Fail("table has a boolean key")
        elif tp is float:
            raise _Fail(f"table has non-integer number key {_lua_repr(key)}")
        else:
            raise _Fail(f"table has {_kind_name(lua54.lua_type(key) or 'userdata')} key")
    if has_string:
        raise _Fail(f"table has non-string key {first_int} alongside string keys")
    items: list[Any] = [None] * count
    filled = 0
    for key, value in pairs:
        if 1 <= key <= count:
            items[key - 1] = value
            filled += 1
    if filled != count:
        present = {key for key, _ in pairs}
        size = max(present)
        if marked and not strict and min(present) >= 1 and size - count <= _CHUNK:
            # An array json.decode made from one with nulls (nil holes, as in Wippy): each
            # hole is a null again. (The json module's encoder refuses it, as Wippy's does.)
            items = [None] * size
            for key, value in pairs:
                items[key - 1] = value
            return items, i
        missing = next(k for k in range(1, count + 1) if k not in present)
        raise _Fail(f"sparse array: key {missing} missing")
    return items, i


def _text(value: bytes, strict: bool) -> str | bytes:
    try:
        return value.decode()
    except UnicodeDecodeError:
        # strict (the json module): Go's encoder writes each invalid byte as U+FFFD.
        return value.decode("utf-8", "replace") if strict else value


class _Constant(Exception):
    pass


def _refuse_constant(name: str) -> Any:
    raise _Constant(name)


# A JSON string, or one of the non-standard constants Python's parser would accept.
_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def _parse_json(text: str | bytes | bytearray, deep: str = _DEEP) -> Any:
    if not isinstance(text, str):
        data = bytes(text)
        try:
            text = data.decode()
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            column = exc.start - data.rfind(b"\n", 0, exc.start)
            raise CodecError(
                "json", f"invalid JSON at line {line} column {column}: invalid UTF-8"
            ) from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise CodecError(
            "json", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except _Constant as exc:
        # The parser does not say where; the first constant outside a string is the one.
        pos = next(m.start(1) for m in _CONSTANT.finditer(text) if m.group(1))
        line = text.count("\n", 0, pos) + 1
        column = pos - text.rfind("\n", 0, pos)
        raise CodecError(
            "json", f"invalid JSON at line {line} column {column}: {exc} is not allowed"
        ) from None
    except RecursionError:
        raise CodecError("json", deep) from None


# -- JSON forms (persistence, messages) -------------------------------------------------------
def to_json_value(value: Any, path: str = "value") -> Any:
    """The JSON-able form of a Python domain value.

    ``bytes`` become ``{"$bytes": "<base64>"}``; a dict whose key set is exactly ``{"$bytes"}``
    or ``{"$map"}`` is wrapped as ``{"$map": {...}}``; tuples become lists; the rest is already
    JSON. :func:`from_json_value` is the exact inverse.

    Raises:
        CodecError: the value is outside the domain (the path names the part).
    """
    try:
        return _to_json(value, 0)
    except _Fail as fail:
        raise fail.error(path) from None


def _to_json(value: Any, depth: int) -> Any:
    tp = type(value)
    if tp is str or tp is bool or value is None:
        return value
    if tp is int:
        if INT_MIN <= value <= INT_MAX:
            return value
        raise _Fail("integer out of the signed 64-bit range")
    if tp is float:
        if value - value:  # nan or an infinity (see Codec._to_lua)
            raise _Fail("not a finite number")
        return value
    if tp is bytes:
        return {_BYTES: base64.b64encode(value).decode("ascii")}
    if depth >= MAX_DEPTH and isinstance(value, dict | list | tuple):
        raise _Fail(_DEEP)
    if isinstance(value, dict):
        out = {}
        key: Any = None
        try:
            for key, item in value.items():
                if type(key) is not str:
                    break
                tp = type(item)
                out[key] = item if tp is str or tp is bool else _to_json(item, depth + 1)
            else:
                if len(out) == 1 and (_BYTES in out or _MAP in out):
                    return {_MAP: out}
                return out
        except _Fail as fail:
            fail.keys.append(key)
            raise
        raise _Fail(f"dict key {key!r} is not a string")
    if isinstance(value, list | tuple):
        items = list(value)
        index = 0
        try:
            for index, item in enumerate(items):
                tp = type(item)
                if tp is not str and tp is not bool and item is not None:
                    items[index] = _to_json(item, depth + 1)
        except _Fail as fail:
            fail.keys.append(index + 1)
            raise
        return items
    if isinstance(value, bytearray | memoryview):
        return _to_json(bytes(value), depth)
    raise _Fail(f"cannot convert {tp.__name__}")


def from_json_value(value: Any, path: str = "value") -> Any:
    """Inverse of :func:`to_json_value`: decode ``$bytes`` and unwrap ``$map`` markers.

    Raises:
        CodecError: a malformed marker (``$bytes`` that is not base64 text, ``$map`` that is not
            an object).
    """
    try:
        return _from_json(value)
    except _Fail as fail:
        raise fail.error(path) from None


def _from_json(value: Any) -> Any:
    tp = type(value)
    if tp is dict:
        if len(value) == 1:
            if _BYTES in value:
                data = value[_BYTES]
                if type(data) is not str:
                    raise _Fail("$bytes must be a base64 string")
                try:
                    return base64.b64decode(data.encode("ascii"), validate=True)
                except (binascii.Error, UnicodeEncodeError):
                    raise _Fail("$bytes is not valid base64") from None
            if _MAP in value:
                value = value[_MAP]
                if type(value) is not dict:
                    raise _Fail("$map must be an object")
        out = {}
        key = None
        try:
            for key, item in value.items():
                tp = type(item)
                out[key] = _from_json(item) if tp is dict or tp is list else item
        except _Fail as fail:
            fail.keys.append(key)
            raise
        return out
    if tp is list:
        items = list(value)
        index = 0
        try:
            for index, item in enumerate(items):
                tp = type(item)
                if tp is dict or tp is list:
                    items[index] = _from_json(item)
        except _Fail as fail:
            fail.keys.append(index + 1)
            raise
        return items
    return value


def dumps(value: Any) -> str:
    """Compact JSON text of a Python domain value, in the :func:`to_json_value` form.

    Raises:
        CodecError: the value is outside the domain.
    """
    return json.dumps(
        to_json_value(value), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )


def loads(text: str | bytes) -> Any:
    """Inverse of :func:`dumps`.

    Raises:
        CodecError: path ``json``: the text is not valid JSON, or a marker is malformed.
    """
    return from_json_value(_parse_json(text), "json")
