"""``uuid``: Wippy's UUID module (``en/lua/security/uuid.md``).

Generators ``v1`` (time and node), ``v3`` / ``v5`` (MD5 / SHA-1 of a namespace and a name),
``v4`` (random), ``v7`` (Unix milliseconds and random, RFC 9562), each ``string, err``; and
``validate``, ``version``, ``variant``, ``parse``, ``format`` over a UUID string. UUID text is
read as Wippy reads it: ``xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`` in either case, optionally in
braces or after ``urn:uuid:``, or the 32 hex digits alone; it is written in lower case.

Randomness and time come from the engine (:meth:`~runtime.engine.Engine.random_bits`,
:meth:`~runtime.engine.Engine.now`): in a workflow they are the run's recorded generator and
clock, so ``v1``, ``v4`` and ``v7`` give the same ids on every replay. A ``v1`` node is random
(with the multicast bit set, as RFC 9562 asks of a node that is not a MAC address): a Lambda
has no stable hardware address, and a real one would leak the host's.
"""

from __future__ import annotations

import hashlib
import os
import string
import uuid
from typing import TYPE_CHECKING, Any

from runtime.errors import INVALID

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

# 100-nanosecond intervals between the Gregorian epoch (1582-10-15) and the Unix epoch.
_GREGORIAN_OFFSET = 0x01B21DD213814000
_HEX = frozenset(string.hexdigits)
_DASHES = (8, 13, 18, 23)
_URN = "urn:uuid:"
_FORMATS = ("standard", "simple", "urn")


def uuid7(unix_ms: int, rand: int | None = None) -> uuid.UUID:
    """A version 7 UUID for the given millisecond timestamp (Python 3.11 has no uuid7);
    ``rand`` (80 bits) defaults to the OS's randomness."""
    if rand is None:
        rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 68) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def uuid1(unix_seconds: float, rand: int) -> uuid.UUID:
    """A version 1 UUID for the given time, its clock sequence and node taken from ``rand``
    (62 bits: 14 for the clock sequence, 48 for the node, whose multicast bit is then set)."""
    ticks = (int(unix_seconds * 10_000_000) + _GREGORIAN_OFFSET) & ((1 << 60) - 1)
    clock_seq = (rand >> 48) & 0x3FFF
    node = (rand & ((1 << 48) - 1)) | (1 << 40)
    value = (ticks & 0xFFFFFFFF) << 96
    value |= ((ticks >> 32) & 0xFFFF) << 80
    value |= (0x1000 | (ticks >> 48)) << 64
    value |= (0x8000 | clock_seq) << 48
    value |= node
    return uuid.UUID(int=value)


def parse_text(text: bytes) -> uuid.UUID | None:
    """The UUID ``text`` spells, in any of the forms Wippy reads, or None."""
    try:
        s = text.decode("ascii")
    except UnicodeDecodeError:
        return None
    if len(s) == 45 and s[:9].lower() == _URN:
        s = s[9:]
    elif len(s) == 38 and s[0] == "{" and s[-1] == "}":
        s = s[1:-1]
    if len(s) == 36:
        if any(s[i] != "-" for i in _DASHES):
            return None
        s = s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
    if len(s) != 32 or not _HEX.issuperset(s):
        return None
    return uuid.UUID(hex=s)


def variant_name(value: uuid.UUID) -> str:
    """The variant by its top bits, named as Wippy names it (``10x`` is RFC4122, ``110``
    Microsoft, ``111`` Future, ``0xx`` Reserved)."""
    octet = value.bytes[8]
    if octet & 0xC0 == 0x80:
        return "RFC4122"
    if octet & 0xE0 == 0xC0:
        return "Microsoft"
    if octet & 0xE0 == 0xE0:
        return "Future"
    return "Reserved"


def unix_seconds(value: uuid.UUID) -> int | None:
    """The Unix time (whole seconds, truncated toward zero) a v1 or v7 UUID carries, else None."""
    version = value.bytes[6] >> 4
    if version == 1:
        ticks = value.int >> 96 | ((value.int >> 80) & 0xFFFF) << 32
        ticks |= ((value.int >> 64) & 0x0FFF) << 48
        since_epoch = ticks - _GREGORIAN_OFFSET
        seconds = abs(since_epoch) // 10_000_000
        return seconds if since_epoch >= 0 else -seconds
    if version == 7:
        return (value.int >> 80) // 1000
    return None


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state

    def invalid(message: str) -> tuple[None, Any]:
        return None, state.new_error(INVALID, message, retryable=False)

    # Through the engine, so that a workflow replays the same ids.
    def v1(*_: Any) -> Any:
        return str(uuid1(engine.now(), engine.random_bits(62))).encode(), None

    def v4(*_: Any) -> Any:
        return str(uuid.UUID(int=engine.random_bits(128), version=4)).encode(), None

    def v7(*_: Any) -> Any:
        return str(uuid7(int(engine.now() * 1000), engine.random_bits(80))).encode(), None

    def hashed(version: int, algorithm: str) -> Any:
        def make(namespace: Any = None, name: Any = None, *_: Any) -> Any:
            if not isinstance(namespace, bytes) or not isinstance(name, bytes):
                return invalid("namespace and name must be strings")
            ns = parse_text(namespace)
            if ns is None:
                return invalid("invalid namespace UUID")
            digest = hashlib.new(algorithm, ns.bytes + name, usedforsecurity=False).digest()
            return str(uuid.UUID(bytes=digest[:16], version=version)).encode(), None

        return make

    def parsed(text: Any) -> tuple[uuid.UUID | None, Any]:
        if not isinstance(text, bytes):
            return None, invalid("input must be a string")
        value = parse_text(text)
        if value is None:
            return None, invalid("invalid UUID format")
        return value, None

    def validate(text: Any = None, *_: Any) -> Any:
        return isinstance(text, bytes) and parse_text(text) is not None, None

    def version(text: Any = None, *_: Any) -> Any:
        value, failure = parsed(text)
        if value is None:
            return failure
        return value.bytes[6] >> 4, None

    def variant(text: Any = None, *_: Any) -> Any:
        value, failure = parsed(text)
        if value is None:
            return failure
        return variant_name(value).encode(), None

    def parse(text: Any = None, *_: Any) -> Any:
        value, failure = parsed(text)
        if value is None:
            return failure
        info = state.table(version=value.bytes[6] >> 4, variant=variant_name(value).encode())
        seconds = unix_seconds(value)
        if seconds is not None:
            state.set(info, b"timestamp", seconds)
        if value.bytes[6] >> 4 == 1:
            state.set(info, b"node", value.bytes[10:].hex().encode())
        return info, None

    def format_(text: Any = None, form: Any = None, *_: Any) -> Any:
        if not isinstance(text, bytes):
            return invalid("input must be a string")
        # As in Wippy, a format that is not a string is the default.
        name = form.decode("utf-8", "replace") if isinstance(form, bytes) else "standard"
        value = parse_text(text)
        if value is None:
            return invalid("invalid UUID format")
        if name not in _FORMATS:
            return invalid(f"unsupported format {name!r} (standard, simple or urn)")
        if name == "simple":
            return value.hex.encode(), None
        return (_URN + str(value) if name == "urn" else str(value)).encode(), None

    return state.table(
        v1=state.wrap(v1),
        v3=state.wrap(hashed(3, "md5")),
        v4=state.wrap(v4),
        v5=state.wrap(hashed(5, "sha1")),
        v7=state.wrap(v7),
        validate=state.wrap(validate),
        version=state.wrap(version),
        variant=state.wrap(variant),
        parse=state.wrap(parse),
        format=state.wrap(format_),
    )
