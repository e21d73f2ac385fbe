"""``hash``: Wippy's hash module (``en/lua/security/hash.md``).

``md5``, ``sha1``, ``sha256``, ``sha512`` take ``(data, raw?)``; ``hmac_md5``, ``hmac_sha1``,
``hmac_sha256``, ``hmac_sha512`` take ``(data, secret, raw?)``. Each answers the digest as lower
case hex, or as the raw bytes when ``raw`` is truthy, and ``nil, err`` (INVALID, non-retryable:
``data must be a string`` / ``secret must be a string``) for an argument that is not a Lua
string; a number is not a string here, as in Wippy. ``fnv32`` and ``fnv64`` answer the FNV-1
hash (not FNV-1a: Go's ``hash/fnv.New32``/``New64``, which Wippy uses) as a number: ``fnv32``
an integer, ``fnv64`` the 64-bit sum as the nearest float, which is the number Wippy's runtime
gives (its Lua numbers are doubles; a 64-bit sum does not fit in one exactly).

Every function is deterministic, so workflow code may call them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.errors import INVALID

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_FNV32_OFFSET, _FNV32_PRIME = 0x811C9DC5, 0x01000193
_FNV64_OFFSET, _FNV64_PRIME = 0xCBF29CE484222325, 0x100000001B3
_DIGESTS = ("md5", "sha1", "sha256", "sha512")


def fnv1_32(data: bytes) -> int:
    """FNV-1, 32 bits (multiply, then xor: Go's ``fnv.New32``)."""
    h = _FNV32_OFFSET
    for byte in data:
        h = ((h * _FNV32_PRIME) & 0xFFFFFFFF) ^ byte
    return h


def fnv1_64(data: bytes) -> int:
    """FNV-1, 64 bits (Go's ``fnv.New64``)."""
    h = _FNV64_OFFSET
    for byte in data:
        h = ((h * _FNV64_PRIME) & 0xFFFFFFFFFFFFFFFF) ^ byte
    return h


def _encoded(digest: bytes, raw: Any) -> bytes:
    # Lua truth: only nil and false are false (Wippy reads ``raw`` with ToBool).
    return digest if raw is not None and raw is not False else digest.hex().encode()


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state

    def invalid(message: str) -> tuple[None, Any]:
        return None, state.new_error(INVALID, message, retryable=False)

    def digest_of(name: str) -> Callable[..., Any]:
        def digest(data: Any = None, raw: Any = None, *_: Any) -> Any:
            if not isinstance(data, bytes):
                return invalid("data must be a string")
            return _encoded(hashlib.new(name, data).digest(), raw), None

        return digest

    def hmac_of(name: str) -> Callable[..., Any]:
        def mac(data: Any = None, secret: Any = None, raw: Any = None, *_: Any) -> Any:
            if not isinstance(data, bytes):
                return invalid("data must be a string")
            if not isinstance(secret, bytes):
                return invalid("secret must be a string")
            return _encoded(hmac.new(secret, data, name).digest(), raw), None

        return mac

    def fnv32(data: Any = None, *_: Any) -> Any:
        if not isinstance(data, bytes):
            return invalid("data must be a string")
        return fnv1_32(data), None

    def fnv64(data: Any = None, *_: Any) -> Any:
        if not isinstance(data, bytes):
            return invalid("data must be a string")
        return float(fnv1_64(data)), None

    fields: dict[str, Any] = {}
    for name in _DIGESTS:
        fields[name] = state.wrap(digest_of(name))
        fields[f"hmac_{name}"] = state.wrap(hmac_of(name))
    return state.table(fnv32=state.wrap(fnv32), fnv64=state.wrap(fnv64), **fields)
