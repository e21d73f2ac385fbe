"""Go reference-time layouts: ``Time.Format`` and ``time.ParseInLocation``.

A layout is the reference time ``Mon Jan 2 15:04:05 MST 2006`` written the way the value should
look; the recognised elements are those of Go's ``time`` package:

=====================  ==================================================================
year                   ``2006`` ``06``
month                  ``January`` ``Jan`` ``01`` ``1``
day of month           ``02`` ``2`` ``_2`` (space padded)
day of year            ``002`` ``__2`` (space padded)
weekday                ``Monday`` ``Mon``
hour                   ``15`` (24h), ``03`` ``3`` (12h)
minute, second         ``04`` ``4``, ``05`` ``5``
AM/PM                  ``PM`` ``pm``
zone                   ``MST``, ``-0700`` ``-07:00`` ``-07`` ``-070000`` ``-07:00:00``, and
                       the ``Z`` forms (``Z07:00`` ...) that write ``Z`` for UTC
fraction of a second   ``.000`` (exactly that many digits), ``.999`` (trailing zeros
                       dropped); ``,`` works as the separator too
=====================  ==================================================================

Everything else is literal text.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass

from runtime.gotime.calendar import (
    DAYS_BEFORE,
    Fields,
    date_to_unix,
    days_in_month,
    fields_at,
    is_leap,
    wall_seconds,
)
from runtime.gotime.zones import UTC, Location, fixed_zone

LONG_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
SHORT_MONTHS = tuple(m[:3] for m in LONG_MONTHS)
LONG_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
SHORT_DAYS = tuple(d[:3] for d in LONG_DAYS)

# Element kinds.
LONG_YEAR, YEAR = "2006", "06"
LONG_MONTH, MONTH, NUM_MONTH, ZERO_MONTH = "January", "Jan", "1", "01"
LONG_WEEKDAY, WEEKDAY = "Monday", "Mon"
DAY, UNDER_DAY, ZERO_DAY = "2", "_2", "02"
UNDER_YEAR_DAY, ZERO_YEAR_DAY = "__2", "002"
HOUR, HOUR12, ZERO_HOUR12 = "15", "3", "03"
MINUTE, ZERO_MINUTE, SECOND, ZERO_SECOND = "4", "04", "5", "05"
PM_UPPER, PM_LOWER = "PM", "pm"
TZ_NAME = "MST"
FRAC_FIXED, FRAC_TRIM = "frac0", "frac9"

# Numeric zones: (kind, writes Z for UTC, colons, seconds, minutes).
_NUMERIC_ZONES = {
    "Z070000": (True, False, True, True),
    "Z07:00:00": (True, True, True, True),
    "-070000": (False, False, True, True),
    "-07:00:00": (False, True, True, True),
    "Z0700": (True, False, False, True),
    "Z07:00": (True, True, False, True),
    "-0700": (False, False, False, True),
    "-07:00": (False, True, False, True),
    "Z07": (True, False, False, False),
    "-07": (False, False, False, False),
}


@dataclass(frozen=True)
class Element:
    """One layout element: its kind, the layout text it came from, and for fractions the
    separator and number of digits."""

    kind: str
    text: str
    digits: int = 0
    separator: str = "."


def _digit(s: str, i: int) -> bool:
    return i < len(s) and "0" <= s[i] <= "9"


def _next_element(layout: str, start: int) -> tuple[int, Element | None, int]:
    """Find the first element at or after ``start``: (where its literal prefix ends, the
    element or None, where the rest begins). Go's rules, including that ``_2006`` is a
    literal ``_`` then the year."""
    n = len(layout)
    i = start
    while i < n:
        c = layout[i]
        at = layout.startswith
        if c == "J":
            if at("January", i):
                return i, Element(LONG_MONTH, "January"), i + 7
            if at("Jan", i):
                return i, Element(MONTH, "Jan"), i + 3
        elif c == "M":
            if at("Monday", i):
                return i, Element(LONG_WEEKDAY, "Monday"), i + 6
            if at("Mon", i):
                return i, Element(WEEKDAY, "Mon"), i + 3
            if at("MST", i):
                return i, Element(TZ_NAME, "MST"), i + 3
        elif c == "0":
            if i + 1 < n and "1" <= layout[i + 1] <= "6":
                text = layout[i : i + 2]
                return i, Element(text, text), i + 2
            if at("002", i):
                return i, Element(ZERO_YEAR_DAY, "002"), i + 3
        elif c == "1":
            if at("15", i):
                return i, Element(HOUR, "15"), i + 2
            return i, Element(NUM_MONTH, "1"), i + 1
        elif c == "2":
            if at("2006", i):
                return i, Element(LONG_YEAR, "2006"), i + 4
            return i, Element(DAY, "2"), i + 1
        elif c == "_":
            if at("_2", i):
                if at("_2006", i):
                    return i + 1, Element(LONG_YEAR, "2006"), i + 5
                return i, Element(UNDER_DAY, "_2"), i + 2
            if at("__2", i):
                return i, Element(UNDER_YEAR_DAY, "__2"), i + 3
        elif c in "345":
            kind = {"3": HOUR12, "4": MINUTE, "5": SECOND}[c]
            return i, Element(kind, c), i + 1
        elif c == "P":
            if at("PM", i):
                return i, Element(PM_UPPER, "PM"), i + 2
        elif c == "p":
            if at("pm", i):
                return i, Element(PM_LOWER, "pm"), i + 2
        elif c in "-Z":
            for text in _NUMERIC_ZONES:
                if text[0] == c and at(text, i):
                    return i, Element(text, text), i + len(text)
        elif c in ".," and i + 1 < n and layout[i + 1] in "09":
            digit = layout[i + 1]
            j = i + 1
            while j < n and layout[j] == digit:
                j += 1
            if not _digit(layout, j):
                kind = FRAC_FIXED if digit == "0" else FRAC_TRIM
                return i, Element(kind, layout[i:j], j - (i + 1), c), j
        i += 1
    return n, None, n


def _compile(layout: str) -> tuple[tuple[str, Element | None], ...]:
    parts: list[tuple[str, Element | None]] = []
    pos = 0
    while pos < len(layout):
        literal_end, element, following = _next_element(layout, pos)
        parts.append((layout[pos:literal_end], element))
        pos = following
    return tuple(parts)


_compile_cached = functools.lru_cache(maxsize=256)(_compile)


def compile_layout(layout: str) -> tuple[tuple[str, Element | None], ...]:
    """The layout as (literal, element) pairs; the last element may be None. Short layouts
    (all real ones) are compiled once; long ones are not kept."""
    return _compile_cached(layout) if len(layout) <= 256 else _compile(layout)


# -- formatting ------------------------------------------------------------------------------


def _pad(value: int, width: int) -> str:
    if value < 0:
        return "-" + f"{-value:0{width}d}"
    return f"{value:0{width}d}"


def _zone_text(element: Element, offset: int) -> str:
    z_for_utc, colons, seconds, minutes = _NUMERIC_ZONES[element.kind]
    if z_for_utc and offset == 0:
        return "Z"
    sign = "-" if offset < 0 else "+"
    total = abs(offset)
    hours, rest = divmod(total, 3600)
    mins, secs = divmod(rest, 60)
    sep = ":" if colons else ""
    out = sign + f"{hours:02d}"
    if minutes:
        out += sep + f"{mins:02d}"
    if seconds:
        out += sep + f"{secs:02d}"
    return out


def _fraction(element: Element, nsec: int) -> str:
    if element.kind == FRAC_TRIM and (element.digits == 0 or nsec == 0):
        return ""
    digits = f"{nsec:09d}"[: element.digits].ljust(element.digits, "0")
    if element.kind == FRAC_TRIM:
        digits = digits.rstrip("0")
        if not digits:
            return ""
    return element.separator + digits


def _format_element(element: Element, f: Fields) -> str:
    kind = element.kind
    if kind == LONG_YEAR:
        return _pad(f.year, 4)
    if kind == YEAR:
        return f"{abs(f.year) % 100:02d}"
    if kind == LONG_MONTH:
        return LONG_MONTHS[f.month - 1]
    if kind == MONTH:
        return SHORT_MONTHS[f.month - 1]
    if kind == NUM_MONTH:
        return str(f.month)
    if kind == ZERO_MONTH:
        return f"{f.month:02d}"
    if kind == LONG_WEEKDAY:
        return LONG_DAYS[f.weekday]
    if kind == WEEKDAY:
        return SHORT_DAYS[f.weekday]
    if kind == DAY:
        return str(f.day)
    if kind == UNDER_DAY:
        return f"{f.day:2d}"
    if kind == ZERO_DAY:
        return f"{f.day:02d}"
    if kind == UNDER_YEAR_DAY:
        return f"{f.yday:3d}"
    if kind == ZERO_YEAR_DAY:
        return f"{f.yday:03d}"
    if kind == HOUR:
        return f"{f.hour:02d}"
    if kind in (HOUR12, ZERO_HOUR12):
        hour = f.hour % 12 or 12
        return str(hour) if kind == HOUR12 else f"{hour:02d}"
    if kind == MINUTE:
        return str(f.minute)
    if kind == ZERO_MINUTE:
        return f"{f.minute:02d}"
    if kind == SECOND:
        return str(f.second)
    if kind == ZERO_SECOND:
        return f"{f.second:02d}"
    if kind == PM_UPPER:
        return "PM" if f.hour >= 12 else "AM"
    if kind == PM_LOWER:
        return "pm" if f.hour >= 12 else "am"
    if kind == TZ_NAME:
        if f.zone:
            return f.zone
        # An unnamed zone (one made up while parsing) shows its offset, without a colon.
        return _zone_text(Element("-0700", "-0700"), f.offset)
    if kind in _NUMERIC_ZONES:
        return _zone_text(element, f.offset)
    return _fraction(element, f.nanosecond)


def format_fields(f: Fields, layout: str) -> str:
    """``Time.Format(layout)`` for a wall clock already computed."""
    out: list[str] = []
    for literal, element in compile_layout(layout):
        out.append(literal)
        if element is not None:
            out.append(_format_element(element, f))
    return "".join(out)


def format_time(sec: int, nsec: int, loc: Location, layout: str) -> str:
    """``Time.Format(layout)`` of the instant ``sec``/``nsec`` shown in ``loc``."""
    return format_fields(fields_at(sec, nsec, loc), layout)


# -- parsing -------------------------------------------------------------------------------


def _go_quote(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(ch.encode("unicode_escape").decode("ascii"))
    return '"' + "".join(out) + '"'


class ParseError(ValueError):
    """A value that does not match its layout; the message is Go's ``time.ParseError`` text."""

    def __init__(self, layout: str, value: str, value_elem: str, layout_elem: str, msg: str = ""):
        if msg:
            text = f"parsing time {_go_quote(value)}{msg}"
        else:
            text = (
                f"parsing time {_go_quote(value)} as {_go_quote(layout)}: cannot parse "
                f"{_go_quote(value_elem)} as {_go_quote(layout_elem)}"
            )
        super().__init__(text)


