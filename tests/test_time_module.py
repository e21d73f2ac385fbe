"""Wippy's ``time`` module and ``os`` time functions, as ``en/lua/core/time.md`` and
``en/lua/system/ostime.md`` state them: numbers are nanoseconds, constants are integers, Go
layouts and durations, zones, timers and tickers on the harness clock, durable in workflows."""

from __future__ import annotations

import math

import pytest

from runtime import manifest
from runtime.clock import ManualClock
from runtime.durable.events import Event
from runtime.durable.replay import Replay
from runtime.engine import Engine
from runtime.errors import INVALID, NOT_FOUND, TIMEOUT, UnitError
from runtime.modules import time_module
from runtime.testing import LocalCloud
from tests.conftest import functions_app

START = 1_767_225_600  # 2026-01-01T00:00:00Z, a Thursday


def run(make_app, body, *, environ=None, start=START, args=()):
    """Run ``body`` (the inside of a Lua function with ``time`` in scope) as a function
    entry on an engine with a ManualClock at ``start``; return its result."""
    source = f'local time = require("time")\nreturn {{ handler = function(...)\n{body}\nend }}\n'
    app = functions_app(make_app, {"f": (source, ["time", "funcs"])})
    engine = Engine(manifest.load_app(app), clock=ManualClock(start), environ=environ or {})
    try:
        return engine.call("app:f", list(args))
    finally:
        engine.close()


# -- constants ---------------------------------------------------------------------------------


def test_duration_constants_are_integer_nanoseconds(make_app):
    out = run(
        make_app,
        """
        local names = { "NANOSECOND", "MICROSECOND", "MILLISECOND", "SECOND", "MINUTE", "HOUR" }
        local out = {}
        for _, n in ipairs(names) do out[n] = { time[n], math.type(time[n]) } end
        return out
        """,
    )
    assert out == {
        "NANOSECOND": [1, "integer"],
        "MICROSECOND": [1_000, "integer"],
        "MILLISECOND": [1_000_000, "integer"],
        "SECOND": [1_000_000_000, "integer"],
        "MINUTE": [60_000_000_000, "integer"],
        "HOUR": [3_600_000_000_000, "integer"],
    }


def test_layout_month_and_weekday_constants(make_app):
    out = run(
        make_app,
        """
        local out = {}
        for _, n in ipairs({ "RFC3339", "RFC3339NANO", "RFC822", "RFC822Z", "RFC850", "RFC1123",
            "RFC1123Z", "DATE_TIME", "DATE_ONLY", "TIME_ONLY", "KITCHEN", "STAMP", "STAMP_MILLI",
            "STAMP_MICRO", "STAMP_NANO", "JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE",
            "JULY", "AUGUST", "SEPTEMBER", "OCTOBER", "NOVEMBER", "DECEMBER", "SUNDAY", "MONDAY",
            "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY" }) do
          out[n] = time[n]
        end
        return out
        """,
    )
    assert out == {
        "RFC3339": "2006-01-02T15:04:05Z07:00",
        "RFC3339NANO": "2006-01-02T15:04:05.999999999Z07:00",
        "RFC822": "02 Jan 06 15:04 MST",
        "RFC822Z": "02 Jan 06 15:04 -0700",
        "RFC850": "Monday, 02-Jan-06 15:04:05 MST",
        "RFC1123": "Mon, 02 Jan 2006 15:04:05 MST",
        "RFC1123Z": "Mon, 02 Jan 2006 15:04:05 -0700",
        "DATE_TIME": "2006-01-02 15:04:05",
        "DATE_ONLY": "2006-01-02",
        "TIME_ONLY": "15:04:05",
        "KITCHEN": "3:04PM",
        "STAMP": "Jan _2 15:04:05",
        "STAMP_MILLI": "Jan _2 15:04:05.000",
        "STAMP_MICRO": "Jan _2 15:04:05.000000",
        "STAMP_NANO": "Jan _2 15:04:05.000000000",
        **{
            m: i
            for i, m in enumerate(
                [
                    "JANUARY",
                    "FEBRUARY",
                    "MARCH",
                    "APRIL",
                    "MAY",
                    "JUNE",
                    "JULY",
                    "AUGUST",
                    "SEPTEMBER",
                    "OCTOBER",
                    "NOVEMBER",
                    "DECEMBER",
                ],
                start=1,
            )
        },
        **{
            d: i
            for i, d in enumerate(
                ["SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"]
            )
        },
    }


# -- creating times ------------------------------------------------------------------------------


def test_now_is_the_harness_clock_in_the_local_zone(make_app):
    out = run(
        make_app,
        """
        local t = time.now()
        return { unix = t:unix(), zone = t:location():string(), text = tostring(t),
                 rfc = t:format_rfc3339(), local_name = time.localtz:string(),
                 utc = time.utc:string() }
        """,
    )
    assert out == {
        "unix": START,
        "zone": "UTC",
        "text": "2026-01-01 00:00:00 +0000 UTC",
        "rfc": "2026-01-01T00:00:00Z",
        "local_name": "UTC",
        "utc": "UTC",
    }


def test_unix_takes_seconds_and_nanoseconds(make_app):
    out = run(
        make_app,
        """
        local js = 1703862245000
        local from_js = time.unix(js // 1000, (js % 1000) * 1000000)
        local half = time.unix(1703862245, 500000000)
        local back = time.unix(10, -1)  -- normalised: 9 s + 999999999 ns
        return { time.unix(1703862245, 0):utc():format_rfc3339(), half:nanosecond(),
                 half:unix_milli(), from_js:equal(time.unix(1703862245, 0)), back:unix(),
                 back:nanosecond(), half:unix_nano() }
        """,
    )
    assert out == [
        "2023-12-29T15:04:05Z",
        500_000_000,
        1_703_862_245_500,
        True,
        9,
        999_999_999,
        1_703_862_245_500_000_000,
    ]


