"""The sandbox's Lua pattern matcher (runtime/lua/patterns.lua) against Lua's own C one.

The sandbox hands patterns whose backtracking could run for hours to the Lua copy (under the
instruction budget); it must give the same answers as string.find/match/gmatch/gsub.
"""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from lupa import lua54

from runtime.sandbox import _PATTERNS
from tests.fuzz.conftest import fuzz

# A small alphabet makes matches likely; the pattern pieces cover every construct.
SUBJECT = st.text(alphabet="ab(). %-1", max_size=12).map(lambda s: s.encode())
PIECES = st.sampled_from(
    [
        "a",
        "b",
        ".",
        "%a",
        "%d",
        "%s",
        "%S",
        "%%",
        "%.",
        "[ab]",
        "[^a]",
        "[a-c]",
        "[%a.]",
        "[]]",
        "*",
        "+",
        "-",
        "?",
        "(",
        ")",
        "()",
        "%1",
        "%2",
        "%b()",
        "%f[%a]",
        "^",
        "$",
        "%",
        "[",
        "[^",
        "x",
    ]
)
PATTERN = st.lists(PIECES, max_size=6).map(lambda parts: "".join(parts).encode())

_LUA = lua54.LuaRuntime(unpack_returned_tuples=True, encoding=None)
_COMPARE = _LUA.execute(
    """
    local M = ...
    local function pack(ok, ...) return { ok = ok, n = select("#", ...), ... } end
    local function same(a, b)
      if a.ok ~= b.ok then return false end
      if not a.ok then return true end  -- both raised: messages may word it differently
      if a.n ~= b.n then return false end
      for i = 1, a.n do if a[i] ~= b[i] then return false end end
      return true
    end
    local function show(r)
      local out = { tostring(r.ok) }
      for i = 1, r.n or 0 do out[#out + 1] = tostring(r[i]) end
      return table.concat(out, ", ")
    end
    local function all_gmatch(gm, s, p, init)
      local out = {}
      local ok, err = pcall(function()
        for a, b in gm(s, p, init) do out[#out + 1] = tostring(a) .. "|" .. tostring(b) end
      end)
      if not ok then return pack(false, err) end
      return pack(true, table.concat(out, ";"))
    end
    return function(fname, s, p, init, repl)
      local c, l
      if fname == "gmatch" then
        c, l = all_gmatch(string.gmatch, s, p, init), all_gmatch(M.gmatch, s, p, init)
      elseif fname == "gsub" then
        local r = repl
        if repl == "fn" then r = function(x, y) return y and (x .. "<" .. tostring(y)) or nil end
        elseif repl == "tbl" then r = { a = "A", [""] = "E" } end
        c, l = pack(pcall(string.gsub, s, p, r, init)), pack(pcall(M.gsub, s, p, r, init))
      else
        c, l = pack(pcall(string[fname], s, p, init)), pack(pcall(M[fname], s, p, init))
      end
      if same(c, l) then return true, "" end
      return false, show(c) .. "  vs lua: " .. show(l)
    end
    """,
    _LUA.execute(_PATTERNS),
)


@pytest.mark.parametrize("fname", ["find", "match", "gmatch"])
@fuzz(200)
@given(s=SUBJECT, p=PATTERN, init=st.sampled_from([None, 1, 2, -1, -3, 0, 20]))
@example(s=b"xaab", p=b"()a*", init=None)
@example(s=b"a", p=b"(a)%1", init=None)
@example(s=b"ab", p=b"", init=3)
def test_matcher_agrees_with_c(fname, s, p, init):
    ok, why = _COMPARE(fname, s, p, init, None)
    assert ok, why


@fuzz(200)
@given(
    s=SUBJECT,
    p=PATTERN,
    repl=st.sampled_from([b"<%0>", b"%1", b"%%", b"%2x", b"%", b"", "fn", "tbl", 7]),
    n=st.sampled_from([None, 0, 1, 2]),
)
def test_gsub_agrees_with_c(s, p, repl, n):
    ok, why = _COMPARE("gsub", s, p, n, repl)
    assert ok, why


def test_the_sandbox_routes_large_matches_to_the_lua_matcher_with_the_same_results(make_app):
    """Subjects past the cheap size take the Lua matcher (or are charged): same answers."""
    from runtime import manifest
    from runtime.engine import Engine
    from tests.conftest import functions_app

    source = """
    return { handler = function(n)
      local s = string.rep("ab  cd,", n) .. "end"
      local words = {}
      for w in s:gmatch("%a+") do words[#words + 1] = w end
      local squeezed, count = s:gsub("%s+", " ")
      local a, b, cap = s:find("(c+)d,e")
      return { #words, #squeezed, count, a, b, cap, s:match("^(%a+)%s+"), s:match("(%a+)$") }
    end }
    """
    app = functions_app(make_app, {"m": (source, [])})
    engine = Engine(manifest.load_app(app), log_sink=lambda *a: None)
    try:
        small, large = engine.call("app:m", [3]), engine.call("app:m", [3000])
    finally:
        engine.close()
    # The same code on plain Lua, where every match is the C matcher's.
    plain = lua54.LuaRuntime(unpack_returned_tuples=True, encoding=None)
    handler = plain.execute(textwrap.dedent(source))[b"handler"]
    for n, got in ((3, small), (3000, large)):
        want = list(handler(n).values())
        assert got == [w.decode() if isinstance(w, bytes) else w for w in want]
