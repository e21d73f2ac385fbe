"""``uuid``: ``v4()`` (random) and ``v7()`` (time-ordered, RFC 9562)."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime


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


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state

    # Through the engine, so that a workflow replays the same ids.
    def v4() -> bytes:
        return str(uuid.UUID(int=engine.random_bits(128), version=4)).encode()

    def v7() -> bytes:
        return str(uuid7(int(engine.now() * 1000), engine.random_bits(80))).encode()

    def is_valid(text: Any) -> bool:
        if not isinstance(text, bytes):
            return False
        try:
            uuid.UUID(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            return False
        return True

    return state.table(v4=state.wrap(v4), v7=state.wrap(v7), is_valid=state.wrap(is_valid))