def test_date_builds_a_time_normalises_and_defaults_to_local(make_app):
    out = run(
        make_app,
        """
        local t = time.date(2024, time.DECEMBER, 25, 10, 30, 0, 0, time.utc)
        local ny = time.load_location("America/New_York")
        local meeting = time.date(2024, time.JANUARY, 15, 14, 0, 0, 0, ny)
        return {
          t:format_rfc3339(),
          meeting:format(time.RFC3339), meeting:utc():hour(), meeting:location():string(),
          time.date(2024, 10, 32, 0, 0, 0, 0, time.utc):format(time.DATE_ONLY),
          time.date(2024, 13, 1, 0, 0, 0, 0, time.utc):format(time.DATE_ONLY),
          time.date(2024, 3, 1, -1, 0, 0, 0, time.utc):format(time.DATE_TIME),
          time.date(2024, 1, 1, 0, 0, 0, 1500000000, time.utc):format(time.RFC3339NANO),
          time.date(2024, 1, 15, 12, 0, 0, 0):location():string(),
        }
        """,
    )
    assert out == [
        "2024-12-25T10:30:00Z",
        "2024-01-15T14:00:00-05:00",
        19,
        "America/New_York",
        "2024-11-01",
        "2025-01-01",
        "2024-02-29 23:00:00",
        "2024-01-01T00:00:01.5Z",
        "UTC",
    ]


def test_local_is_the_zone_tz_names(make_app):
    out = run(
        make_app,
        """
        local t = time.date(2024, 1, 15, 12, 0, 0, 0)
        return { t:utc():hour(), t:format("MST -07:00"), time.localtz:string(),
                 time.now():location():string(), time.now():hour(), t:in_local():hour(),
                 time.unix(0, 0):format(time.DATE_TIME) }
        """,
        environ={"TZ": ":Asia/Tokyo"},
    )
    assert out == [3, "JST +09:00", "Asia/Tokyo", "Asia/Tokyo", 9, 12, "1970-01-01 09:00:00"]


def test_a_tz_that_names_no_zone_is_utc(make_app):
    out = run(make_app, "return time.localtz:string()", environ={"TZ": "No/Such_Zone"})
    assert out == "UTC"


# -- parsing --------------------------------------------------------------------------------------


def test_parse_reads_go_layouts(make_app):
    out = run(
        make_app,
        """
        local a = time.parse(time.RFC3339, "2024-12-29T15:04:05Z")
        local b = time.parse("2006-01-02", "2024-12-29")
        local c = time.parse("15:04:05", "14:30:00")
        local d = time.parse("2006-01-02 15:04:05 MST", "2024-12-29 14:30:00 EST")
        local ny = time.load_location("America/New_York")
        local e = time.parse("2006-01-02 15:04", "2024-12-29 14:30", ny)
        local f = time.parse("2006-01-02 15:04:05 MST", "2024-07-04 09:00:00 EDT", ny)
        local g = time.parse(time.RFC3339, "2024-12-29T15:04:05+05:30")
        return {
          a:unix(), a:location():string(),
          b:format(time.RFC3339),
          { c:year(), c:month(), c:day(), c:hour(), c:minute() },
          d:format(time.RFC3339 .. " MST"), d:location():string(),
          e:utc():format(time.DATE_TIME), e:location():string(),
          f:utc():hour(), f:location():string(),
          g:utc():format(time.TIME_ONLY), g:format("Z07:00"), g:location():string(),
        }
        """,
    )
    assert out == [
        1735484645,
        "UTC",
        "2024-12-29T00:00:00Z",
        [0, 1, 1, 14, 30],
        "2024-12-29T14:30:00Z EST",  # Go's rule: an abbreviation the zone lacks reads as +0
        "EST",
        "2024-12-29 19:30:00",
        "America/New_York",
        13,
        "America/New_York",
        "09:34:05",
        "+05:30",
        "",
    ]


def test_parse_failures_are_invalid_errors_with_go_messages(make_app):
    out = run(
        make_app,
        """
        local out = {}
        for _, case in ipairs({
          { time.RFC3339, "invalid" },
          { "2006-01-02", "2009-13-01" },
          { "2006-01-02", "2009-02-30" },
          { "2006-01-02", "2009-02-03 extra" },
          { "15:04", "25:00" },
          { "2006 002", "2009 366" },
        }) do
          local t, err = time.parse(case[1], case[2])
          assert(err:retryable() == false)
          out[#out + 1] = { t == nil, err:kind(), err:message() }
        end
        return out
        """,
    )
    prefix = "time.parse: parsing time "
    assert out == [
        [
            True,
            INVALID,
            prefix + '"invalid" as "2006-01-02T15:04:05Z07:00": cannot parse "invalid" as "2006"',
        ],
        [True, INVALID, prefix + '"2009-13-01": month out of range'],
        [True, INVALID, prefix + '"2009-02-30": day out of range'],
        [True, INVALID, prefix + '"2009-02-03 extra": extra text: " extra"'],
        [True, INVALID, prefix + '"25:00": hour out of range'],
        [True, INVALID, prefix + '"2009 366": day-of-year out of range'],
    ]


# -- layout elements, one by one --------------------------------------------------------------

