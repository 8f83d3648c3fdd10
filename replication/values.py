r"""Convert wal2json column values to Python objects, chosen by the column's type OID.

wal2json writes integers, floats and numerics as JSON numbers (parsed with ``Decimal`` for
non-integers, see ``wal2json.parse``), booleans as JSON booleans, ``bytea`` as hex without the
``\x`` prefix and every other type as its Postgres text output. The text output depends on the
session settings the stream pins (``DateStyle=ISO``, ``TimeZone=UTC``, ``IntervalStyle=iso_8601``,
``bytea_output=hex``); these parsers assume them.

Conventions (the same as psycopg2's): an interval's month is 30 days and its year 365 days;
``infinity``/``-infinity`` dates and timestamps become ``date.max``/``date.min`` and
``datetime.max``/``datetime.min`` (UTC-aware for ``timestamptz``). Values Python cannot represent
(BC dates, years after 9999, ``24:00:00``) stay the Postgres text. Types without a converter
(enums, ``inet``, ``money``, ranges, ...) stay as wal2json wrote them: their text.

User-defined types (OIDs from ``FIRST_USER_OID``) are resolved by ``replication.catalog``: a
domain converts as its base type (wal2json writes a domain's value as text, so through
``TEXT_CONVERTERS``), an array of domains as an array of its base type; enums and other user
types stay text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

__all__ = [
    "CONVERTERS",
    "FIRST_USER_OID",
    "TEXT_CONVERTERS",
    "Converter",
    "array_converter",
    "convert",
    "parse_array",
    "parse_interval",
]

Converter = Callable[[Any], Any]

# Type OIDs from Postgres's pg_type.dat; they are fixed for built-in types.
BOOL, BYTEA, CHAR, NAME, INT8, INT2, INT4, TEXT, OID = 16, 17, 18, 19, 20, 21, 23, 25, 26
JSON, FLOAT4, FLOAT8, BPCHAR, VARCHAR = 114, 700, 701, 1042, 1043
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, INTERVAL, TIMETZ = 1082, 1083, 1114, 1184, 1186, 1266
NUMERIC, UUID_OID, JSONB = 1700, 2950, 3802

# Postgres's FirstNormalObjectId: every type created by a user or an extension has an OID at or
# above it; below it are the built-in types, whose OIDs never change.
FIRST_USER_OID = 16384

# Array type OID -> element type OID.
ARRAYS = {
    1000: BOOL, 1001: BYTEA, 1002: CHAR, 1003: NAME, 1005: INT2, 1007: INT4, 1009: TEXT,
    1014: BPCHAR, 1015: VARCHAR, 1016: INT8, 1021: FLOAT4, 1022: FLOAT8, 1028: OID,
    1115: TIMESTAMP, 1182: DATE, 1183: TIME, 1185: TIMESTAMPTZ, 1187: INTERVAL, 1231: NUMERIC,
    1270: TIMETZ, 2951: UUID_OID, 199: JSON, 3807: JSONB,
}  # fmt: skip

_INFINITE_DATES = {"infinity": date.max, "-infinity": date.min}
_INFINITE_TIMESTAMPS = {"infinity": datetime.max, "-infinity": datetime.min}
_INFINITE_TIMESTAMPTZS = {
    "infinity": datetime.max.replace(tzinfo=UTC),
    "-infinity": datetime.min.replace(tzinfo=UTC),
}


def _date(text: str) -> date | str:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return _INFINITE_DATES.get(text, text)  # else BC or beyond year 9999


def _time(text: str) -> time | str:
    try:
        return time.fromisoformat(text)
    except ValueError:
        return text  # 24:00:00


def _timestamp(text: str) -> datetime | str:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return _INFINITE_TIMESTAMPS.get(text, text)


def _timestamptz(text: str) -> datetime | str:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return _INFINITE_TIMESTAMPTZS.get(text, text)
    # With TimeZone=UTC pinned the offset is always +00, which fromisoformat returns as UTC.
    return value if value.tzinfo is UTC else value.astimezone(UTC)


_INTERVAL = re.compile(
    r"P(?:(-?\d+)Y)?(?:(-?\d+)M)?(?:(-?\d+)D)?"
    r"(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+(?:\.\d+)?)S)?)?"
)


def parse_interval(text: str) -> timedelta | str:
    """ISO 8601 interval (``IntervalStyle=iso_8601``) → timedelta; month = 30 days, year = 365."""
    match = _INTERVAL.fullmatch(text)
    if match is None:
        return text
    years, months, days, hours, minutes, seconds = match.groups()
    try:
        return timedelta(
            days=int(years or 0) * 365 + int(months or 0) * 30 + int(days or 0),
            hours=int(hours or 0),
            minutes=int(minutes or 0),
            # Decimal keeps the microseconds exact; timedelta rounds only beyond them.
            microseconds=int(Decimal(seconds or 0) * 1_000_000),
        )
    except OverflowError:
        return text


def _numeric(value: int | Decimal) -> Decimal:
    # JSON integers arrive as int, others already as Decimal (float_hook=Decimal, wal2json.py).
    return value if type(value) is Decimal else Decimal(value)


def _bytea_element(text: str) -> bytes:
    return bytes.fromhex(text[2:])  # inside arrays bytea keeps its \x prefix


# Element token of a Postgres array literal: brace, comma, "quoted" or bare.
_ARRAY_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|([^{},"]+)|([{}])', re.DOTALL)
_ARRAY_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def parse_array(text: str, element: Converter | None) -> list[Any]:
    r"""Postgres array literal (``{1,NULL,3}``, ``{{"a b","c\"d"}}``) → nested lists.

    ``element`` converts each non-NULL element's text; None keeps the text.
    """
    if text[0] == "[":  # explicit bounds, e.g. [0:1]={1,2}: the bounds are dropped
        text = text[text.index("=") + 1 :]
    root: list[Any] = []
    stack: list[list[Any]] = []
    current = root
    for quoted, bare, brace in _ARRAY_TOKEN.findall(text):
        if brace == "{":
            nested: list[Any] = []
            current.append(nested)
            stack.append(current)
            current = nested
        elif brace == "}":
            current = stack.pop()
        elif bare:
            if bare == "NULL":
                current.append(None)
            else:
                current.append(element(bare) if element else bare)
        else:
            value = _ARRAY_ESCAPE.sub(r"\1", quoted) if "\\" in quoted else quoted
            current.append(element(value) if element else value)
    return root[0] if root else []


def _json(text: str) -> Any:
    # Plain floats, as Django's JSONField returns them.
    return json.loads(text)


# Scalars whose JSON value is already the right Python object are absent (int, bool, text...).
_SCALARS: dict[int, Converter] = {
    NUMERIC: _numeric,
    FLOAT4: float,
    FLOAT8: float,
    UUID_OID: UUID,
    DATE: _date,
    TIME: _time,
    TIMETZ: _time,
    TIMESTAMP: _timestamp,
    TIMESTAMPTZ: _timestamptz,
    INTERVAL: parse_interval,
    JSON: _json,
    JSONB: _json,
    BYTEA: bytes.fromhex,
}

# Array elements are always text, so even numbers and booleans need converting. wal2json also
# writes a domain's value as text (it picks JSON numbers and booleans by the column's own type
# OID, which for a domain is the domain's), so domains convert with these too.
_ELEMENTS: dict[int, Converter] = {
    **_SCALARS,
    INT2: int,
    INT4: int,
    INT8: int,
    OID: int,
    NUMERIC: Decimal,
    BOOL: "t".__eq__,
    BYTEA: _bytea_element,
}


TEXT_CONVERTERS: dict[int, Converter] = _ELEMENTS
"""Built-in type OID → converter of the type's text output (array elements, domain values)."""


def array_converter(element: Converter | None) -> Converter:
    """Converter of an array literal whose elements ``element`` converts (None: keep text)."""
    return lambda text: parse_array(text, element)


CONVERTERS: dict[int, Converter] = {
    **_SCALARS,
    **{oid: array_converter(_ELEMENTS.get(elem)) for oid, elem in ARRAYS.items()},
}
"""Type OID → converter of a non-NULL wal2json value; OIDs not listed need no conversion."""


def convert(typeoid: int, value: Any) -> Any:
    """Python value of one wal2json column value of type ``typeoid`` (None stays None)."""
    if value is None:
        return None
    converter = CONVERTERS.get(typeoid)
    return value if converter is None else converter(value)
