"""Lua code that builds the runtime type value of a top-level ``type`` / ``interface``
declaration, from its parsed tree.

The code calls the constructors of ``__wippy_types`` (the per-entry type table built by the
prelude, ``kit.new_types``); names are resolved when a value is checked, not when the type is
built, so declarations may refer to each other in any order. It is written on one line, where
the declaration began; the translator pads it with the line breaks the declaration spanned.
"""

from __future__ import annotations

from runtime.dialect._types import (
    Annotation,
    Array,
    Function,
    Intersection,
    Literal,
    Map,
    Named,
    Opaque,
    Optional,
    Record,
    TypeNode,
    Union,
)

#: The hidden global of an entry's environment that holds its types.
TYPES_GLOBAL = "__wippy_types"


def emit_declaration(name: str, params: list[str], node: TypeNode) -> str:
    """``__wippy_types.define("Name", {"T"}, <type>)``: defines the type once the statement
    runs (and the global ``Name`` if it is unset, as Wippy's loader does)."""
    tparams = "{" + ", ".join(_string(p) for p in params) + "}" if params else "nil"
    return f"{TYPES_GLOBAL}.define({_string(name)}, {tparams}, {emit(node)})"


def emit(node: TypeNode) -> str:
    """The Lua expression that builds ``node``."""
    code = _emit_bare(node)
    if node.annotations:
        code = f"{TYPES_GLOBAL}.annotate({code}, {_annotations(node.annotations)})"
    return code


def _emit_bare(node: TypeNode) -> str:
    T = TYPES_GLOBAL
    if isinstance(node, Named):
        path = _string(".".join(node.path))
        if node.args:
            return f"{T}.ref({path}, {{{', '.join(emit(a) for a in node.args)}}})"
        return f"{T}.ref({path})"
    if isinstance(node, Literal):
        return f"{T}.literal({node.source})"
    if isinstance(node, Optional):
        return f"{T}.optional({emit(node.inner)})"
    if isinstance(node, Union):
        return f"{T}.union({{{', '.join(emit(m) for m in node.members)}}})"
    if isinstance(node, Intersection):
        return f"{T}.intersection({{{', '.join(emit(m) for m in node.members)}}})"
    if isinstance(node, Array):
        return f"{T}.array({emit(node.element)})"
    if isinstance(node, Map):
        return f"{T}.map({emit(node.key)}, {emit(node.value)})"
    if isinstance(node, Record):
        fields = ", ".join(
            "{"
            + f"{_string(f.name)}, {emit(f.type)}, {'true' if f.optional else 'false'}"
            + (f", {_annotations(f.annotations)}" if f.annotations else "")
            + "}"
            for f in node.fields
        )
        return f"{T}.record({{{fields}}})"
    if isinstance(node, Function):
        params = ", ".join(emit(ptype) for _, ptype in node.params)
        if node.returns is None:
            return f"{T}.func({{{params}}}, nil)"
        return f"{T}.func({{{params}}}, {{{', '.join(emit(r) for r in node.returns)}}})"
    if isinstance(node, Opaque):
        return f"{T}.ref({_string('any')})"
    raise TypeError(f"no runtime form for {type(node).__name__}")  # pragma: no cover


def _annotations(annotations: list[Annotation]) -> str:
    items = []
    for a in annotations:
        args = f", {a.args}" if a.args else ""
        items.append(f"{{{_string(a.name)}{args}}}")
    return "{" + ", ".join(items) + "}"


def _string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