# 2009-02-03 (a Tuesday, day 34) 16:05:06.0789 in a zone 3h30 west of UTC named XST.
REFERENCE = 'time.date(2009, 2, 3, 16, 5, 6, 78900000, time.fixed_zone("XST", -12600))'

FORMATS = [
    ("2006", "2009"),
    ("06", "09"),
    ("01", "02"),
    ("1", "2"),
    ("Jan", "Feb"),
    ("January", "February"),
    ("02", "03"),
    ("2", "3"),
    ("_2", " 3"),
    ("15", "16"),
    ("03", "04"),
    ("3", "4"),
    ("04", "05"),
    ("4", "5"),
    ("05", "06"),
    ("5", "6"),
    ("PM", "PM"),
    ("pm", "pm"),
    ("MST", "XST"),
    ("-0700", "-0330"),
    ("-07:00", "-03:30"),
    ("-07", "-03"),
    ("-070000", "-033000"),
    ("-07:00:00", "-03:30:00"),
    ("Z07:00", "-03:30"),
    ("Z0700", "-0330"),
    ("Z07", "-03"),
    ("Z070000", "-033000"),
    ("Z07:00:00", "-03:30:00"),
    (".000", ".078"),
    (".000000", ".078900"),
    (".000000000", ".078900000"),
    (".999", ".078"),
    (".999999999", ".0789"),
    (".9", ""),
    (",000", ",078"),
    ("Mon", "Tue"),
    ("Monday", "Tuesday"),
    ("002", "034"),
    ("__2", " 34"),
    ("_2006", "_2009"),
    ("Mon Jan 2 15:04:05 MST 2006", "Tue Feb 3 16:05:06 XST 2009"),
    ("2006-01-02T15:04:05.999999999Z07:00", "2009-02-03T16:05:06.0789-03:30"),
    ("3:04PM", "4:05PM"),
    ("literal text: 2006", "literal text: 2009"),
]


@pytest.mark.parametrize(("layout", "expected"), FORMATS, ids=[f[0] for f in FORMATS])
def test_format_element(make_app, layout, expected):
    assert run(make_app, f"return {REFERENCE}:format(...)", args=[layout]) == expected


def test_format_elements_that_depend_on_the_value(make_app):
    out = run(
        make_app,
        """
        local utc, at = time.utc, function(h, d) return time.date(2024, 1, d or 3, h, 7, 0, 0, time.utc) end
        return {
          at(0):format("3 03 PM pm"), at(12):format("3 03 PM pm"), at(23):format("3 PM"),
          at(9, 13):format("_2|2|02"), time.date(2024, 12, 31, 0, 0, 0, 0, utc):format("002 __2"),
          time.date(2024, 1, 5, 0, 0, 0, 0, utc):format("__2"),
          at(0):format("Z07:00 Z0700 Z07 -07:00 MST"),
          time.date(2024, 1, 1, 0, 0, 0, 5, utc):format(".000|.999999999|.999"),
          time.date(2024, 1, 1, 0, 0, 0, 0, utc):format("05.999 05.000"),
        }
        """,
    )
    assert out == [
        "12 12 AM am",
        "12 12 PM pm",
        "11 PM",
        "13|13|13",
        "366 366",
        "  5",
        "Z Z Z +00:00 UTC",
        ".000|.000000005|",
        "00 00.000",
    ]


PARSES = [
    # layout, value, the parsed time shown as RFC3339 with nanoseconds
    ("2006-01-02", "2009-02-03", "2009-02-03T00:00:00Z"),
    ("06-1-2", "09-2-3", "2009-02-03T00:00:00Z"),
    ("06", "70", "1970-01-01T00:00:00Z"),
    ("06", "68", "2068-01-01T00:00:00Z"),
    ("Jan 2 2006", "feb 3 2009", "2009-02-03T00:00:00Z"),
    ("January _2 2006", "February  3 2009", "2009-02-03T00:00:00Z"),
    ("Jan _2", "Feb 13", "0000-02-13T00:00:00Z"),
    ("Monday, 02-Jan-06", "Tuesday, 03-Feb-09", "2009-02-03T00:00:00Z"),
    ("Mon 2006-01-02", "Sun 2009-02-03", "2009-02-03T00:00:00Z"),  # weekday read, not checked
    ("2006 002", "2009 034", "2009-02-03T00:00:00Z"),
    ("2006 __2", "2009  34", "2009-02-03T00:00:00Z"),
    ("2006 002", "2008 060", "2008-02-29T00:00:00Z"),
    ("15:04:05", "16:05:06", "0000-01-01T16:05:06Z"),
    ("3:04PM", "4:05PM", "0000-01-01T16:05:00Z"),
    ("03:04pm", "12:05am", "0000-01-01T00:05:00Z"),
    ("3:04PM", "12:30PM", "0000-01-01T12:30:00Z"),
    ("15:04:05.000", "16:05:06.078", "0000-01-01T16:05:06.078Z"),
    ("15:04:05.999", "16:05:06.0789", "0000-01-01T16:05:06.0789Z"),
    ("15:04:05.999", "16:05:06", "0000-01-01T16:05:06Z"),
    ("15:04:05", "16:05:06.25", "0000-01-01T16:05:06.25Z"),
    ("15:04:05,000", "16:05:06,078", "0000-01-01T16:05:06.078Z"),
    ("2006-01-02T15:04:05Z0700", "2009-02-03T16:05:06Z", "2009-02-03T16:05:06Z"),
    ("2006-01-02T15:04:05Z0700", "2009-02-03T16:05:06-0330", "2009-02-03T16:05:06-03:30"),
    ("2006-01-02T15:04:05-07", "2009-02-03T16:05:06-03", "2009-02-03T16:05:06-03:00"),
    ("2006-01-02T15:04:05-070000", "2009-02-03T16:05:06+013000", "2009-02-03T16:05:06+01:30"),
    ("2006-01-02T15:04:05-07:00:00", "2009-02-03T16:05:06+01:30:00", "2009-02-03T16:05:06+01:30"),
    ("2006-01-02 15:04 MST", "2009-02-03 16:05 UTC", "2009-02-03T16:05:00Z"),
    ("2006-01-02 15:04 MST", "2009-02-03 16:05 GMT+3", "2009-02-03T16:05:00+03:00"),
    ("2006-01-02  15:04", "2009-02-03 16:05", "2009-02-03T16:05:00Z"),  # spaces match runs
]


