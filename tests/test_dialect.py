"""Wippy's typed Lua: every form of ``en/lua/types.md`` compiles, means what its untyped twin
means, keeps its lines and columns, and top-level types are runtime values."""

from __future__ import annotations

import pytest
from lupa.lua54 import LuaError

from runtime.dialect import DialectError, translate
from runtime.errors import INVALID, UnitError
from runtime.testing import LocalCloud
from tests.conftest import functions_app
from tests.dialect_support import run

# (typed, untyped): each pair must give the same result.
FORMS = {
    "annotated locals": (
        "local n: number = 3.5 local i: integer = 4 local s: string = 'x' "
        "local b: boolean = true local a: any = {1} local u: unknown = 2 "
        "return {n, i, s, b, a[1], u}",
        "local n = 3.5 local i = 4 local s = 'x' local b = true local a = {1} local u = 2 "
        "return {n, i, s, b, a[1], u}",
    ),
    "optional and union": (
        "local x: number? = nil local y: number | string = 'a' local z: (number | string)? "
        "return {x == nil, y, z == nil}",
        "local x = nil local y = 'a' local z return {x == nil, y, z == nil}",
    ),
    "parameters and returns": (
        "local function add(a: number, b: number): number return a + b end\n"
        "local function div_mod(a: number, b: number): (number, number)\n"
        "  return a // b, a % b\nend\n"
        "local function pair(): number, string return 1, 'one' end\n"
        "local function none(): () end\n"
        "local q, r = div_mod(17, 5) local p1, p2 = pair()\n"
        "return {add(2, 3), q, r, p1, p2, none()}",
        "local function add(a, b) return a + b end\n"
        "local function div_mod(a, b)\n  return a // b, a % b\nend\n"
        "local function pair() return 1, 'one' end\n"
        "local function none() end\n"
        "local q, r = div_mod(17, 5) local p1, p2 = pair()\n"
        "return {add(2, 3), q, r, p1, p2, none()}",
    ),
    "error returns": (
        "local function fetch(ok: boolean): (string?, error?)\n"
        "  if ok then return 'data', nil end return nil, 'failed'\nend\n"
        "local a = fetch(true) local _, b = fetch(false) return {a, b}",
        "local function fetch(ok)\n"
        "  if ok then return 'data', nil end return nil, 'failed'\nend\n"
        "local a = fetch(true) local _, b = fetch(false) return {a, b}",
    ),
    "variadic": (
        "local function sum(...: number): number\n  local total: number = 0\n"
        "  for _, v in ipairs({...}) do total = total + v end\n  return total\nend\n"
        "return sum(1, 2, 3)",
        "local function sum(...)\n  local total = 0\n"
        "  for _, v in ipairs({...}) do total = total + v end\n  return total\nend\n"
        "return sum(1, 2, 3)",
    ),
    "function types": (
        "local double: (number) -> number = function(x: number): number return x * 2 end\n"
        "local pick: (a: number, string) -> (boolean, number) = function(a, s) return true, a end\n"
        "local cb: fun(x: number): string = function(x) return tostring(x) end\n"
        "local thunk: () -> () = function() end\n"
        "local wrapped: ((number) -> number) = double\n"
        "return {double(4), select(2, pick(7, 'x')), cb(1), thunk(), wrapped(1)}",
        "local double = function(x) return x * 2 end\n"
        "local pick = function(a, s) return true, a end\n"
        "local cb = function(x) return tostring(x) end\n"
        "local thunk = function() end\n"
        "local wrapped = double\n"
        "return {double(4), select(2, pick(7, 'x')), cb(1), thunk(), wrapped(1)}",
    ),
    "tables: arrays, maps, records": (
        "local arr: {number} = {1, 2} local arr2: string[] = {'a'} "
        "local map: {[string]: number} = {a = 1} "
        "local rec: {name: string, age?: number} = {name = 'x'} "
        "local ro: readonly {number} = {3} local e: {} = {} "
        "return {arr[2], arr2[1], map.a, rec.name, ro[1], next(e) == nil}",
        "local arr = {1, 2} local arr2 = {'a'} local map = {a = 1} local rec = {name = 'x'} "
        "local ro = {3} local e = {} "
        "return {arr[2], arr2[1], map.a, rec.name, ro[1], next(e) == nil}",
    ),
    "generics": (
        "local function identity<T>(x: T): T return x end\n"
        "local function first<K, V: {number}>(m: {[K]: V}, k: K): V? return m[k] end\n"
        "local m: Map<string, Array<number>> = {}\n"
        "return {identity(42), identity('s'), first({a = {1}}, 'a')[1]}",
        "local function identity(x) return x end\n"
        "local function first(m, k) return m[k] end\n"
        "local m = {}\n"
        "return {identity(42), identity('s'), first({a = {1}}, 'a')[1]}",
    ),
    "casts and assertions": (
        "local data: any = {id = 'u1', n = 2}\n"
        "local u = data :: {id: string}\nlocal v = data as {n: number}\n"
        "local w = (data!).id\nlocal z = ((data :: any) as any)!\n"
        "local arr = {data} local first = arr[1]!\n"
        "return {u.id, v.n, w, z.n, first.id, #tostring(2 :: integer)}",
        "local data = {id = 'u1', n = 2}\n"
        "local u = data\nlocal v = data\n"
        "local w = (data).id\nlocal z = ((data))\n"
        "local arr = {data} local first = arr[1]\n"
        "return {u.id, v.n, w, z.n, first.id, #tostring(2)}",
    ),
    "type-level operators": (
        "type S = typeof(sample) type K = keyof({a: number}) type C = number extends any ? string : boolean\n"
        "type I = {a: number}['a'] type G<T> = T[] type L = 'a' | 1 | true | nil\n"
        "local function is_num(x: any): asserts x is number end\n"
        "local function check(x: any): asserts x end\n"
        "return {is_num(1), check(1), 'ok'}",
        "\n\n\nlocal function is_num(x) end\n"
        "local function check(x) end\n"
        "return {is_num(1), check(1), 'ok'}",
    ),
    "validators": (
        "local x: number @min(0) @max(100) = 50\n"
        "local email: string @pattern(\"^.+@.+$\") = 'a@b.c'\n"
        "local scores: {number @min(0)} = {85}\n"
        "local id: number @min(1) | string @min_len(1) = 1\n"
        "return {x, email, scores[1], id}",
        "local x = 50\nlocal email = 'a@b.c'\nlocal scores = {85}\nlocal id = 1\n"
        "return {x, email, scores[1], id}",
    ),
    "interfaces and method names": (
        "interface Shape: Named\n  function area(scale: number): number\n  function name(): string\nend\n"
        "local M = {}\nfunction M:is(v) return v == 1 end\nfunction M.readonly() return 'r' end\n"
        "local t = {type = 'kind', as = 'x', is = 2, interface = 3}\n"
        "return {M:is(1), M.readonly(), t.type, t.as, t.is, t.interface}",
        "\n\n\n\n"
        "local M = {}\nfunction M:is(v) return v == 1 end\nfunction M.readonly() return 'r' end\n"
        "local t = {type = 'kind', as = 'x', is = 2, interface = 3}\n"
        "return {M:is(1), M.readonly(), t.type, t.as, t.is, t.interface}",
    ),
}


