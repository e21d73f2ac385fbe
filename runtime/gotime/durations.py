"""Go's duration syntax (``time.ParseDuration``) and its text form (``Duration.String``)."""

from __future__ import annotations

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_MAX = (1 << 63) - 1


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_duration(text: str) -> int:
    """Nanoseconds of a Go duration string: an optional sign, then one or more
    ``<decimal><unit>`` parts (``"1h30m"``, ``"-1.5s"``, ``"300ms"``, ``".5us"``); ``"0"``
    alone needs no unit.

    Raises:
        ValueError: the message says what is wrong, quoting the input as Go does.
    """
    invalid = f"invalid duration {_quote(text)}"
    i, n = 0, len(text)
    negative = False
    if text[:1] in ("-", "+"):
        negative = text[0] == "-"
        i = 1
    if text[i:] == "0":
        return 0
    if i == n:
        raise ValueError(invalid)
    total = 0
    while i < n:
        if not (text[i] == "." or "0" <= text[i] <= "9"):
            raise ValueError(invalid)
        start = i
        while i < n and "0" <= text[i] <= "9":
            i += 1
        whole = text[start:i]
        fraction = ""
        if i < n and text[i] == ".":
            start = i = i + 1
            while i < n and "0" <= text[i] <= "9":
                i += 1
            fraction = text[start:i]
        if not whole and not fraction:
            raise ValueError(invalid)
        if len(whole.lstrip("0")) > 19:
            raise ValueError(invalid)  # past int64 whatever the unit
        start = i
        while i < n and not (text[i] == "." or "0" <= text[i] <= "9"):
            i += 1
        if i == start:
            raise ValueError(f"missing unit in duration {_quote(text)}")
        unit_text = text[start:i]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise ValueError(f"unknown unit {_quote(unit_text)} in duration {_quote(text)}")
        value = int(whole or "0") * unit
        if fraction:
            # Go scales the fraction in floating point; digits past what fits are dropped.
            digits = fraction[:18]
            value += int(float(int(digits)) * (unit / 10 ** len(digits)))
        total += value
        if total > 1 << 63:
            raise ValueError(invalid)
    if negative:
        return -total
    if total > _MAX:
        raise ValueError(invalid)
    return total


def _frac(value: int, precision: int) -> tuple[str, int]:
    """The fraction of ``value / 10**precision`` as ``".123"`` (no trailing zeros, no dot
    when it is zero), and the integer part."""
    whole, rest = divmod(value, 10**precision)
    digits = f"{rest:0{precision}d}".rstrip("0") if precision else ""
    return ("." + digits if digits else ""), whole


def duration_string(ns: int) -> str:
    """Go's ``Duration.String``: ``"1h30m0s"``, ``"1.5s"``, ``"250ms"``, ``"1µs"``, ``"0s"``."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    u = abs(ns)
    if u < 1_000_000_000:
        if u < 1_000:
            return f"{sign}{u}ns"
        if u < 1_000_000:
            frac, whole = _frac(u, 3)
            return f"{sign}{whole}{frac}\u00b5s"
        frac, whole = _frac(u, 6)
        return f"{sign}{whole}{frac}ms"
    frac, seconds = _frac(u, 9)
    out = f"{seconds % 60}{frac}s"
    minutes = seconds // 60
    if minutes:
        out = f"{minutes % 60}m{out}"
        hours = minutes // 60
        if hours:
            out = f"{hours}h{out}"
    return sign + out
