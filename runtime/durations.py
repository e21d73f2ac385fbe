"""Durations as the kit writes them: ``"250ms"``, ``"1h30m"``, ``"1.5s"``, or milliseconds."""

from __future__ import annotations

import re

_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)")


def parse_duration(value: str | int | float) -> float:
    """Return ``value`` in seconds.

    Numbers are milliseconds (the Lua convention); strings use Go's duration syntax, a sequence
    of ``<number><unit>`` parts with units ns, us, ms, s, m, h. Negative durations are refused.

    Raises:
        ValueError: with a message that quotes the bad input.
    """
    if isinstance(value, bool):
        raise ValueError(
            f"invalid duration {value!r}: expected a string like '250ms' or milliseconds"
        )
    if isinstance(value, int | float):
        if value < 0 or value != value:
            raise ValueError(
                f"invalid duration {value!r}: must be a non-negative number of milliseconds"
            )
        return float(value) / 1000.0
    if not isinstance(value, str):
        raise ValueError(
            f"invalid duration {value!r}: expected a string like '250ms' or milliseconds"
        )
    text = value.strip()
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _PART.match(text, pos)
        if match is None:
            raise ValueError(
                f"invalid duration {value!r}: expected parts like '1h', '30m', '250ms'"
            )
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos == 0:
        raise ValueError(f"invalid duration {value!r}: empty")
    return total