class _Bad(Exception):
    """The value does not match the element being read."""


class _Range(Exception):
    """A field read fine but is out of range (its name is the argument)."""


def _skip(v: str, i: int, prefix: str) -> int:
    """Match a literal at ``v[i:]``: a run of spaces in the layout takes any run of spaces in
    the value. Returns the position after it."""
    j, n, m = 0, len(v), len(prefix)
    while j < m:
        if prefix[j] == " ":
            if i < n and v[i] != " ":
                raise _Bad
            while j < m and prefix[j] == " ":
                j += 1
            while i < n and v[i] == " ":
                i += 1
            continue
        if i >= n or v[i] != prefix[j]:
            raise _Bad
        i += 1
        j += 1
    return i


def _getnum(v: str, i: int, fixed: bool) -> tuple[int, int]:
    """One or two digits at ``i`` (exactly two when ``fixed``): their value, the next index."""
    if not _digit(v, i):
        raise _Bad
    if not _digit(v, i + 1):
        if fixed:
            raise _Bad
        return int(v[i]), i + 1
    return int(v[i : i + 2]), i + 2


def _getnum3(v: str, i: int, fixed: bool) -> tuple[int, int]:
    """One to three digits (exactly three when ``fixed``)."""
    k = 0
    while k < 3 and _digit(v, i + k):
        k += 1
    if k == 0 or (fixed and k != 3):
        raise _Bad
    return int(v[i : i + k]), i + k


