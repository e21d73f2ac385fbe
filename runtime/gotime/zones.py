"""Locations: UTC, the local zone, IANA zones (through :mod:`zoneinfo`) and fixed offsets.

Each location has a ``key``, a short text that names it completely (``"UTC"``, ``"Local"``,
``"Z:Asia/Tokyo"``, ``"F:-18000:EST"``), so that Lua values carry a location as a string and
nothing Python-side has to be kept per value.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Mapping
from datetime import UTC as _DT_UTC
from datetime import datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=_DT_UTC)
# datetime covers years 1..9999; outside, a zone's offset is taken at the nearest end (Go
# extends the first zone backwards and the last rule forwards: the same for real zones).
_FIRST = int((datetime(1, 1, 2, tzinfo=_DT_UTC) - _EPOCH).total_seconds())
_LAST = int((datetime(9999, 12, 30, tzinfo=_DT_UTC) - _EPOCH).total_seconds())
# Where :meth:`Location.zones_near` looks for the abbreviations a zone uses around an instant.
_PROBES = tuple(k * 91 * 86_400 for k in range(-4, 5))


class LocationError(Exception):
    """A location name that cannot be loaded; ``not_found`` tells a missing zone from bad input."""

    def __init__(self, message: str, *, not_found: bool) -> None:
        super().__init__(message)
        self.not_found = not_found


class Location:
    """A time zone: its name (``Location.String()`` in Go) and its offsets over time."""

    def __init__(self, key: str, name: str) -> None:
        self.key = key
        self.name = name

    def lookup(self, unix: int) -> tuple[str, int, bool]:
        """Abbreviation, UTC offset (seconds east) and DST flag in effect at ``unix``."""
        raise NotImplementedError

    def zones_near(self, unix: int) -> list[tuple[str, int]]:
        """The (abbreviation, offset) pairs the location uses around ``unix``, for reading a
        zone abbreviation in a parsed value."""
        seen: list[tuple[str, int]] = []
        for delta in _PROBES:
            abbr, offset, _ = self.lookup(unix + delta)
            if (abbr, offset) not in seen:
                seen.append((abbr, offset))
        return seen

    def __repr__(self) -> str:
        return f"Location({self.key!r})"


class FixedLocation(Location):
    """One offset forever: UTC, ``time.fixed_zone``, and zones made up while parsing."""

    def __init__(self, key: str, name: str, offset: int) -> None:
        super().__init__(key, name)
        self.offset = offset

    def lookup(self, unix: int) -> tuple[str, int, bool]:
        return self.name, self.offset, False

    def zones_near(self, unix: int) -> list[tuple[str, int]]:
        return [(self.name, self.offset)]


class ZoneLocation(Location):
    """An IANA zone read from the system's (or the ``tzdata`` package's) database."""

    def __init__(self, key: str, name: str, zone: zoneinfo.ZoneInfo) -> None:
        super().__init__(key, name)
        self.zone = zone

    def lookup(self, unix: int) -> tuple[str, int, bool]:
        return _zone_lookup(self.zone, min(max(unix, _FIRST), _LAST))


@functools.lru_cache(maxsize=4096)
def _zone_lookup(zone: zoneinfo.ZoneInfo, unix: int) -> tuple[str, int, bool]:
    moment = (_EPOCH + timedelta(seconds=unix)).astimezone(zone)
    offset = moment.utcoffset() or timedelta(0)
    dst = moment.dst()
    return moment.tzname() or "", int(offset.total_seconds()), bool(dst)


UTC = FixedLocation("UTC", "UTC", 0)


def fixed_zone(name: str, offset: int) -> FixedLocation:
    """``time.fixed_zone(name, offset)``: ``offset`` seconds east of UTC, always."""
    return FixedLocation(f"F:{offset}:{name}", name, offset)


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def load_location(name: str) -> Location:
    """``time.load_location(name)``: ``"UTC"``, or an IANA name such as ``"America/New_York"``.

    ``"Local"`` is refused here (the caller owns the local zone); so is anything that is not a
    plain zone name.

    Raises:
        LocationError: ``not_found`` False for an empty name, True for every name that does
            not load (as Go reports them: one error for missing and malformed names alike).
    """
    if name == "":
        raise LocationError("empty location name", not_found=False)
    if name == "UTC":
        return UTC
    # Go refuses these before reading anything; zoneinfo would refuse most, with other errors.
    if "\x00" in name or name.startswith("/") or ".." in name.split("/") or "\\" in name:
        raise LocationError(f"unknown time zone {name}", not_found=True)
    try:
        zone = _zone(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError, UnicodeError):
        raise LocationError(f"unknown time zone {name}", not_found=True) from None
    return ZoneLocation(f"Z:{name}", name, zone)


def local_location(environ: Mapping[str, str]) -> Location:
    """The local zone, as Go derives ``time.Local`` from ``TZ`` (key ``"Local"``).

    ``TZ`` unset, empty, ``UTC`` or naming no zone: UTC (named ``"UTC"``), which is what a
    Lambda function has. Unlike Go, an unset ``TZ`` does not read ``/etc/localtime``: the zone
    of the machine the kit runs on would make local runs differ from the deployed ones.
    """
    tz = environ.get("TZ", "")
    if tz.startswith(":"):
        tz = tz[1:]
    if tz and tz != "UTC":
        try:
            if tz.startswith("/"):
                with open(tz, "rb") as handle:
                    zone = zoneinfo.ZoneInfo.from_file(handle, key=tz)
                name = "Local" if tz == "/etc/localtime" else tz
            else:
                zone = _zone(tz)
                name = tz
            return ZoneLocation("Local", name, zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError, UnicodeError):
            pass
    return FixedLocation("Local", "UTC", 0)


def location_for_key(key: str, local: Location) -> Location:
    """The location a key names (see the module docstring).

    Raises:
        ValueError: not a key this module made.
    """
    if key == "UTC":
        return UTC
    if key == "Local":
        return local
    if key.startswith("Z:"):
        return load_location(key[2:])
    if key.startswith("F:"):
        offset, _, name = key[2:].partition(":")
        return fixed_zone(name, int(offset))
    raise ValueError(f"not a location key: {key!r}")
