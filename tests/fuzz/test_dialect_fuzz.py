"""The dialect never changes what a program means.

Random plain Lua programs (with the words the type syntax reads by position, such as ``type``,
``as`` and ``is``, used as names; labels; attributes; method calls; strings and comments that
look like types) come out of :func:`runtime.dialect.translate` byte for byte as they went in,
so they compile to the same code. The same programs with random type annotations, casts,
assertions, generics and declarations added translate to code that returns the same result
as the plain program, on the same number of lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given
from hypothesis import strategies as st

from runtime.dialect import translate
from tests.dialect_support import run
from tests.fuzz.conftest import fuzz

NAMES = ["a", "b", "value", "type", "as", "is", "fun", "interface", "readonly", "export"]

# -- random types ---------------------------------------------------------------------------------

PRIMITIVES = st.sampled_from(["number", "integer", "string", "boolean", "any", "nil", "table"])


def types() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            inner.map(lambda t: f"{t}?"),
            st.tuples(inner, inner).map(lambda p: f"{p[0]} | {p[1]}"),
            st.tuples(inner, inner).map(lambda p: f"{p[0]} & {p[1]}"),
            inner.map(lambda t: f"{{{t}}}"),
            PRIMITIVES.map(lambda t: f"{t}[]"),  # `T[]` follows a primary type only
            st.tuples(inner, inner).map(lambda p: f"{{[{p[0]}]: {p[1]}}}"),
            st.tuples(inner, inner).map(lambda p: f"{{x: {p[0]}, y?: {p[1]}, type: number}}"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]}, v: {p[1]}) -> {p[0]}"),
            st.tuples(inner, inner).map(lambda p: f"fun(a: {p[0]}): ({p[1]}, string)"),
            st.tuples(inner, inner).map(lambda p: f"Map<{p[0]}, Array<{p[1]}>>"),
            inner.map(lambda t: f"readonly {{{t}}}"),
            inner.map(lambda t: f"keyof({t})"),
            PRIMITIVES.map(lambda t: f"{t} @min(0) @max_len(3)"),
            st.tuples(inner, inner).map(lambda p: f"{p[0]} extends string ? {p[1]} : number"),
        )

    leaves = st.one_of(
        PRIMITIVES,
        st.sampled_from(['"lit"', "42", "true", "Point", "mod.T", "typeof(a)", "() -> ()"]),
    )
    return st.recursive(leaves, extend, max_leaves=3)


# -- random programs, plain and typed at once --------------------------------------------------


@dataclass
class Program:
    plain: list[str] = field(default_factory=list)
    typed: list[str] = field(default_factory=list)

    def line(self, plain: str, typed: str | None = None) -> None:
        self.plain.append(plain)
        self.typed.append(plain if typed is None else typed)


@st.composite
def programs(draw: st.DrawFn) -> Program:
    prog = Program()
    declared: list[str] = []
    prog.line("local out = {}")
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.integers(0, 9))
        if kind == 0 or not declared:
            name = draw(st.sampled_from(NAMES))
            value = draw(st.integers(-5, 50))
            annotation = draw(st.one_of(st.none(), types()))
            typed = f"local {name}: {annotation} = {value}" if annotation else None
            prog.line(f"local {name} = {value}", typed)
            declared.append(name)
        elif kind == 1:
            name = draw(st.sampled_from(declared))
            cast = draw(types())
            form = draw(st.sampled_from(["({0} :: {1})", "({0} as {1})", "{0}!"]))
            prog.line(
                f"out[#out + 1] = {name} + 1",
                f"out[#out + 1] = {form.format(name, cast)} + 1",
            )
        elif kind == 2:
            fname = draw(st.sampled_from(["f", "g", "fn"]))
            p1, p2, ret = draw(types()), draw(types()), draw(types())
            generic = draw(st.sampled_from(["", "<T>", "<K, V: {number}>"]))
            prog.line(
                f"local function {fname}(x, ...) return x * 2, select('#', ...) end",
                f"local function {fname}{generic}(x: {p1}, ...: {p2}): {ret}, number "
                f"return x * 2, select('#', ...) end",
            )
            prog.line(f"out[#out + 1] = {fname}(3, 1, 2)")
        elif kind == 3:
            decl = draw(types())
            prog.line("", f"type Alias{len(prog.plain)} = {decl}")
        elif kind == 4:
            prog.line("local t = {type = 'k', as = 2, is = 3, [1] = 'one'}")
            prog.line("out[#out + 1] = t.type .. t.as .. t.is .. t[1]")
        elif kind == 5:
            prog.line(
                "for i = 1, 3 do if i == 2 then goto continue end out[#out + 1] = i ::continue:: end"
            )
        elif kind == 6:
            prog.line("local obj = {v = 5} function obj:get(k) return self.v + k end")
            prog.line(
                "out[#out + 1] = obj:get(1)",
                f"out[#out + 1] = (obj :: {draw(types())}):get(1)",
            )
        elif kind == 7:
            text = draw(
                st.sampled_from(["a: number", "x as T", "::lbl::", "! ? @ ->", "type X = Y"])
            )
            prog.line(f"out[#out + 1] = '{text}' .. [[{text}]] -- {text}")
        elif kind == 8:
            prog.line("local k <const> = 7 out[#out + 1] = k + #tostring(k)")
        else:
            name = draw(st.sampled_from(declared))
            prog.line(
                f"local h = function(n) return n + {name} end out[#out + 1] = h(1)",
                f"local h = function(n: number): number return n + {name} end out[#out + 1] = h(1)",
            )
    prog.line("return out")
    return prog


@fuzz(ci_examples=80)
@given(programs())
def test_plain_programs_translate_to_themselves(program: Program) -> None:
    source = "\n".join(program.plain)
    assert translate(source).code == source
    run(source)  # the generator writes valid Lua


@fuzz(ci_examples=80)
@given(programs())
def test_typed_programs_mean_what_their_plain_twins_mean(program: Program) -> None:
    plain, typed = "\n".join(program.plain), "\n".join(program.typed)
    code = translate(typed).code
    assert code.count("\n") == typed.count("\n")
    assert run(code) == run(plain)