def _lookup(names: tuple[str, ...], v: str, i: int) -> tuple[int, int]:
    """Index of the name ``v[i:]`` starts with (ASCII case-insensitive), the next index."""
    for index, name in enumerate(names):
        if v[i : i + len(name)].lower() == name.lower():
            return index, i + len(name)
    raise _Bad


def _digits_end(v: str, i: int) -> int:
    while _digit(v, i):
        i += 1
    return i


def _nanoseconds(v: str, i: int, end: int) -> int:
    """``v[i:end]`` is a separator and digits: their value as nanoseconds (digits past the
    ninth are read and dropped)."""
    if i >= len(v) or v[i] not in ".,":
        raise _Bad
    digits = v[i + 1 : min(end, i + 10)]
    if not digits or not digits.isascii() or not digits.isdigit():
        raise _Bad
    return int(digits) * 10 ** (9 - len(digits))


def _signed_offset_len(v: str, i: int) -> int:
    """Length of ``+h`` / ``-hh`` (hours 0-23) at ``v[i:]``, 0 if none."""
    if i >= len(v) or v[i] not in "+-":
        return 0
    end = _digits_end(v, i + 1)
    if end == i + 1 or end - i > 4 or int(v[i + 1 : end]) > 23:
        return 0
    return end - i


def _zone_name_len(v: str, i: int) -> int:
    """Length of a zone abbreviation at ``v[i:]`` (0: none), by Go's rules: 3 capitals, 4
    ending in T (or WITA), 5 ending in T, ChST/MeST, GMT with an offset, a bare offset."""
    if len(v) - i < 3:
        return 0
    if v[i : i + 4] in ("ChST", "MeST"):
        return 4
    if v[i : i + 3] == "GMT":
        return 3 + _signed_offset_len(v, i + 3)
    if v[i] in "+-":
        return _signed_offset_len(v, i)
    upper = 0
    while upper < 6 and i + upper < len(v) and "A" <= v[i + upper] <= "Z":
        upper += 1
    if upper == 3:
        return 3
    if upper == 4 and (v[i + 3] == "T" or v[i : i + 4] == "WITA"):
        return 4
    if upper == 5 and v[i + 4] == "T":
        return 5
    return 0


