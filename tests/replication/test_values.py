"""Value parsers on the exact text wal2json produces under the pinned session settings."""

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from replication.values import convert, parse_array, parse_interval
from replication.wal2json import add_tables, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT0S", timedelta(0)),
        ("P1Y2M3DT4H5M6.789S", timedelta(days=365 + 60 + 3, hours=4, minutes=5, seconds=6.789)),
        ("P-3DT-4H", timedelta(days=-3, hours=-4)),
        ("P1M-1D", timedelta(days=29)),
        ("PT-0.000001S", timedelta(microseconds=-1)),
        ("PT1M30.5S", timedelta(seconds=90.5)),
    ],
)
def test_iso_8601_intervals_become_timedeltas_with_30_day_months(text, expected):
    assert parse_interval(text) == expected


def test_an_interval_python_cannot_hold_stays_text():
    assert parse_interval("P999999999Y") == "P999999999Y"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{}", []),
        ("{1,NULL,3}", ["1", None, "3"]),
        (
            '{"a b","c\\"d",NULL,"NULL","x,y","{}","back\\\\slash",""}',
            ["a b", 'c"d', None, "NULL", "x,y", "{}", "back\\slash", ""],
        ),
        ("{{1,2},{3,4}}", [["1", "2"], ["3", "4"]]),
        ("[0:1]={7,8}", ["7", "8"]),
        ('{"line\nbreak"}', ["line\nbreak"]),
    ],
)
def test_array_literals_parse_to_nested_lists(text, expected):
    assert parse_array(text, None) == expected


@pytest.mark.parametrize(
    ("oid", "text", "expected"),
    [
        (1007, "{1,NULL,3}", [1, None, 3]),
        (1000, "{t,f,NULL}", [True, False, None]),
        (1231, "{1.10,-2}", [Decimal("1.10"), Decimal("-2")]),
        (1001, '{"\\\\x00ff",NULL}', [b"\x00\xff", None]),
        (
            1185,
            '{"2024-01-02 03:04:05+00",infinity}',
            [datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), datetime.max.replace(tzinfo=UTC)],
        ),
        (3807, '{"{\\"a\\": [1, 2.5]}"}', [{"a": [1, 2.5]}]),
    ],
)
def test_array_elements_convert_by_element_type(oid, text, expected):
    assert convert(oid, text) == expected


def test_nan_and_infinity_survive_inside_arrays():
    # Unlike scalars (JSON null, see test_decoding), array elements are text and keep them.
    numerics = convert(1231, "{NaN,Infinity}")
    assert numerics[0].is_nan()
    assert numerics[1] == Decimal("Infinity")
    assert convert(1022, "{-Infinity}") == [float("-inf")]


def test_a_timestamptz_with_another_offset_is_normalised_to_utc():
    value = convert(1184, "2024-01-02 05:34:05+05:30")
    assert value == datetime(2024, 1, 2, 0, 4, 5, tzinfo=UTC)
    assert value.tzinfo is UTC


def test_timetz_keeps_its_offset():
    offset = timezone(timedelta(hours=5, minutes=30))
    assert convert(1266, "13:14:15+05:30") == time(13, 14, 15, tzinfo=offset)


def test_infinite_dates_and_timestamps_map_to_the_python_extremes():
    assert convert(1082, "infinity") == date.max
    assert convert(1082, "-infinity") == date.min
    assert convert(1114, "infinity") == datetime.max
    assert convert(1184, "-infinity") == datetime.min.replace(tzinfo=UTC)


def test_unknown_types_and_null_pass_through():
    assert convert(869, "10.0.0.1/8") == "10.0.0.1/8"
    assert convert(1700, None) is None


def test_numbers_parse_exactly():
    obj = parse('{"a":12345678901234567890.123456789,"b":1e+300,"c":42}')
    assert obj["a"] == Decimal("12345678901234567890.123456789")
    assert convert(1700, obj["c"]) == Decimal(42)
    assert convert(701, obj["b"]) == 1e300


def test_table_names_are_escaped_for_wal2json():
    assert add_tables(["t", "s.t", ("we ird", "a.b,c*"), ("x", "back\\slash")]) == (
        "public.t,s.t,we\\ ird.a\\.b\\,c\\*,x.back\\\\slash"
    )