@pytest.mark.parametrize(("layout", "value", "expected"), PARSES, ids=[p[1] for p in PARSES])
def test_parse_element(make_app, layout, value, expected):
    body = """
        local t, err = time.parse(...)
        if err then return err:message() end
        return t:format(time.RFC3339NANO)
    """
    assert run(make_app, body, args=[layout, value]) == expected


@pytest.mark.parametrize(
    ("layout", "value"),
    [
        ("Mon 2006", "Xyz 2009"),
        ("15:04:05.000", "16:05:06.07"),
        ("01", "1"),  # 01 needs two digits
        ("002", "34"),
        ("2006", "09"),
        ("PM", "XM"),
        ("-07:00", "-0330"),
        ("MST", "x"),
    ],
)
def test_parse_element_mismatch(make_app, layout, value):
    out = run(
        make_app,
        "local t, err = time.parse(...) return { t == nil, err:kind() }",
        args=[layout, value],
    )
    assert out == [True, INVALID]


# -- Time methods -----------------------------------------------------------------------------


def test_time_arithmetic(make_app):
    out = run(
        make_app,
        """
        local t = time.date(2024, 12, 29, 15, 4, 5, 0, time.utc)
        local d = time.parse_duration("1h30m")
        local tomorrow = t:add("24h")
        return {
          t:add(5 * time.MINUTE):format(time.TIME_ONLY),
          t:add(d):format(time.TIME_ONLY),
          t:add(-time.SECOND):format(time.TIME_ONLY),
          t:add(1.5 * time.SECOND):format("15:04:05.999"),
          tomorrow:sub(t):hours(),
          t:sub(tomorrow):hours(),
          tostring(tomorrow:sub(t)),
          time.date(2024, 1, 31, 0, 0, 0, 0, time.utc):add_date(0, 1, 0):format(time.DATE_ONLY),
          t:add_date(1, 2, 3):format(time.DATE_ONLY),
          t:add_date(0, 0, -7):format(time.DATE_ONLY),
          time.unix(0, 0):sub(time.date(1, 1, 1, 0, 0, 0, 0, time.utc)):nanoseconds(),
        }
        """,
    )
    assert out == [
        "15:09:05",
        "16:34:05",
        "15:04:04",
        "15:04:06.5",
        24.0,
        -24.0,
        "24h0m0s",
        "2024-03-02",  # January 31 + 1 month is February 31: March 2
        "2026-03-04",
        "2024-12-22",
        2**63 - 1,  # saturated, as Go's Sub
    ]


def test_time_add_refuses_what_is_not_a_duration(make_app):
    with pytest.raises(UnitError, match=r"time:add: .*invalid duration"):
        run(make_app, 'return time.now():add("soon")')
    with pytest.raises(UnitError, match="time:sub: expected a Time"):
        run(make_app, "return time.now():sub(5)")


def test_comparison_methods_and_operators(make_app):
    out = run(
        make_app,
        """
        local t1 = time.date(2024, 1, 1, 0, 0, 0, 0, time.utc)
        local t2 = time.date(2024, 1, 2, 0, 0, 0, 0, time.utc)
        local ny = t1:in_location(time.load_location("America/New_York"))
        local ok_lt = pcall(function() return t1 < t2 end)
        local ok_dlt = pcall(function() return time.parse_duration("1s") < time.parse_duration("2s") end)
        local ok_add = pcall(function() return time.parse_duration("1s") + time.parse_duration("2s") end)
        return { t1:before(t2), t2:after(t1), t1:equal(t1), t1:equal(t2), t1:equal(ny),
                 t1:before(t1), t1 == t1, t1 == time.date(2024, 1, 1, 0, 0, 0, 0, time.utc),
                 ok_lt, ok_dlt, ok_add }
        """,
    )
    # Like Wippy's userdata: methods compare, == is identity, no ordering or arithmetic.
    assert out == [True, True, True, False, True, False, True, False, False, False, False]


def test_components_and_unix(make_app):
    out = run(
        make_app,
        """
        local t = time.date(2024, 12, 29, 15, 4, 5, 123456789, time.utc)
        local y, m, d = t:date()
        local h, mi, s = t:clock()
        return { y, m, d, h, mi, s, t:year(), t:month(), t:day(), t:hour(), t:minute(),
                 t:second(), t:nanosecond(), t:weekday(), t:year_day(), t:unix(), t:unix_nano(),
                 t:unix_milli(), t:is_zero(), time.date(1, 1, 1, 0, 0, 0, 0, time.utc):is_zero(),
                 time.date(2024, 3, 1, 0, 0, 0, 0, time.utc):year_day(),
                 time.date(1970, 1, 1, 0, 0, 1, 0, time.utc):unix(),
                 time.date(1970, 1, 1, 0, 0, 0, 1, time.utc):unix_nano() }
        """,
    )
    assert out == [
        2024,
        12,
        29,
        15,
        4,
        5,
        2024,
        12,
        29,
        15,
        4,
        5,
        123456789,
        0,  # a Sunday
        364,
        1735484645,
        1735484645123456789,
        1735484645123,
        False,
        True,
        61,
        1,
        1,
    ]


