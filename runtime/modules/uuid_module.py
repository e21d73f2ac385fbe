"""``uuid``: ``v4()`` (random) and ``v7()`` (time-ordered, RFC 9562)."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime


def uuid7(unix_ms: int) -> uuid.UUID:
    """A version 7 UUID for the given millisecond timestamp (Python 3.11 has no uuid7)."""
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 68) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state

    def v4() -> bytes:
        return str(uuid.uuid4()).encode()

    def v7() -> bytes:
        return str(uuid7(int(engine.clock.now() * 1000))).encode()

    def is_valid(text: Any) -> bool:
        if not isinstance(text, bytes):
            return False
        try:
            uuid.UUID(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return False
        return True

    return state.table(v4=state.wrap(v4), v7=state.wrap(v7), is_valid=state.wrap(is_valid))
