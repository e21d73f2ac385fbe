"""``yaml``: Wippy's YAML module (``en/lua/data/yaml.md``).

``encode(table, options?) -> string, err`` writes what Wippy's encoder writes
(:func:`runtime.goyaml.dump`): keys in yaml.v3's natural order, or with ``options`` the
``field_order`` fields first (in that order) and, with ``sort_unordered``, the others
alphabetically. ``decode(text) -> value, err`` reads the first document with safe loading only
(:func:`runtime.goyaml.load`): a table, an array, a string, a number (integers stay integers)
or a boolean; nil for an empty document.

Errors are non-retryable. INVALID: ``table expected`` (encode of a non-table), ``string
expected`` and ``input cannot be empty`` (decode). INTERNAL: ``encode failed: ...`` for a table
that cannot be written (a function in it, mixed keys), ``decode failed: yaml: line L, column C:
...`` for text that is not YAML, ``convert to Lua failed: ...`` for a value Lua cannot hold.
Deterministic, so workflow code may call both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runtime import goyaml
from runtime.errors import INTERNAL, INVALID, CodecError
from runtime.sandbox import lua_type

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state, codec = engine.state, engine.codec

    def error(kind: str, message: str) -> tuple[None, Any]:
        return None, state.new_error(kind, message, retryable=False)

    def read_options(options: Any) -> tuple[list[str], bool, bool]:
        # As Wippy reads them: a non-table is no options; only string items of field_order
        # count; sort_unordered only when it is a boolean.
        if lua_type(options) != "table":
            return [], False, False
        order: list[str] = []
        field_order = state.get(options, b"field_order")
        if lua_type(field_order) == "table":
            i = 1
            while (item := state.get(field_order, i)) is not None:
                if isinstance(item, bytes):
                    order.append(item.decode("utf-8", "replace"))
                i += 1
        sort_flag = state.get(options, b"sort_unordered")
        sort_unordered = sort_flag if isinstance(sort_flag, bool) else False
        return order, sort_unordered, bool(order) or sort_unordered

    def encode(value: Any = None, options: Any = None, *_: Any) -> Any:
        if lua_type(value) != "table":
            return error(INVALID, "table expected")
        try:
            data = codec.to_python(value, "data")
        except CodecError as exc:
            return error(INTERNAL, f"encode failed: {exc.message}")
        order, sort_unordered, ordered = read_options(options)
        return goyaml.dump(data, order, sort_unordered, options=ordered).encode(), None

    def decode(text: Any = None, *_: Any) -> Any:
        if not isinstance(text, bytes):
            return error(INVALID, "string expected")
        if not text:
            return error(INVALID, "input cannot be empty")
        try:
            data = goyaml.load(text)
        except goyaml.YamlError as exc:
            return error(INTERNAL, f"decode failed: {exc}")
        try:
            return codec.to_lua(data, "value"), None
        except CodecError as exc:
            return error(INTERNAL, f"convert to Lua failed: {exc.message}")

    return state.table(encode=state.wrap(encode), decode=state.wrap(decode))
