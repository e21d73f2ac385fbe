"""YAML read and written as Wippy's ``yaml`` module does (Go's ``gopkg.in/yaml.v3``), with
PyYAML's safe machinery: no Python tags are ever constructed.

Reading follows yaml.v3's resolution of plain scalars into a generic value: ``true``/``false``
(any case form YAML 1.2 allows) are booleans and ``yes``/``no``/``on``/``off`` stay strings;
integers may be decimal, ``0x``, ``0o``, ``0b`` or leading-zero octal, with ``_`` separators;
floats follow YAML 1.2 (``1e3`` is a float), with ``.inf`` and ``.nan``; ``~``, ``null`` and
the empty scalar are null; timestamps stay strings (yaml.v3 decodes them so into ``any``).
Mapping keys that are not strings become their text. Aliases are expanded within a budget of
:data:`MAX_VALUES` values (a "billion laughs" document is refused, as yaml.v3 refuses
excessive aliasing).

Writing is yaml.v3's ``Marshal``: mapping keys in its natural order (digit runs compared as
numbers), 4-space indentation (2 when ordering options are given, as Wippy's encoder sets),
block sequences indented under their key, strings that would read back as another type in
double quotes, multi-line strings as literal blocks, floats in Go's shortest ``%g`` form
(``1e+06``, ``2`` for 2.0).
"""

from __future__ import annotations

import io
import math
import re
import unicodedata
from collections.abc import Sequence
from decimal import Decimal
from functools import cmp_to_key
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import BaseResolver

__all__ = ["MAX_VALUES", "YamlError", "dump", "go_key_less", "load"]

#: The most values one decoded document may expand to (aliases included).
MAX_VALUES = 1_000_000
_STR = "tag:yaml.org,2002:str"

_INT_RE = re.compile(r"^[-+]?(?:0b[0-1_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$")
_FLOAT_RE = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
_BOOL_RE = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_NULL_RE = re.compile(r"^(?:~|null|Null|NULL|)$")
# YAML 1.1 booleans yaml.v3 reads as strings but quotes when writing, for older readers.
_OLD_BOOLS = frozenset(
    "y Y yes Yes YES on On ON n N no No NO off Off OFF".split()  # noqa: SIM905
)
_BASE60_RE = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")


class YamlError(ValueError):
    """Text that is not YAML (the message names the line and column), or a document too
    large once its aliases are expanded."""


class _Resolver(BaseResolver):
    """yaml.v3's implicit types for plain scalars (see the module docstring)."""


_Resolver.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL_RE, list("tTfF"))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:int", _INT_RE, list("-+0123456789"))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_RE, list("-+0123456789."))
_Resolver.add_implicit_resolver("tag:yaml.org,2002:null", _NULL_RE, ["~", "n", "N", ""])
_Resolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^<<$"), ["<"])


def _parse_int(text: str) -> int | float | str:
    plain = text.replace("_", "")
    sign = -1 if plain.startswith("-") else 1
    body = plain.lstrip("+-")
    try:
        if body[:2] in ("0b", "0o", "0x"):
            value = int(body[2:], {"0b": 2, "0o": 8, "0x": 16}[body[:2]])
        elif len(body) > 1 and body[0] == "0":
            value = int(body, 8)
        else:
            value = int(body, 10)
    except ValueError:
        # yaml.v3 then tries a float ("08" is 8.0) and else keeps the text.
        return float(plain) if _FLOAT_RE.match(plain) else text
    value *= sign
    if not -(2**63) <= value < 2**64:
        return float(value)
    return value if value < 2**63 else float(value)  # beyond int64: Lua's nearest float


class _Constructor(SafeConstructor):
    def construct_go_int(self, node: yaml.ScalarNode) -> Any:
        return _parse_int(self.construct_scalar(node))

    def construct_go_float(self, node: yaml.ScalarNode) -> Any:
        text = self.construct_scalar(node).replace("_", "")
        lower = text.lower()
        if lower.endswith(".inf"):
            return -math.inf if lower.startswith("-") else math.inf
        if lower == ".nan":
            return math.nan
        return float(text)

    def construct_go_timestamp(self, node: yaml.ScalarNode) -> Any:
        # An explicit !!timestamp: yaml.v3 gives a generic value its text.
        return self.construct_scalar(node)


_Constructor.add_constructor("tag:yaml.org,2002:int", _Constructor.construct_go_int)
_Constructor.add_constructor("tag:yaml.org,2002:float", _Constructor.construct_go_float)
_Constructor.add_constructor("tag:yaml.org,2002:timestamp", _Constructor.construct_go_timestamp)

_Parser: Any = getattr(yaml, "CParser", None)


if _Parser is not None:

    class _Loader(_Parser, _Constructor, _Resolver):  # type: ignore[misc, valid-type]
        def __init__(self, stream: bytes) -> None:
            _Parser.__init__(self, stream)
            _Constructor.__init__(self)
            _Resolver.__init__(self)

else:  # pragma: no cover - PyYAML built without libyaml

    class _Loader(  # type: ignore[no-redef]
        yaml.reader.Reader,
        yaml.scanner.Scanner,
        yaml.parser.Parser,
        yaml.composer.Composer,
        _Constructor,
        _Resolver,
    ):
        def __init__(self, stream: bytes) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)


def _marked(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    if mark is None:
        return f"yaml: {problem}"
    return f"yaml: line {mark.line + 1}, column {mark.column + 1}: {problem}"


def load(text: bytes) -> Any:
    """The first document of ``text`` as plain Python values (dict, list, str, bytes for
    ``!!binary``, int, float, bool, None).

    Raises:
        YamlError: not YAML (the message has the line and column), or too large expanded.
    """
    loader = _Loader(text)
    try:
        document = loader.get_data() if loader.check_data() else None
    except yaml.MarkedYAMLError as exc:
        raise YamlError(_marked(exc)) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"yaml: {exc}") from None
    finally:
        loader.dispose()
    budget = [MAX_VALUES]
    return _plain(document, budget, 0)


