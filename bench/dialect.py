"""What typed Lua costs to compile: the kit's compile of a typed file against the same file
untyped, side by side, and the translation itself against Lua's own ``load``.

The typed file is ``bench/app/typed.lua`` (every form of Wippy's type syntax, in code shaped like
an application's); its untyped twin is what the translator makes of it, so both hold the same
code. Every compile here bypasses the translation cache (a warm engine never translates twice,
and a Lambda bundle carries its translations precomputed: see runtime/dialect).

python -m bench.dialect
"""

from __future__ import annotations

from pathlib import Path

from bench.timing import Figure, print_figures, side_by_side
from runtime.dialect import _translate as translator
from runtime.sandbox import LuaState

TYPED = (Path(__file__).resolve().parent / "app" / "typed.lua").read_text(encoding="utf-8")


def run() -> list[Figure]:
    untyped = translator.translate(TYPED, "typed.lua").code
    state = LuaState()
    load = state.lua.eval("function(s) return load(s, '=bench', 't') end")
    untyped_bytes = untyped.encode()

    def kit_compile(source: str) -> object:
        return load(translator.translate(source, "bench.lua").code.encode())

    best = side_by_side(
        {
            "typed": lambda: kit_compile(TYPED),
            "untyped": lambda: kit_compile(untyped),
            "translate": lambda: translator.translate(TYPED, "bench.lua"),
            "load_typed_erased": lambda: load(untyped_bytes),
        },
        calls=20,
    )
    lines = TYPED.count("\n")
    return [
        Figure(
            "compile of a typed file / the same file untyped (both through the dialect)",
            best["typed"] / best["untyped"],
            "x",
            f"{best['typed']:.0f} vs {best['untyped']:.0f} µs for {lines} lines; goal 1.2x",
        ),
        Figure(
            "translation alone / Lua's load of the translated text",
            best["translate"] / best["load_typed_erased"],
            "x",
            f"{best['translate']:.0f} vs {best['load_typed_erased']:.0f} µs; paid once per "
            "source per process, never on Lambda (the bundle carries the translations)",
        ),
        Figure(
            "translation per 1,000 lines",
            best["translate"] / lines * 1000 / 1000,
            "ms",
        ),
    ]


if __name__ == "__main__":
    print_figures(run())
