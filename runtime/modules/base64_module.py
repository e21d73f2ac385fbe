"""``base64``: encode and decode (binary-safe)."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state

    def encode(data: Any) -> Any:
        if not isinstance(data, bytes):
            return state.raise_in_lua("base64.encode: expected a string")
        return base64.b64encode(data)

    def decode(text: Any) -> Any:
        if not isinstance(text, bytes):
            return state.raise_in_lua("base64.decode: expected a string")
        try:
            return base64.b64decode(text, validate=True), None
        except (binascii.Error, ValueError) as exc:
            return None, state.new_error("INVALID", f"base64.decode: {exc}")

    return state.table(encode=state.wrap(encode), decode=state.wrap(decode))