def _plain(value: Any, budget: list[int], depth: int) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlError(f"yaml: document contains excessive aliasing (over {MAX_VALUES} values)")
    if depth > 200:
        raise YamlError("yaml: document nests too deep (a recursive alias?)")
    if isinstance(value, dict):
        return {_key_text(k): _plain(v, budget, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v, budget, depth + 1) for v in value]
    return value


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, float):
        return go_float(key)
    if isinstance(key, bytes):
        return key.decode("utf-8", "replace")
    return str(key)


# -- writing ---------------------------------------------------------------------------------
def go_float(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'g', -1, 64)``, in YAML's spelling of the specials."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    # repr's digits are the shortest that read back, as Go's are.
    _, digit_tuple, exponent = Decimal(repr(abs(value))).as_tuple()
    exp = len(digit_tuple) - 1 + int(exponent)  # the first digit's power of ten
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    sign = "-" if value < 0 else ""
    if exp < -4 or exp >= 6:  # Go's rule for the shortest %g
        rest = digits[1:]
        body = digits[0] + ("." + rest if rest else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    if len(digits) <= exp + 1:
        return sign + digits + "0" * (exp + 1 - len(digits))
    return f"{sign}{digits[: exp + 1]}.{digits[exp + 1 :]}"


def _is_letter(c: str) -> bool:
    return unicodedata.category(c).startswith("L")


def go_key_less(a: str, b: str) -> bool:
    """yaml.v3's order of two string keys: at the first difference two letters compare by code
    point, a letter and a non-letter put the non-letter first (unless a digit run precedes),
    other characters compare as digit runs by their number, then by length."""
    digits = False
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            digits = ca.isdigit()
            continue
        al, bl = _is_letter(ca), _is_letter(cb)
        if al and bl:
            return ca < cb
        if al or bl:
            return al if digits else bl
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdigit():
            an = an * 10 + int(a[ai])
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdigit():
            bn = bn * 10 + int(b[bi])
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def _go_sorted(keys: Sequence[str]) -> list[str]:
    return sorted(keys, key=cmp_to_key(lambda x, y: -1 if go_key_less(x, y) else 1))


def _ordered(keys: Sequence[str], field_order: Sequence[str], sort_unordered: bool) -> list[str]:
    # yaml.v3 sorts first; Wippy then moves the listed fields to the front (in the listed
    # order), and sorts the rest by byte order when asked, else keeps them as they were.
    keys = _go_sorted(keys)
    if not field_order and not sort_unordered:
        return keys
    rank = {name: i for i, name in enumerate(field_order)}
    listed = sorted((k for k in keys if k in rank), key=rank.__getitem__)
    rest = [k for k in keys if k not in rank]
    if sort_unordered:
        rest.sort(key=lambda k: k.encode())
    return listed + rest


class _Dumper(
    yaml.emitter.Emitter,
    yaml.serializer.Serializer,
    yaml.representer.SafeRepresenter,
    _Resolver,
):
    def __init__(self, stream: Any, indent: int) -> None:
        yaml.emitter.Emitter.__init__(self, stream, indent=indent, width=2**31, allow_unicode=True)
        yaml.serializer.Serializer.__init__(self)
        yaml.representer.SafeRepresenter.__init__(self, default_flow_style=False, sort_keys=False)
        _Resolver.__init__(self)

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # yaml.v3 indents a block sequence under its mapping key (PyYAML would not).
        super().increase_indent(flow, False)

    def represent_str(self, data: str) -> yaml.ScalarNode:
        style = None
        if "\n" in data:
            style = "|"
        elif (
            self.resolve(yaml.ScalarNode, data, (True, False)) != _STR
            or data in _OLD_BOOLS
            or _BASE60_RE.match(data)
        ):
            style = '"'
        return self.represent_scalar(_STR, data, style=style)

    def represent_go_float(self, data: float) -> yaml.ScalarNode:
        text = go_float(data)
        # Go writes 2.0 as "2", a plain scalar that reads back as an integer.
        return self.represent_scalar(self.resolve(yaml.ScalarNode, text, (True, False)), text)

    def represent_dict(self, data: dict[str, Any]) -> yaml.MappingNode:
        # The caller ordered the keys already.
        return self.represent_mapping("tag:yaml.org,2002:map", list(data.items()))


_Dumper.add_representer(str, _Dumper.represent_str)
_Dumper.add_representer(float, _Dumper.represent_go_float)
_Dumper.add_representer(dict, _Dumper.represent_dict)


def _prepare(value: Any, field_order: Sequence[str], sort_unordered: bool) -> Any:
    if isinstance(value, dict):
        return {
            k: _prepare(value[k], field_order, sort_unordered)
            for k in _ordered(list(value), field_order, sort_unordered)
        }
    if isinstance(value, list):
        return [_prepare(v, field_order, sort_unordered) for v in value]
    return value


def dump(
    value: Any, field_order: Sequence[str] = (), sort_unordered: bool = False, options: bool = False
) -> str:
    """``value`` (plain Python values) as yaml.v3 writes it; ``options``: the encoder Wippy
    uses when ordering options are given (2-space indentation)."""
    stream = io.StringIO()
    dumper = _Dumper(stream, indent=2 if options else 4)
    try:
        dumper.open()
        dumper.represent(_prepare(value, field_order, sort_unordered))
        dumper.close()
    finally:
        dumper.dispose()
    return stream.getvalue()