def _numeric_zone(element: Element, v: str, i: int) -> tuple[int, int]:
    """A numeric zone offset in seconds, and the next index."""
    _, colons, seconds, minutes = _NUMERIC_ZONES[element.kind]
    if not minutes:
        width = 3
    elif seconds:
        width = 9 if colons else 7
    else:
        width = 6 if colons else 5
    text = v[i : i + width]
    if len(text) < width:
        raise _Bad
    sign, body = text[0], text[1:]
    if colons:
        if (minutes and body[2] != ":") or (seconds and body[5] != ":"):
            raise _Bad
        body = body.replace(":", "")
    if not body.isascii() or not body.isdigit():
        raise _Bad
    hours = int(body[0:2])
    mins = int(body[2:4]) if minutes else 0
    secs = int(body[4:6]) if seconds else 0
    if hours > 24:
        raise _Range("time zone offset hour")
    if mins > 60:
        raise _Range("time zone offset minute")
    if secs > 60:
        raise _Range("time zone offset second")
    offset = (hours * 60 + mins) * 60 + secs
    if sign == "-":
        offset = -offset
    elif sign != "+":
        raise _Bad
    return offset, i + width


@dataclass
class _Parsed:
    year: int = 0
    month: int = -1
    day: int = -1
    yday: int = -1
    hour: int = 0
    minute: int = 0
    second: int = 0
    nsec: int = 0
    pm: bool | None = None
    utc: bool = False
    offset: int | None = None
    zone_name: str = ""


