"""``base64``: Wippy's base64 module (``en/lua/data/base64.md``): standard base64 (RFC 4648,
with padding), binary-safe.

``encode(data)`` and ``decode(text)`` return the result, or ``nil, err`` (INVALID,
non-retryable) for an argument that is not a string or text that is not base64. Decoding reads
what Go's standard decoder reads: line breaks (CR, LF) anywhere are skipped, padding is
required, the bits after the last full byte may be anything; an error names the offset of the
first offending byte (``illegal base64 data at input byte N``), as Go's does.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from runtime.errors import INVALID

if TYPE_CHECKING:
    from runtime.engine import Engine, EntryRuntime

_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_NEWLINES = frozenset(b"\r\n")
_PAD = ord("=")


def bad_offset(text: bytes) -> int | None:
    """Where standard base64 ``text`` stops being valid (the byte Go's decoder names), or None
    when it is valid."""
    size = len(text)
    i = 0
    while True:
        got = 0  # significant characters of the current group of four
        while got < 4:
            if i == size:
                if got == 0:
                    return None
                # A group cut short (no padding): Go names where the group began, newlines
                # inside it not counted.
                return size - got
            c = text[i]
            i += 1
            if c in _ALPHABET:
                got += 1
                continue
            if c in _NEWLINES:
                continue
            if c != _PAD or got < 2:
                return i - 1
            if got == 2:  # "==" is due: the second "=" may follow newlines
                while i < size and text[i] in _NEWLINES:
                    i += 1
                if i == size:
                    return size
                if text[i] != _PAD:
                    return i - 1
                i += 1
            while i < size and text[i] in _NEWLINES:
                i += 1
            return i if i < size else None  # anything after the padding is trailing garbage


def decode_text(text: bytes) -> bytes:
    """Standard base64 as Go's decoder reads it (see the module docstring).

    Raises:
        ValueError: ``illegal base64 data at input byte N``.
    """
    offset = bad_offset(text)
    if offset is not None:
        raise ValueError(f"illegal base64 data at input byte {offset}")
    data = text.translate(None, b"\r\n")
    try:
        # binascii ignores non-zero bits after the last byte, as Go's non-strict decoder does.
        return base64.b64decode(data)
    except binascii.Error as exc:  # bad_offset accepted it; keep the contract anyway
        raise ValueError(str(exc)) from None


def build(engine: Engine, unit: EntryRuntime) -> Any:
    state = engine.state

    def invalid(message: str) -> tuple[None, Any]:
        return None, state.new_error(INVALID, message, retryable=False)

    def encode(data: Any = None, *_: Any) -> Any:
        if not isinstance(data, bytes):
            return invalid("string expected")
        return base64.b64encode(data)

    def decode(text: Any = None, *_: Any) -> Any:
        if not isinstance(text, bytes):
            return invalid("string expected")
        try:
            return decode_text(text)
        except ValueError as exc:
            return invalid(f"decode failed: {exc}")

    return state.table(encode=state.wrap(encode), decode=state.wrap(decode))