@pytest.mark.parametrize("name", sorted(FORMS))
def test_each_typed_form_means_what_its_untyped_twin_means(name: str) -> None:
    typed, plain = FORMS[name]
    assert run(typed) == run(plain)
    assert translate(typed).code.count("\n") == typed.count("\n")


def test_erasure_keeps_every_line_and_column() -> None:
    source = (
        "local function f(a: number, b: {string}): (number, string?)\n"
        "  local x: Map<string, number> = {}  -- keep\n"
        "  return a + #b, (x :: any).k\n"
        "end\n"
        "return f(1, {'q'})\n"
    )
    code = translate(source).code
    assert len(code) == len(source) and code.count("\n") == source.count("\n")
    for line_in, line_out in zip(source.splitlines(), code.splitlines(), strict=True):
        for word in ("local", "return", "end", "{}", "-- keep", "a + #b", ").k"):
            if word in line_in:
                assert line_out.index(word) == line_in.index(word)


def test_a_runtime_error_in_a_typed_file_names_the_users_line(make_app) -> None:
    source = (
        "type Order = {id: string, total: number?}\n"
        "local function handler(o: Order): number\n"
        "  local total: number = o.total :: number\n"
        "  return total + o.missing.field\n"
        "end\n"
        "return handler\n"
    )
    app = functions_app(make_app, {"f": (source, [])})
    with LocalCloud(app) as cloud, pytest.raises(UnitError) as err:
        cloud.call("app:f", {"id": "o1", "total": 3})
    assert "f.lua:4:" in err.value.message
    assert "attempt to index a nil value (field 'missing')" in err.value.message


def test_a_chunk_that_returns_its_function_is_the_entrys_handler(make_app) -> None:
    app = functions_app(
        make_app,
        {
            "double": (
                "local function double(n: number): number return n * 2 end\nreturn double",
                [],
            ),
            "table": ("return { handler = function(x) return x end }", []),
        },
    )
    with LocalCloud(app) as cloud:
        assert cloud.call("app:double", 21) == 42
        assert cloud.call("app:table", "t") == "t"


# -- runtime type values ------------------------------------------------------------------------

