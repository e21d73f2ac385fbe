"""Go's ``time`` package semantics, in Python, for Wippy's Lua ``time`` module and ``os`` dates.

Wippy's runtime is written in Go and its Lua ``time`` module exposes Go's behaviour directly:
reference-time layouts (``"2006-01-02T15:04:05Z07:00"``), Go's duration syntax and its
``String()`` form, ``time.Date``'s normalisation, IANA zones. This package reproduces that
behaviour over plain integers (Unix seconds + nanoseconds), so it covers every year Go does
(``time.parse("15:04", ...)`` gives year 0) and never goes through ``datetime`` for arithmetic.

- :mod:`.calendar`: days <-> civil dates, weekdays, ISO weeks, ``Date`` normalisation.
- :mod:`.zones`: locations (UTC, Local from ``TZ``, IANA zones via :mod:`zoneinfo`, fixed).
- :mod:`.layout`: formatting and parsing with Go layouts.
- :mod:`.durations`: Go's ``ParseDuration`` and ``Duration.String``.
- :mod:`.strftime`: ``os.date`` format specifiers as Wippy's ``os`` module has them.
"""

from runtime.gotime.calendar import ZERO_UNIX, date_to_unix, fields_at
from runtime.gotime.durations import duration_string, parse_duration
from runtime.gotime.layout import ParseError, format_time, parse_time
from runtime.gotime.zones import (
    UTC,
    Location,
    LocationError,
    fixed_zone,
    load_location,
    local_location,
)

__all__ = [
    "UTC",
    "ZERO_UNIX",
    "Location",
    "LocationError",
    "ParseError",
    "date_to_unix",
    "duration_string",
    "fields_at",
    "fixed_zone",
    "format_time",
    "load_location",
    "local_location",
    "parse_duration",
    "parse_time",
]