def _read(element: Element, v: str, i: int, p: _Parsed, upcoming: Element | None) -> int:
    """Read one element at ``v[i:]`` into ``p``; return the next index. ``upcoming`` is the
    layout's next element (whether a fraction follows the seconds)."""
    kind = element.kind
    if kind == YEAR:
        if not (_digit(v, i) and _digit(v, i + 1)):
            raise _Bad
        year = int(v[i : i + 2])
        p.year = year + (1900 if year >= 69 else 2000)
        return i + 2
    if kind == LONG_YEAR:
        text = v[i : i + 4]
        if len(text) < 4 or not text.isascii() or not text.isdigit():
            raise _Bad
        p.year = int(text)
        return i + 4
    if kind in (MONTH, LONG_MONTH):
        index, i = _lookup(SHORT_MONTHS if kind == MONTH else LONG_MONTHS, v, i)
        p.month = index + 1
        return i
    if kind in (NUM_MONTH, ZERO_MONTH):
        p.month, i = _getnum(v, i, kind == ZERO_MONTH)
        if not 1 <= p.month <= 12:
            raise _Range("month")
        return i
    if kind in (WEEKDAY, LONG_WEEKDAY):
        # Read to check it, not used: the date decides the weekday.
        return _lookup(SHORT_DAYS if kind == WEEKDAY else LONG_DAYS, v, i)[1]
    if kind in (DAY, UNDER_DAY, ZERO_DAY):
        if kind == UNDER_DAY and v[i : i + 1] == " ":
            i += 1
        p.day, i = _getnum(v, i, kind == ZERO_DAY)
        return i  # checked against the month once the whole value is read
    if kind in (UNDER_YEAR_DAY, ZERO_YEAR_DAY):
        for _ in range(2):
            if kind == UNDER_YEAR_DAY and v[i : i + 1] == " ":
                i += 1
        p.yday, i = _getnum3(v, i, kind == ZERO_YEAR_DAY)
        return i
    if kind == HOUR:
        p.hour, i = _getnum(v, i, False)
        if not 0 <= p.hour < 24:
            raise _Range("hour")
        return i
    if kind in (HOUR12, ZERO_HOUR12):
        p.hour, i = _getnum(v, i, kind == ZERO_HOUR12)
        if not 0 <= p.hour <= 12:
            raise _Range("hour")
        return i
    if kind in (MINUTE, ZERO_MINUTE):
        p.minute, i = _getnum(v, i, kind == ZERO_MINUTE)
        if not 0 <= p.minute < 60:
            raise _Range("minute")
        return i
    if kind in (SECOND, ZERO_SECOND):
        p.second, i = _getnum(v, i, kind == ZERO_SECOND)
        if not 0 <= p.second < 60:
            raise _Range("second")
        # A fraction in the value that the layout does not spell out is read anyway.
        fraction_next = upcoming is not None and upcoming.kind in (FRAC_FIXED, FRAC_TRIM)
        if v[i : i + 1] in (".", ",") and _digit(v, i + 1) and not fraction_next:
            end = _digits_end(v, i + 1)
            p.nsec = _nanoseconds(v, i, end)
            i = end
        return i
    if kind in (PM_UPPER, PM_LOWER):
        marker = v[i : i + 2]
        am, pm = ("AM", "PM") if kind == PM_UPPER else ("am", "pm")
        if marker not in (am, pm):
            raise _Bad
        p.pm = marker == pm
        return i + 2
    if kind in _NUMERIC_ZONES:
        if _NUMERIC_ZONES[kind][0] and v[i : i + 1] == "Z":
            p.utc = True
            return i + 1
        p.offset, i = _numeric_zone(element, v, i)
        return i
    if kind == TZ_NAME:
        if v[i : i + 3] == "UTC":
            p.utc = True
            return i + 3
        n = _zone_name_len(v, i)
        if n == 0:
            raise _Bad
        p.zone_name = v[i : i + n]
        return i + n
    if kind == FRAC_FIXED:
        end = i + 1 + element.digits
        if end > len(v):
            raise _Bad
        p.nsec = _nanoseconds(v, i, end)
        return end
    # FRAC_TRIM: optional; takes every digit there is, even more than the layout shows.
    if v[i : i + 1] not in (".", ",") or not _digit(v, i + 1):
        return i
    end = _digits_end(v, i + 1)
    p.nsec = _nanoseconds(v, i, end)
    return end