def test_formatting_methods(make_app):
    out = run(
        make_app,
        """
        local t = time.date(2024, 12, 29, 15, 4, 5, 500000000, time.utc)
        local ist = time.fixed_zone("IST", 5 * 3600 + 30 * 60)
        return { t:format_rfc3339(), t:format(time.DATE_ONLY), t:format(time.TIME_ONLY),
                 t:format("Mon Jan 2, 2006"), t:in_location(ist):format_rfc3339(),
                 t:format(time.KITCHEN), t:format(time.RFC1123), t:format(time.STAMP_MILLI),
                 tostring(t), tostring(t:in_location(ist)) }
        """,
    )
    assert out == [
        "2024-12-29T15:04:05Z",  # RFC3339 has no fraction
        "2024-12-29",
        "15:04:05",
        "Sun Dec 29, 2024",
        "2024-12-29T20:34:05+05:30",
        "3:04PM",
        "Sun, 29 Dec 2024 15:04:05 UTC",
        "Dec 29 15:04:05.500",
        "2024-12-29 15:04:05.5 +0000 UTC",
        "2024-12-29 20:34:05.5 +0530 IST",
    ]


def test_zone_conversion_keeps_the_instant(make_app):
    out = run(
        make_app,
        """
        local t = time.date(2024, 7, 1, 12, 0, 0, 0, time.utc)
        local ny, tokyo = time.load_location("America/New_York"), time.load_location("Asia/Tokyo")
        local in_ny = t:in_location(ny)
        return { in_ny:format(time.TIME_ONLY .. " MST"), t:in_location(tokyo):format(time.TIME_ONLY),
                 in_ny:unix() == t:unix(), in_ny:location():string(), tostring(in_ny:location()),
                 in_ny:utc():location():string(), in_ny:in_local():location():string(),
                 in_ny:add("1h"):location():string() }
        """,
    )
    assert out == [
        "08:00:00 EDT",
        "21:00:00",
        True,
        "America/New_York",
        "America/New_York",
        "UTC",
        "UTC",
        "America/New_York",  # a Time keeps its location
    ]


def test_round_and_truncate_take_a_duration(make_app):
    out = run(
        make_app,
        """
        local t = time.parse("2006-01-02T15:04:05.999999999Z", "2024-01-01T12:34:56.789Z")
        local half = time.parse("2006-01-02T15:04:05.999Z", "2024-01-01T12:34:56.5Z")
        local one = time.parse_duration("1s")
        local ok, err = pcall(function() return t:round(time.SECOND) end)
        return { t:round(one):format(time.RFC3339), t:truncate(time.parse_duration("1m")):format(time.RFC3339),
                 half:round(one):format(time.RFC3339), t:round(time.parse_duration("1h")):format(time.RFC3339),
                 t:truncate(time.parse_duration("0s")):format(time.RFC3339NANO), ok,
                 tostring(err):match("expected a Duration") ~= nil }
        """,
    )
    assert out == [
        "2024-01-01T12:34:57Z",
        "2024-01-01T12:34:00Z",
        "2024-01-01T12:34:57Z",  # halfway rounds up
        "2024-01-01T13:00:00Z",
        "2024-01-01T12:34:56.789Z",
        False,
        True,
    ]


# -- durations ------------------------------------------------------------------------------------


def test_duration_methods_and_text(make_app):
    out = run(
        make_app,
        """
        local d = time.parse_duration("1h30m45s500ms")
        local neg = time.parse_duration(-1500)
        local out = { d:hours(), d:minutes(), d:seconds(), d:milliseconds(), d:microseconds(),
                      d:nanoseconds(), neg:microseconds(), neg:nanoseconds(), tostring(d),
                      math.type(d:milliseconds()), math.type(d:seconds()) }
        for _, v in ipairs({ "0s", "1.5s", "250ms", "1us", "2ns", "-90m", "1h", "100h30m" }) do
          out[#out + 1] = tostring(time.parse_duration(v))
        end
        return out
        """,
    )
    assert out[:3] == [pytest.approx(1.5126388888), pytest.approx(90.7583333333), 5445.5]
    assert out[3:] == [
        5445500,
        5445500000,
        5445500000000,
        -1,  # truncated toward zero, as Go
        -1500,
        "1h30m45.5s",
        "integer",
        "float",
        "0s",
        "1.5s",
        "250ms",
        "1\u00b5s",
        "2ns",
        "-1h30m0s",
        "1h0m0s",
        "100h30m0s",
    ]


def test_parse_duration_takes_strings_numbers_and_durations(make_app):
    out = run(
        make_app,
        """
        local out = {}
        for _, v in ipairs({ "1h30m45s", "500ms", "2h30m45s500ms", ".5us", "1.5h", "-2m", "+3s",
            "0", "1\\u{00b5}s", "1\\u{03bc}s" }) do
          local d = assert(time.parse_duration(v))
          out[#out + 1] = d:nanoseconds()
        end
        out[#out + 1] = time.parse_duration(time.SECOND):seconds()
        out[#out + 1] = time.parse_duration(5 * time.MINUTE):minutes()
        out[#out + 1] = time.parse_duration(1.9):nanoseconds()
        local d = time.parse_duration("2s")
        out[#out + 1] = time.parse_duration(d):nanoseconds()
        return out
        """,
    )
    assert out == [
        5445 * 10**9,
        500 * 10**6,
        9045500 * 10**6,
        500,
        5400 * 10**9,
        -120 * 10**9,
        3 * 10**9,
        0,
        1000,
        1000,
        1.0,
        5.0,
        1,  # a float of nanoseconds is truncated
        2 * 10**9,
    ]


