"""The proleptic Gregorian calendar over integers, as Go's ``time`` package computes it.

Instants are Unix seconds plus nanoseconds (0..999999999); a location turns an instant into a
wall clock by its UTC offset at that instant (:meth:`Location.lookup`).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

NANOS = 1_000_000_000
DAY = 86_400
#: Unix seconds of Go's zero time, January 1, year 1, 00:00:00 UTC (``Time.IsZero``).
ZERO_UNIX = -62_135_596_800

#: Days before each month of a common year (index 0: none; index 12: the whole year).
DAYS_BEFORE = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365)


class Zoned(Protocol):
    """What the calendar needs of a location."""

    def lookup(self, unix: int) -> tuple[str, int, bool]:
        """Zone abbreviation, UTC offset in seconds and DST flag in effect at ``unix``."""
        ...


def is_leap(year: int) -> bool:
    """Whether ``year`` has a February 29."""
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def days_in_month(year: int, month: int) -> int:
    """Days in ``month`` (1-12) of ``year``."""
    if month == 2 and is_leap(year):
        return 29
    return DAYS_BEFORE[month] - DAYS_BEFORE[month - 1]


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the date (month 1-12, day 1-31); negative before it."""
    # Counted in eras of 400 years starting in March, so the leap day ends each year.
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    mp = (month + 9) % 12
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146_097 + doe - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The (year, month, day) ``days`` after 1970-01-01."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day


def year_day(year: int, month: int, day: int) -> int:
    """Day of the year, 1-366."""
    extra = 1 if month > 2 and is_leap(year) else 0
    return DAYS_BEFORE[month - 1] + day + extra


def weekday_of(days: int) -> int:
    """0 = Sunday .. 6 = Saturday for the day ``days`` after 1970-01-01 (a Thursday)."""
    return (days + 4) % 7


def iso_week(year: int, month: int, day: int) -> tuple[int, int]:
    """ISO 8601 (year, week): weeks start on Monday, week 1 holds the year's first Thursday."""
    days = days_from_civil(year, month, day)
    monday_based = (weekday_of(days) + 6) % 7  # 0 = Monday
    thursday = days - monday_based + 3
    iso_year = civil_from_days(thursday)[0]
    first = days_from_civil(iso_year, 1, 1)
    return iso_year, (thursday - first) // 7 + 1


class Fields(NamedTuple):
    """An instant's wall clock in a location."""

    year: int
    month: int
    day: int
    hour: int
    minute: int
    second: int
    nanosecond: int
    weekday: int
    yday: int
    zone: str
    offset: int
    isdst: bool


def fields_at(sec: int, nsec: int, loc: Zoned) -> Fields:
    """The wall clock of the instant ``sec``/``nsec`` in ``loc``."""
    zone, offset, isdst = loc.lookup(sec)
    local = sec + offset
    days, sod = divmod(local, DAY)
    year, month, day = civil_from_days(days)
    return Fields(
        year,
        month,
        day,
        sod // 3600,
        sod % 3600 // 60,
        sod % 60,
        nsec,
        weekday_of(days),
        year_day(year, month, day),
        zone,
        offset,
        isdst,
    )


def wall_seconds(
    year: int, month: int, day: int, hour: int, minute: int, second: int, nsec: int
) -> tuple[int, int]:
    """Go's ``Date`` normalisation: the wall clock as seconds (read as if UTC) + nanoseconds.

    Every field may be out of its range (October 32 is November 1, hour -1 is the previous
    day's 23:00): the month is folded into the year, the rest is linear.
    """
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    carry, nsec = divmod(nsec, NANOS)
    days = days_from_civil(year, month, 1) + day - 1
    return days * DAY + hour * 3600 + minute * 60 + second + carry, nsec


def date_to_unix(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    nsec: int,
    loc: Zoned,
) -> tuple[int, int]:
    """The instant whose wall clock in ``loc`` is the given one (Go's ``time.Date``).

    In a gap or an overlap of a zone's transition the offset is the one in effect at the wall
    time read as UTC, corrected once: what Go does, so the same instant comes out.
    """
    wall, nsec = wall_seconds(year, month, day, hour, minute, second, nsec)
    _, guess, _ = loc.lookup(wall)
    if guess != 0:
        _, offset, _ = loc.lookup(wall - guess)
        wall -= offset
    return wall, nsec
