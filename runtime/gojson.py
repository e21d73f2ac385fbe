"""Numbers in JSON text as Wippy's encoder (Go) writes them, for ``json.encode``.

Python's ``json`` writes a float as ``repr`` does (``3.0``, ``1e-05``); Wippy's encoder writes
an integral float as an integer (``3``) and every other float without an exponent
(``0.00001``), except a float at the top level, which Go's ``json.Marshal`` writes with an
exponent below 1e-6 and from 1e21 (``1e-7``, ``1e+21``). :func:`go_numbers` rewrites the floats
of a value before ``json.dumps``; the few that need text ``json.dumps`` cannot produce go
through :func:`dumps_go`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

__all__ = ["dumps_go", "go_float", "go_numbers"]

# Integral floats from here on are beyond int64; Go writes their shortest digits, zero-padded.
_INT64_LIMIT = 2**63
# The string encoder json.dumps(ensure_ascii=False) uses (non-ASCII text is written as is).
_encode_string = json.encoder.encode_basestring  # type: ignore[attr-defined]


class Raw(str):
    """Number text that :func:`dumps_go` writes as it is."""


def go_float(value: float, top: bool = False) -> str:
    """The JSON text of a finite float, as Wippy's encoder writes it inside a table (shortest
    digits, no exponent: Go's ``'f'`` format) or, with ``top``, as the whole value."""
    text = repr(value)
    if top and value and not 1e-6 <= abs(value) < 1e21:
        # repr and Go agree on the shortest digits and the exponent's sign; Go writes one
        # digit where repr pads a negative exponent to two (1e-07 -> 1e-7).
        mantissa, _, exponent = text.partition("e")
        if exponent.startswith("-0"):
            exponent = "-" + exponent[2:]
        return f"{mantissa}e{exponent}"
    if "e" in text:
        text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def go_numbers(value: Any) -> tuple[Any, bool]:
    """``value`` (lists, dicts, scalars) with each float as Wippy's encoder writes it inside a
    table: an integral one as an ``int``, one whose ``repr`` has an exponent as :class:`Raw`
    text, the others unchanged (their ``repr`` is already Go's). Also whether a :class:`Raw`
    is in it (then only :func:`dumps_go` writes it right). Lists and dicts are changed in
    place."""
    raw = False

    def convert(item: float) -> Any:
        nonlocal raw
        if item.is_integer():
            return int(item) if abs(item) < _INT64_LIMIT else int(Decimal(repr(item)))
        if "e" in repr(item):
            raw = True
            return Raw(go_float(item))
        return item

    if type(value) is float:
        return convert(value), raw
    pending = [value] if type(value) in (list, dict) else []
    while pending:
        container = pending.pop()
        pairs = container.items() if type(container) is dict else enumerate(container)
        for key, item in pairs:
            tp = type(item)
            if tp is float:
                container[key] = convert(item)
            elif tp is list or tp is dict:
                pending.append(item)
    return value, raw


def dumps_go(value: Any) -> str:
    """Compact JSON text with sorted keys, as ``json.dumps(value, ensure_ascii=False,
    separators=(",", ":"), sort_keys=True)`` writes it, with :class:`Raw` text as it is."""
    tp = type(value)
    if tp is str:
        return _encode_string(value)
    if tp is Raw:
        return str.__str__(value)
    if value is None:
        return "null"
    if tp is bool:
        return "true" if value else "false"
    if tp is int or tp is float:
        return repr(value)
    if tp is list:
        return "[" + ",".join(map(dumps_go, value)) + "]"
    return (
        "{" + ",".join(f"{_encode_string(k)}:{dumps_go(v)}" for k, v in sorted(value.items())) + "}"
    )