def test_parse_duration_errors(make_app):
    out = run(
        make_app,
        """
        local out = {}
        for _, v in ipairs({ "soon", "1", "5x", "", "1h-5m", ".s", true }) do
          local d, err = time.parse_duration(v)
          assert(err:retryable() == false)
          out[#out + 1] = { d == nil, err:kind(), err:message() }
        end
        return out
        """,
    )
    p = "time.parse_duration: "
    assert out == [
        [True, INVALID, p + 'invalid duration "soon"'],
        [True, INVALID, p + 'missing unit in duration "1"'],
        [True, INVALID, p + 'unknown unit "x" in duration "5x"'],
        [True, INVALID, p + 'invalid duration ""'],
        [True, INVALID, p + 'unknown unit "h-" in duration "1h-5m"'],
        [True, INVALID, p + 'invalid duration ".s"'],
        [True, INVALID, p + "invalid value type: boolean"],
    ]


# -- zones ----------------------------------------------------------------------------------------


def test_load_location_and_fixed_zones(make_app):
    out = run(
        make_app,
        """
        local out = {}
        for _, name in ipairs({ "America/New_York", "Europe/London", "Asia/Tokyo", "UTC" }) do
          local loc, err = time.load_location(name)
          out[#out + 1] = { loc:string(), err == nil }
        end
        local ist = time.fixed_zone("IST", 5 * 3600 + 30 * 60)
        local pst = time.fixed_zone("PST", -8 * 3600)
        local t = time.date(2024, 1, 15, 12, 0, 0, 0, ist)
        out[#out + 1] = { ist:string(), tostring(pst), t:utc():format(time.TIME_ONLY),
                          t:format("MST -07:00"), time.fixed_zone("", 3600):string() }
        return out
        """,
    )
    assert out == [
        ["America/New_York", True],
        ["Europe/London", True],
        ["Asia/Tokyo", True],
        ["UTC", True],
        ["IST", "PST", "06:30:00", "IST +05:30", ""],
    ]


def test_load_location_errors(make_app):
    out = run(
        make_app,
        """
        local out = {}
        for _, name in ipairs({ "Unknown/Zone", "", "../../etc/passwd", "/etc/localtime" }) do
          local loc, err = time.load_location(name)
          out[#out + 1] = { loc == nil, err:kind(), err:retryable() }
        end
        return out
        """,
    )
    assert out == [
        [True, NOT_FOUND, False],
        [True, INVALID, False],
        [True, NOT_FOUND, False],
        [True, NOT_FOUND, False],
    ]


# -- scheduling on the harness clock ------------------------------------------------------------


def test_sleep_takes_nanoseconds_strings_and_durations(make_app):
    out = run(
        make_app,
        """
        local t0 = time.now()
        local function since() return time.now():sub(t0):milliseconds() end
        local out = {}
        time.sleep(500 * time.MILLISECOND); out[#out + 1] = since()
        time.sleep("5s"); out[#out + 1] = since()
        time.sleep(time.parse_duration("1m")); out[#out + 1] = since()
        time.sleep(0); time.sleep(-time.SECOND); out[#out + 1] = since()
        local r, err = time.sleep("soon")
        out[#out + 1] = { r == nil, err:kind(), since() }
        local r2, err2 = time.sleep({})
        out[#out + 1] = err2:kind()
        return out
        """,
    )
    assert out == [500, 5500, 65500, 65500, [True, INVALID, 65500], INVALID]


def test_after_delivers_one_time_then_closes(make_app):
    out = run(
        make_app,
        """
        local t0 = time.now()
        local ch = time.after("30s")
        local fired, ok = ch:receive()
        local again, ok2 = ch:receive()
        local fast, slow = time.after(5 * time.MILLISECOND), time.after("50ms")
        local r = channel.select({ slow:case_receive(), fast:case_receive() })
        local nilch, err = time.after(0)
        local nilch2, err2 = time.after("nope")
        return { fired:sub(t0):seconds(), ok, again == nil, ok2, r.channel == fast,
                 r.value:sub(t0):milliseconds(), fired:location():string(),
                 nilch == nil, err:kind(), err:message(), err2:kind() }
        """,
    )
    assert out == [
        30.0,
        True,
        True,
        False,
        True,
        30005,
        "UTC",
        True,
        INVALID,
        "time.after: duration must be > 0",
        INVALID,
    ]