TYPES = """
type Point = {x: number, y: number}
type User = {
  name: string @min_len(1) @max_len(5),
  age: integer @min(0) @max(150),
  email?: string @pattern("^.+@.+\\\\..+$"),
  tags?: {string},
  meta?: {[string]: boolean},
}
type Status = "pending" | "active" | "done"
type Box<T> = {value: T}
type Named = {name: string}
type Person = Named & {age: number}
type Later = {next: Earlier?}
type Earlier = {n: integer}
interface Shape
  function area(): number
end
"""


def check(expr: str) -> object:
    return run(TYPES + f"return {expr}")


def test_a_declared_type_validates_and_returns_the_same_value() -> None:
    assert run(TYPES + "local p = {x = 1, y = 2} return Point(p) == p")
    assert check("{Point:is({x = 1, y = 2.5})}")[0] == {"x": 1, "y": 2.5}
    assert check("select(2, Point:is({x = 1}))") == "y: expected number, got nil"
    # As Wippy words it: what the value needed to be, in Lua's terms.
    assert check("select(2, Point:is(7))") == "expected table, got number"
    # Extra fields are allowed; the dot form takes the value alone.
    assert check("Point.is({x = 1, y = 2, z = 3}).z") == 3


def test_calling_a_type_with_a_bad_value_raises_at_the_callers_line() -> None:
    line = TYPES.count("\n") + 1
    with pytest.raises(LuaError, match=rf"test\.lua:{line}: expected Point, got table"):
        run(TYPES + "local p = Point({x = 'a'})\nreturn p")
    with pytest.raises(LuaError, match="validation expects 1 value, got 2"):
        run(TYPES + "return Point({}, {})")
    with pytest.raises(LuaError, match="expects at least 1 argument"):
        run(TYPES + "return Point()")


def test_validators_are_checked_with_a_message_naming_the_field() -> None:
    ok = "{name = 'ada', age = 36, email = 'a@b.io', tags = {'x'}, meta = {on = true}}"
    assert check(f"User:is({ok}) ~= nil") is True
    cases = {
        "{name = '', age = 1}": "name: length 0 is below the minimum length 1",
        "{name = 'toolong', age = 1}": "name: length 7 is above the maximum length 5",
        "{name = 'a', age = -1}": "age: value -1 is below the minimum 0",
        "{name = 'a', age = 151}": "age: value 151 is above the maximum 150",
        "{name = 'a', age = 1.5}": "age: expected integer, got number",
        "{name = 'a', age = 1, email = 'nope'}": 'email: value "nope" does not match the pattern',
        "{name = 'a', age = 1, tags = {'a', 2}}": "tags[2]: expected string, got number",
        "{name = 'a', age = 1, meta = {on = 'yes'}}": "meta.on: expected boolean, got string",
    }
    for value, message in cases.items():
        assert message in check(f"select(2, User:is({value}))"), value


def test_literal_unions_generics_intersections_and_forward_references() -> None:
    assert check("{Status:is('active') ~= nil, select(2, Status:is('gone'))}") == [
        True,
        'expected "pending" | "active" | "done", got string',
    ]
    assert (
        check("select(2, Box(Point):is({value = {x = 1}}))") == "value.y: expected number, got nil"
    )
    assert check("select(2, Box:is({value = 1}))") == "generic type Box needs type arguments"
    assert check("select(2, Person:is({name = 'x'}))") == "age: expected number, got nil"
    assert (
        check("select(2, Later:is({next = {n = 1.5}}))") == "next.n: expected integer, got number"
    )
    assert check("Shape:is({area = function() return 1 end}) ~= nil") is True
    assert check("select(2, Shape:is({area = 1}))") == "area: expected function, got number"


def test_types_reflect_their_kind_name_and_fields() -> None:
    assert check("{Point:kind(), Point:name(), Status:kind(), Box:kind(), tostring(Point)}") == [
        "record",
        "Point",
        "union",
        "generic",
        "Point",
    ]
    fields = check(
        "(function() local out = {} for n, t in User:fields() do out[#out+1] = n .. ':' .. t:kind() end return out end)()"
    )
    # An optional field keeps its own type (the field is what is optional).
    assert fields == ["name:string", "age:integer", "email:string", "tags:array", "meta:map"]
    assert check("Point.x:kind()") == "number"
    assert check(
        "(function() local out = {} for v in Status:variants() do out[#out+1] = tostring(v) end return out end)()"
    ) == [
        '"pending"',
        '"active"',
        '"done"',
    ]
    assert check(
        "{Point == Point, Box(Point) == Box(Point), integer <= number, integer < number, number <= integer}"
    ) == [
        True,
        True,
        True,
        True,
        False,
    ]