def _resolve_day(layout: str, value: str, p: _Parsed) -> None:
    """Month and day from the day of the year (checking any month/day read too), then the
    day checked against its month."""
    if p.yday >= 0:
        yday = p.yday
        month = day = 0
        if is_leap(p.year):
            if yday == 31 + 29:
                month, day = 2, 29
            elif yday > 31 + 29:
                yday -= 1
        if not 1 <= yday <= 365:
            raise ParseError(layout, value, "", "", ": day-of-year out of range")
        if month == 0:
            # Counted on a common year: the leap day was taken out above.
            month = bisect.bisect_left(DAYS_BEFORE, yday)
            day = yday - DAYS_BEFORE[month - 1]
        if p.month >= 0 and p.month != month:
            raise ParseError(layout, value, "", "", ": day-of-year does not match month")
        if p.day >= 0 and p.day != day:
            raise ParseError(layout, value, "", "", ": day-of-year does not match day")
        p.month, p.day = month, day
    else:
        if p.month < 0:
            p.month = 1
        if p.day < 0:
            p.day = 1
    if p.day < 1 or p.day > days_in_month(p.year, p.month):
        raise ParseError(layout, value, "", "", ": day out of range")


def parse_time(layout: str, value: str, loc: Location) -> tuple[int, int, Location]:
    """``time.ParseInLocation(layout, value, loc)``: (Unix seconds, nanoseconds, location).

    Fields missing from the layout are zero (year 0, January 1, midnight); a value with no
    zone is read in ``loc``; a zone offset or abbreviation that ``loc`` has at that time gives
    ``loc``, another one a zone made up for it (Go's rules, so an abbreviation ``loc`` does not
    know reads as offset 0 under that name).

    Raises:
        ParseError: with Go's message.
    """
    p = _Parsed()
    parts = compile_layout(layout)
    i = 0
    for k, (literal, element) in enumerate(parts):
        try:
            i = _skip(value, i, literal)
        except _Bad:
            raise ParseError(layout, value, value[i:], literal) from None
        if element is None:
            break
        upcoming = parts[k + 1][1] if k + 1 < len(parts) else None
        try:
            i = _read(element, value, i, p, upcoming)
        except _Bad:
            raise ParseError(layout, value, value[i:], element.text) from None
        except _Range as exc:
            raise ParseError(layout, value, "", "", f": {exc.args[0]} out of range") from None
    if i < len(value):
        raise ParseError(layout, value, "", "", f": extra text: {_go_quote(value[i:])}")
    if p.pm is True and p.hour < 12:
        p.hour += 12
    elif p.pm is False and p.hour == 12:
        p.hour = 0
    _resolve_day(layout, value, p)
    fields = (p.year, p.month, p.day, p.hour, p.minute, p.second, p.nsec)
    if p.utc:
        sec, nsec = date_to_unix(*fields, UTC)
        return sec, nsec, UTC
    if p.offset is not None:
        wall, nsec = wall_seconds(*fields)
        sec = wall - p.offset
        name, offset, _ = loc.lookup(sec)
        if offset == p.offset and (p.zone_name == "" or name == p.zone_name):
            return sec, nsec, loc
        return sec, nsec, fixed_zone(p.zone_name, p.offset)
    if p.zone_name:
        wall, nsec = wall_seconds(*fields)
        offset = _offset_named(loc, p.zone_name, wall)
        if offset is not None:
            return wall - offset, nsec, loc
        made_up = 0
        if len(p.zone_name) > 3 and p.zone_name.startswith("GMT"):
            made_up = int(p.zone_name[3:]) * 3600
        return wall - made_up, nsec, fixed_zone(p.zone_name, made_up)
    sec, nsec = date_to_unix(*fields, loc)
    return sec, nsec, loc


def _offset_named(loc: Location, name: str, wall: int) -> int | None:
    """The offset ``loc`` uses under abbreviation ``name`` at about ``wall``: preferably the
    zone actually in effect then (Sydney's standard and summer time share "EST")."""
    zones = [(abbr, offset) for abbr, offset in loc.zones_near(wall) if abbr == name]
    for abbr, offset in zones:
        if loc.lookup(wall - offset)[0] == abbr:
            return offset
    return zones[0][1] if zones else None