def test_timer_fires_once_stops_and_resets(make_app):
    out = run(
        make_app,
        """
        local t0 = time.now()
        local function since(t) return (t or time.now()):sub(t0):seconds() end
        local out = {}
        local timer = time.timer("5s")
        out.same = timer:response() == timer:channel() and timer:response() == timer:response()
        out.fired = since(timer:response():receive())
        out.stop_after_fire = timer:stop()
        out.reset_after_fire = timer:reset("1s")
        local _, open = timer:response():receive()
        out.open_after_fire = open

        local idle = time.timer("10s")
        out.stopped = idle:stop()
        out.stopped_again = idle:stop()
        local v, ok = idle:response():receive()
        out.stopped_receive = { v == nil, ok, since() }
        time.sleep("20s")  -- a stopped timer never fires: the sleep is what moves time

        local t1 = time.now()
        local late = time.timer(100 * time.SECOND)
        out.reset = late:reset("3s")
        out.reset_fired = late:response():receive():sub(t1):seconds()

        local bad, err = time.timer(-time.SECOND)
        local bad2, err2 = time.timer("x")
        out.errors = { bad == nil, err:kind(), err:message(), bad2 == nil, err2:kind() }
        out.reset_raises = select(2, pcall(function() time.timer("1s"):reset(0) end)):match("duration must be > 0") ~= nil
        return out
        """,
    )
    assert out == {
        "same": True,
        "fired": 5.0,
        "stop_after_fire": False,
        "reset_after_fire": False,
        "open_after_fire": False,
        "stopped": True,
        "stopped_again": False,
        "stopped_receive": [True, False, 5.0],
        "reset": True,
        "reset_fired": 3.0,
        "errors": [True, INVALID, "time.timer: duration must be > 0", True, INVALID],
        "reset_raises": True,
    }


def test_timer_select_with_reset_on_activity(make_app):
    # The docs' idle-timeout pattern: activity resets the timer; silence fires it.
    out = run(
        make_app,
        """
        local t0 = time.now()
        local activity = channel.new(0)
        coroutine.spawn(function()
          for _ = 1, 3 do time.sleep("4m"); activity:send("click") end
        end)
        local idle = time.timer("5m")
        local seen = 0
        while true do
          local r = channel.select({ activity:case_receive(), idle:response():case_receive() })
          if r.channel == idle:response() then break end
          seen = seen + 1
          idle:reset("5m")
        end
        return { seen, time.now():sub(t0):minutes() }
        """,
    )
    assert out == [3, 17.0]


def test_ticker_ticks_until_stopped(make_app):
    out = run(
        make_app,
        """
        local t0 = time.now()
        local ticker = time.ticker("30s")
        local ch = ticker:response()
        local ticks = {}
        for i = 1, 3 do ticks[i] = ch:receive():sub(t0):seconds() end
        local same = ticker:channel() == ch
        local stopped = ticker:stop()
        local v, ok = ch:receive()
        local fast = time.ticker(100 * time.MILLISECOND)
        local n = 0
        for _ = 1, 5 do fast:response():receive(); n = n + 1 end
        fast:stop()
        local bad, err = time.ticker(0)
        return { ticks, same, stopped, v == nil, ok, n, time.now():sub(t0):milliseconds(),
                 bad == nil, err:kind() }
        """,
    )
    assert out == [[30.0, 60.0, 90.0], True, True, True, False, 5, 90500, True, INVALID]


def test_a_stopped_ticker_leaves_a_blocked_call_a_deadlock(make_app):
    body = """
        local ticker = time.ticker("1s")
        ticker:response():receive()
        ticker:stop()
        channel.new(0):receive()  -- nothing will ever send: not kept alive by the ticker
    """
    with pytest.raises(UnitError, match="deadlock"):
        run(make_app, body)


def test_an_unread_ticker_under_the_harness_clock_fails_instead_of_spinning(make_app, monkeypatch):
    monkeypatch.setattr(time_module, "_UNREAD_TICKS_LIMIT", 50)
    body = """
        local ticker = time.ticker("1s")
        channel.new(0):receive()
    """
    with pytest.raises(UnitError, match="ticks in a row went unread"):
        run(make_app, body)


def test_option_tables_read_numbers_as_milliseconds(make_app):
    # time.* numbers are nanoseconds; with_options({timeout = n}) is milliseconds, as Wippy.
    app = functions_app(
        make_app,
        {
            "slow": (
                'local time = require("time")\n'
                'return { handler = function() time.sleep(10 * time.SECOND); return "late" end }',
                ["time"],
            ),
            "caller": (
                """
                local funcs, time = require("funcs"), require("time")
                return { handler = function()
                  local t0 = time.now()
                  local v, err = funcs.new():with_options({ timeout = 1500 }):call("app:slow")
                  return { err:kind(), time.now():sub(t0):milliseconds() }
                end }
                """,
                ["funcs", "time"],
            ),
        },
    )
    engine = Engine(manifest.load_app(app), clock=ManualClock(START))
    try:
        assert engine.call("app:caller") == [TIMEOUT, 1500]
    finally:
        engine.close()


# -- os -------------------------------------------------------------------------------------------


def test_os_time_date_clock_difftime_platform(make_app):
    out = run(
        make_app,
        """
        local ts = os.time({ year = 2024, month = 6, day = 15, hour = 14, min = 30, sec = 45 })
        local out = { now = os.time(), ts = ts, platform = os.platform }
        out.parts = { os.date("%Y", ts), os.date("%m", ts), os.date("%d", ts), os.date("%H", ts),
                      os.date("%M", ts), os.date("%S", ts) }
        out.default = os.date()
        out.formats = os.date("%c|%x|%X|%a %A %b %B|%I%p|%j|%U %W|%w|%y|%z %Z|%%|%Q|%", ts)
        out.iso = os.date("!%Y-%m-%dT%H:%M:%S", ts)
        out.t = os.date("*t", ts)
        out.ut = os.date("!*t", ts)
        out.midnight = os.time({ year = 2024, month = 6, day = 15 })
        out.first = os.date("%Y-%m-%d %H:%M", os.time({ day = 1 }))
        out.diff = { os.difftime(ts + 30, ts), os.difftime(ts, ts + 30), math.type(os.difftime(2, 1)) }
        local c0 = os.clock()
        time.sleep("2s")
        out.clock = { c0 >= 0, os.clock() - c0 }
        return out
        """,
    )
    assert out["now"] == START and out["ts"] == 1718461845 and out["platform"] == "wippy"
    assert out["parts"] == ["2024", "06", "15", "14", "30", "45"]
    assert out["default"] == "Thu Jan  1 00:00:00 2026"
    assert out["formats"] == (
        "Sat Jun 15 14:30:45 2024|06/15/24|14:30:45|Sat Saturday Jun June|02PM|167|24 24|6|24"
        "|+0000 UTC|%|%Q|%"
    )
    assert out["iso"] == "2024-06-15T14:30:45"
    expected_t = {
        "year": 2024,
        "month": 6,
        "day": 15,
        "hour": 14,
        "min": 30,
        "sec": 45,
        "wday": 7,
        "yday": 167,
        "isdst": False,
    }
    assert out["t"] == expected_t and out["ut"] == expected_t
    assert out["midnight"] == 1718409600
    assert out["first"] == "2026-01-01 00:00"
    assert out["diff"] == [30.0, -30.0, "float"]
    assert out["clock"] == [True, 2.0]


