"""``os.date`` format specifiers, as Wippy's ``os`` module implements them.

The set is Wippy's, not C's: ``%a %A %b %B %c %d %H %I %j %m %M %p %S %U %w %W %x %X %y %Y
%z %Z %%``. ``%U`` and ``%W`` are both the ISO 8601 week number; any other ``%x`` is kept as
written, and a lone ``%`` at the end stays a ``%``.
"""

from __future__ import annotations

from runtime.gotime.calendar import Fields, iso_week
from runtime.gotime.layout import format_fields

_FULL = "Mon Jan _2 15:04:05 2006"
_DATE = "01/02/06"
_TIME = "15:04:05"

_LAYOUTS = {
    "a": "Mon",
    "A": "Monday",
    "b": "Jan",
    "B": "January",
    "c": _FULL,
    "d": "02",
    "H": "15",
    "I": "03",
    "m": "01",
    "M": "04",
    "p": "PM",
    "S": "05",
    "x": _DATE,
    "X": _TIME,
    "y": "06",
    "Y": "2006",
    "z": "-0700",
}


def _spec(code: str, f: Fields) -> str:
    layout = _LAYOUTS.get(code)
    if layout is not None:
        return format_fields(f, layout)
    if code == "j":
        return f"{f.yday:03d}"
    if code in ("U", "W"):
        return f"{iso_week(f.year, f.month, f.day)[1]:02d}"
    if code == "w":
        return str(f.weekday)
    if code == "Z":
        return f.zone
    if code == "%":
        return "%"
    return "%" + code


def strftime(fmt: str, f: Fields) -> str:
    """``os.date(fmt)`` (without the ``!`` and ``*t`` forms, which the caller handles)."""
    whole = {"%c": _FULL, "%x": _DATE, "%X": _TIME}.get(fmt)
    if whole is not None:
        return format_fields(f, whole)
    out: list[str] = []
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            out.append(_spec(fmt[i + 1], f))
            i += 2
        else:
            out.append(fmt[i])
            i += 1
    return "".join(out)
