"""JSON Schema validation for ``json.validate`` / ``json.validate_string``.

Wippy validates with a JSON Schema 2020-12 implementation, ``format`` an annotation (not
asserted), every schema whatever its ``$schema`` read as 2020-12. This uses the ``jsonschema``
package's 2020-12 validator the same way (``fastjsonschema`` knows drafts 4 to 7 only: no
``prefixItems``, ``$defs`` semantics, ``dependentRequired``, ``unevaluatedProperties``, and it
compiles each schema into Python source run with ``exec``, which a sandbox that keeps Python out
of reach of Lua should not do with schemas Lua hands it). ``$ref`` resolves inside the schema
only: nothing is fetched.

Compiled validators are cached by the SHA-256 of the schema's JSON text (the last 100 used,
as Wippy keeps them), shared by every engine of the process: a validator is read-only.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from typing import Any

from runtime.errors import INVALID, UnitError

__all__ = ["CACHE_SIZE", "SchemaError", "compile_schema", "parse_json_text", "violations"]

CACHE_SIZE = 100
#: At most this many violations are named in one error message.
MAX_REPORTED = 10

_cache: OrderedDict[str, Any] = OrderedDict()
_lock = threading.Lock()


class SchemaError(UnitError):
    """A schema that does not compile (kind INVALID)."""

    def __init__(self, message: str) -> None:
        super().__init__(INVALID, message, retryable=False)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def parse_json_text(text: bytes | str) -> Any:
    """Strict JSON text (no NaN / Infinity) as Python values.

    Raises:
        ValueError: the text is not JSON (the message says where).
    """
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except UnicodeDecodeError:
        raise ValueError("invalid JSON: not UTF-8 text") from None
    except RecursionError:
        raise ValueError("invalid JSON: nested too deep") from None


def compile_schema(text: bytes) -> Any:
    """The validator of the schema whose JSON text is ``text``, compiled once per content.

    Raises:
        SchemaError: the text is not JSON, or not a valid 2020-12 schema.
    """
    key = hashlib.sha256(text).hexdigest()
    with _lock:
        validator = _cache.get(key)
        if validator is not None:
            _cache.move_to_end(key)
            return validator
    validator = _compile(text)
    with _lock:
        _cache[key] = validator
        _cache.move_to_end(key)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return validator


def _compile(text: bytes) -> Any:
    # Imported on first use: most Lambdas never validate, and the import is not free.
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError as JsonSchemaError

    try:
        schema = parse_json_text(text)
    except ValueError as exc:
        raise SchemaError(f"compile schema: {exc}") from None
    if not isinstance(schema, dict | bool):
        raise SchemaError("compile schema: a schema is a JSON object or a boolean")
    try:
        Draft202012Validator.check_schema(schema)
    except JsonSchemaError as exc:
        raise SchemaError(f"compile schema: {exc.json_path}: {exc.message}") from None
    return Draft202012Validator(schema)


def violations(validator: Any, instance: Any) -> list[str]:
    """What is wrong with ``instance`` (empty when it is valid): ``$.path: message`` lines,
    in path order, at most :data:`MAX_REPORTED` of them and a count of the rest.

    Raises:
        SchemaError: the schema has a ``$ref`` that does not resolve inside it.
    """
    from referencing.exceptions import Unresolvable

    try:
        errors = sorted(validator.iter_errors(instance), key=lambda e: (e.json_path, e.message))
    except Unresolvable as exc:
        raise SchemaError(f"compile schema: unresolvable $ref: {exc}") from None
    lines = [f"{error.json_path}: {error.message}" for error in errors[:MAX_REPORTED]]
    if len(errors) > MAX_REPORTED:
        lines.append(f"and {len(errors) - MAX_REPORTED} more")
    return lines