def test_primitive_casts_check_and_never_convert() -> None:
    assert run("return {string('x'), integer(5), number(2.5), boolean(false), any(nil)}") == [
        "x",
        5,
        2.5,
        False,
    ]
    assert run("return math.type(integer(5.0))") == "float"
    for expr, message in {
        "string(5)": "expected string, got number",
        "integer('5')": "expected integer, got string",
        "integer(5.5)": "expected integer, got number",
        "boolean(1)": "expected boolean, got number",
        "never(1)": "expected never, got number",
    }.items():
        with pytest.raises(LuaError, match=message):
            run(f"local v = {expr}\nreturn v")
    # The string library is untouched, and a local named `string` shadows the cast.
    assert run("return string.format('%d-%s', 3, string.upper('a'))") == "3-A"
    with pytest.raises(LuaError, match="attempt to call"):
        run("local string = {} return string(1)")


def test_typeof_a_top_level_annotated_local_is_that_locals_type() -> None:
    source = (
        "local sample: {name: string, n?: integer} = {name = 'a'}\n"
        "type Sample = typeof(sample)\ntype Other = typeof(unknown_thing)\n"
    )
    assert run(
        source
        + "return {select(2, Sample:is({name = 1})), Sample:is({name = 'b'}).name, Other:is(5)}"
    ) == [
        "name: expected string, got number",
        "b",
        5,
    ]


def test_only_top_level_declarations_are_runtime_values() -> None:
    code = translate(
        "local function f()\n  type Inner = {a: number}\n  return 1\nend\ntype Outer = number\n"
    ).code
    assert "Inner" not in code and 'define("Outer"' in code
    assert run(
        "local function f()\n  type Inner = {a: number}\n  return Inner\nend\nreturn f() == nil"
    )
    # A declaration names a global only where the name is free.
    assert run("Taken = 5\ntype Taken = number\nreturn Taken") == 5


# -- plain Lua stays plain ----------------------------------------------------------------------

PLAIN = [
    "local type = 1 local t = {type = 'x'} return type, t.type, t['type']",
    "local ok = type(1) == 'number' return ok",
    "local as, is, fun, interface, readonly = 1, 2, 3, 4, 5 return as + is",
    "local x = 1\nas = 2\nreturn x",
    "local x = f\nas(1)",
    "local x = f\nas {1}",
    "local x = type\nFoo = 1",
    "for i = 1, 3 do if i == 2 then goto continue end ::continue:: end",
    "local x <const> = 5 local y <close> = nil return x",
    "local s = 'a: number' .. \"b as T\" .. [[c :: D]] .. [==[ ! ? @ -> ]==] -- e: f as g\n--[[ h: i ]] return s",
    "local obj = {} function obj:m(a, b) return self, a end return obj:m(1, 2)",
    "local a = x and y or z; local b = {f = function(...) return ... end}",
    "return function() end",
    "local t = {} t.as = 1 t.is = 2 return t.as + t.is",
    "local n = 0x1p4 + 1e-3 + .5 + 3 // 2 + (1 << 3) + (~0 & 7) return n",
    "#!/usr/bin/env lua\nreturn 1",
]


@pytest.mark.parametrize("source", PLAIN)
def test_plain_lua_is_left_exactly_as_written(source: str) -> None:
    assert translate(source).code == source


# -- bad input ----------------------------------------------------------------------------------

BAD = {
    "local x: = 1": "test.lua:1: type expected near '='",
    "local function f(a: number,\n  b: ): number end": "test.lua:2: type expected near ')'",
    "type Point = {x: number": "test.lua:1: '}' or ',' expected in a record type near '<eof>'",
    "type Box<T = {v: T}": "test.lua:1: '>' expected (to close the type arguments) near '='",
    "local r = a != b": "test.lua:1: '!=' is not an operator (use '~=') near '!'",
    "local v = x as {": "test.lua:1: type expected near '<eof>'",
    "interface Shape\n  function area(): number\n": "test.lua:3: 'end' expected (to close interface Shape) near '<eof>'",
    "local f: (number -> number = nil": "test.lua:1: ')' or ',' expected in a function type near '->'",
}


@pytest.mark.parametrize("source", sorted(BAD))
def test_bad_type_syntax_is_an_error_at_its_line(source: str) -> None:
    with pytest.raises(DialectError) as err:
        translate(source, "test.lua")
    assert err.value.message == BAD[source]


def test_a_type_syntax_error_fails_the_entry_and_names_file_and_line(make_app) -> None:
    app = functions_app(
        make_app, {"f": ("local x: {number = 1\nreturn function() return x end", [])}
    )
    with LocalCloud(app) as cloud, pytest.raises(UnitError) as err:
        cloud.call("app:f")
    assert err.value.kind == INVALID
    assert err.value.message.startswith("syntax error: f.lua:1: ")