def test_os_dates_use_the_local_zone(make_app):
    out = run(
        make_app,
        """
        local ts = os.time({ year = 2024, month = 7, day = 4, hour = 9 })
        local t = os.date("*t", ts)
        return { ts, os.date("%H %Z %z", ts), os.date("!%H %Z", ts), t.isdst, t.hour }
        """,
        environ={"TZ": "America/New_York"},
    )
    assert out == [1720098000, "09 EDT -0400", "13 UTC", True, 9]


def test_os_argument_errors(make_app):
    with pytest.raises(UnitError, match=r"bad argument #1 to 'time' \(table expected"):
        run(make_app, 'return os.time("now")')
    with pytest.raises(UnitError, match=r"bad argument #2 to 'date' \(number expected"):
        run(make_app, 'return os.date("%Y", "x")')


# -- workflows: durable timers and tickers ------------------------------------------------------

TICKING = """
local time = require("time")

-- A ticker, a timer stopped before it is due and a timer reset to fire earlier.
local function main(input)
  local started = time.now()
  local function since(t) return t:sub(started):seconds() end
  local idle = time.timer("90m")
  local moved = time.timer("10h")
  local moved_reset = moved:reset("150m")
  local ticker = time.ticker("1h")
  local ticks, stopped = {}, nil
  for i = 1, 3 do
    local at = ticker:response():receive()
    ticks[i] = { at = since(at), now = since(time.now()), os = os.time() - started:unix() }
    if i == 1 then stopped = idle:stop() end
  end
  ticker:stop()
  local _, still_ticking = ticker:response():receive()
  local _, idle_open = idle:response():receive()
  return {
    ticks = ticks, stopped = stopped, moved_reset = moved_reset,
    moved_at = since(moved:response():receive()), idle_open = idle_open,
    still_ticking = still_ticking,
  }
end

return { main = main }
"""

TICKING_INDEX = """
version: "1.0"
namespace: app
entries:
  - name: flows
    kind: workflow.host
  - name: ticking
    kind: workflow.lua
    source: file://ticking.lua
    modules: [time]
"""


def test_a_workflow_ticker_and_timers_are_durable_and_replay_the_same(make_app):
    app = make_app(TICKING_INDEX, {"ticking.lua": TICKING})
    with LocalCloud(app) as cloud:
        run_id = cloud.start_workflow("app:ticking", {})
        cloud.run_workflows()
        assert cloud.result(run_id).status == "running"
        for _ in range(6):  # half an hour at a time: every timer fires when it is due
            cloud.advance_time(1800)
        result = cloud.result(run_id)
        history = cloud.history(run_id)
        registry = cloud.registry
    assert result.status == "completed", result.error
    assert result.result == {
        "ticks": [
            {"at": 3600.0, "now": 3600.0, "os": 3600},
            {"at": 7200.0, "now": 7200.0, "os": 7200},
            {"at": 10800.0, "now": 10800.0, "os": 10800},
        ],
        "stopped": True,
        "moved_reset": True,
        "moved_at": 9000.0,
        "idle_open": False,
        "still_ticking": False,
    }
    types = [e["type"] for e in history]
    # idle, moved again (2.5h), the ticker and two re-arms: the 10h timer reset and the
    # re-arm stopped in the step that started them were never recorded (nothing waits).
    assert types.count("TimerStarted") == 5
    # The stopped idle timer is dropped, not fired; 2.5h; three ticks.
    assert [(e["cmd"], e["reason"]) for e in history if e["type"] == "TimerCanceled"] == [
        (1, "stopped")
    ]
    assert types.count("TimerFired") == 4
    assert types[-1] == "WorkflowCompleted"

    # Replayed from its history by an engine that never saw it: the same commands (a
    # mismatch would raise NonDeterminism) and the same result.
    events = [Event.from_dict(e) for e in history]
    engine = Engine(registry, clock=ManualClock(events[-1].time))
    try:
        step = Replay(engine, "app:ticking", run_id, events[:-1]).run(events[-1].time)
    finally:
        engine.close()
    assert [e.type for e in step.new_events] == ["WorkflowCompleted"]
    assert step.result == result.result


def test_lua_numbers_for_big_durations_stay_exact(make_app):
    out = run(
        make_app,
        """
        local d = time.parse_duration(292 * 365 * 24 * time.HOUR)
        return { d:nanoseconds() == 292 * 365 * 24 * 3600 * 1000000000, d:hours() }
        """,
    )
    assert out[0] is True and math.isclose(out[1], 292 * 365 * 24)
