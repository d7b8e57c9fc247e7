"""Declared column types turn schemaless JSON values into each kind's Python value."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.decode.hints import HintMismatch, duration_from_iso, hint_converter
from streamapp.decode.modes import HandlingModes
from streamapp.types import FieldType, Kind, parse_type


def convert(
    spec: Any,
    raw: Any,
    *,
    decimals: str = "precise",
    times: str = "adaptive",
    docs: bool = False,
    **more: str,
) -> Any:
    ft = spec if isinstance(spec, FieldType) else parse_type(spec)
    modes = HandlingModes(decimal=decimals, time_precision=times, **more)
    conv = hint_converter(ft, modes=modes, documents=docs)
    return raw if conv is None else conv(raw)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


MS3 = FieldType(Kind.TIMESTAMP, precision=3)
NS9 = FieldType(Kind.TIMESTAMP, precision=9)
CASES: list[tuple[str, Any, Any, dict[str, Any], Any]] = [
    ("string", "string", "x", {}, "x"),
    ("int", "int", 5, {}, 5),
    ("float-from-int", "float", 5, {}, 5.0),
    ("bool", "bool", True, {}, True),
    ("bool-from-01", "bool", 0, {}, False),
    ("date-days", "date", 19000, {}, date(2022, 1, 8)),
    ("date-iso", "date", "2022-01-08", {}, date(2022, 1, 8)),
    ("date-from-mongo-date", "date", datetime(2022, 1, 8, 23, tzinfo=UTC), {}, date(2022, 1, 8)),
    ("time-adaptive-micro", "time", 1_000_001, {}, time(0, 0, 1, 1)),
    ("time-milli", "time", 1001, {"times": "connect"}, time(0, 0, 1, 1000)),
    ("time-nano", "time", 1_000_001_999, {"times": "nanoseconds"}, time(0, 0, 1, 1)),
    ("time-iso-zoned-is-naive-utc", "time", "10:00:00Z", {}, time(10)),
    ("time-iso-offset-to-utc", "time", "01:30:00+02:00", {}, time(23, 30)),
    (
        "ts-adaptive-default-micro",
        "timestamp",
        1_700_000_000_000_001,
        {},
        datetime(2023, 11, 14, 22, 13, 20, 1),
    ),
    (
        "ts-adaptive-precision-3",
        MS3,
        1_700_000_000_001,
        {},
        datetime(2023, 11, 14, 22, 13, 20, 1000),
    ),
    (
        "ts-adaptive-precision-9",
        NS9,
        1_700_000_000_000_001_000,
        {},
        datetime(2023, 11, 14, 22, 13, 20, 1),
    ),
    (
        "ts-milli-mode",
        "timestamp",
        1_700_000_000_001,
        {"times": "connect"},
        datetime(2023, 11, 14, 22, 13, 20, 1000),
    ),
    ("ts-iso", "timestamp", "2023-11-14T22:13:20", {}, datetime(2023, 11, 14, 22, 13, 20)),
    (
        "ts-iso-offset-to-utc-naive",
        "timestamp",
        "2023-11-15T00:13:20+02:00",
        {},
        datetime(2023, 11, 14, 22, 13, 20),
    ),
    (
        "ts-from-aware",
        "timestamp",
        datetime(2023, 1, 1, 1, tzinfo=timezone(timedelta(hours=1))),
        {},
        datetime(2023, 1, 1),
    ),
    (
        "tstz-zoned-text",
        "timestamptz",
        "2023-11-14T22:13:20.5Z",
        {},
        datetime(2023, 11, 14, 22, 13, 20, 500_000, tzinfo=UTC),
    ),
    ("tstz-micros", "timestamptz", 1, {}, datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC)),
    ("tstz-from-naive", "timestamptz", datetime(2023, 1, 1), {}, datetime(2023, 1, 1, tzinfo=UTC)),
    ("duration-micros", "duration", 1_500_000, {}, timedelta(seconds=1.5)),
    (
        "duration-iso",
        "duration",
        "P0Y0M1DT2H3M4.5S",
        {},
        timedelta(days=1, hours=2, minutes=3, seconds=4.5),
    ),
    (
        "decimal-precise-b64",
        "decimal(10,2)",
        b64((-12345).to_bytes(2, "big", signed=True)),
        {},
        Decimal("-123.45"),
    ),
    (
        "decimal-precise-vsd",
        "decimal(10,2)",
        {"scale": 3, "value": b64(b"\x01")},
        {},
        Decimal("0.001"),
    ),
    ("decimal-precise-number", "decimal(10,2)", 1.5, {}, Decimal("1.50")),
    ("decimal-double", "decimal(10,2)", 0.1, {"decimals": "double"}, Decimal("0.1")),
    ("decimal-double-int", "decimal(10,2)", 3, {"decimals": "double"}, Decimal("3")),
    (
        "decimal-string",
        "decimal(38,10)",
        "-12345678901234567890.0123456789",
        {"decimals": "string"},
        Decimal("-12345678901234567890.0123456789"),
    ),
    ("decimal-from-mongo", "decimal(10,2)", Decimal("1.25"), {}, Decimal("1.25")),
    ("bytes", "bytes", b64(b"\x00\xff"), {}, b"\x00\xff"),
    (
        "uuid",
        "uuid",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        {},
        uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    ),
    ("json-text", "json", '{"a": 1}', {}, {"a": 1}),
    ("json-parsed", "json", {"a": 1}, {}, {"a": 1}),
    (
        "record-from-object",
        {"d": "date", "n": "string"},
        {"d": 1, "n": "x", "extra": 1},
        {},
        {"d": date(1970, 1, 2), "n": "x", "extra": 1},
    ),
    ("record-from-text", {"d": "date"}, '{"d": 1}', {}, {"d": date(1970, 1, 2)}),
    ("array-of-dates", "array<date>", [0, None], {}, [date(1970, 1, 1), None]),
    ("array-from-text", "array<int>", "[1, 2]", {}, [1, 2]),
    ("map-of-uuid", "map<uuid>", {"k": str(uuid.UUID(int=1))}, {}, {"k": uuid.UUID(int=1)}),
    # issue 11: a precision in the spec decides the unit of schemaless temporal integers
    (
        "ts3-spec-adaptive-ms",
        "timestamp(3)",
        1_772_368_496_789,
        {},
        datetime(2026, 3, 1, 12, 34, 56, 789000),
    ),
    ("ts6-spec-adaptive-us", "timestamp(6)", 1_000_001, {}, datetime(1970, 1, 1, 0, 0, 1, 1)),
    ("ts9-spec-adaptive-ns", "timestamp(9)", 1_000_001_999, {}, datetime(1970, 1, 1, 0, 0, 1, 1)),
    ("time3-spec-adaptive-ms", "time(3)", 45_296_789, {}, time(12, 34, 56, 789000)),
    (
        "time3-adaptive-time-micros",
        "time(3)",
        45_296_789_000,
        {"times": "adaptive_time_microseconds"},
        time(12, 34, 56, 789000),
    ),
    (
        "ts3-adaptive-time-micros-ms",
        "timestamp(3)",
        1_001,
        {"times": "adaptive_time_microseconds"},
        datetime(1970, 1, 1, 0, 0, 1, 1000),
    ),
    (
        "ts3-microseconds-mode",
        "timestamp(3)",
        1_001,
        {"times": "microseconds"},
        datetime(1970, 1, 1, 0, 0, 0, 1001),
    ),
    (
        "ts-connect-mode-ms",
        "timestamp",
        1_001,
        {"times": "connect"},
        datetime(1970, 1, 1, 0, 0, 1, 1000),
    ),
    (
        "ts-isostring",
        "timestamp",
        "2026-03-01T10:00:00Z",
        {"times": "isostring"},
        datetime(2026, 3, 1, 10),
    ),
    ("date-isostring", "date", "2026-03-01Z", {"times": "isostring"}, date(2026, 3, 1)),
    ("float-nan-text", "float", "Infinity", {}, float("inf")),
    ("float-minus-inf-text", "float", "-Infinity", {}, float("-inf")),
    ("bytes-hex", "bytes", "00ff", {"binary": "hex"}, b"\x00\xff"),
    ("bytes-base64-url-safe", "bytes", "_-8=", {"binary": "base64-url-safe"}, b"\xff\xef"),
    (
        "bigint-unsigned-precise",
        "int",
        b64((2**63 - 1).to_bytes(9, "big")),
        {"bigint_unsigned": "precise"},
        2**63 - 1,
    ),
]


@pytest.mark.parametrize(
    ("spec", "raw", "opts", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hint_conversions(spec: Any, raw: Any, opts: dict[str, Any], expected: Any) -> None:
    got = convert(spec, raw, **opts)
    assert got == expected
    assert type(got) is type(expected)
    if isinstance(expected, (datetime, time)):
        assert got.tzinfo == expected.tzinfo


def test_isostring_mode_has_no_integer_form() -> None:
    with pytest.raises(HintMismatch, match="ISO text"):
        convert("timestamp", 1_000, times="isostring")


@pytest.mark.parametrize(
    ("spec", "raw"),
    [
        ("string", 5),
        ("int", "5"),
        ("int", 1.0),
        ("int", True),
        ("float", "1.0"),
        ("float", "nan"),
        ("float", True),
        ("bool", 2),
        ("date", 1.5),
        ("decimal(5,2)", [1]),
        ("uuid", 5),
        ("array<int>", {"a": 1}),
        ("map<int>", [1]),
        ({"a": "int"}, [1]),
    ],
)
def test_wrong_json_shape_is_a_mismatch(spec: Any, raw: Any) -> None:
    with pytest.raises(HintMismatch) as info:
        convert(spec, raw)
    assert repr(raw) not in str(info.value) or raw in (5, 2, True)  # names the type, not value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT0S", timedelta(0)),
        ("P1D", timedelta(days=1)),
        ("P2W", timedelta(weeks=2)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P0Y0M-1DT-2H0M-0.5S", -timedelta(days=1, hours=2, seconds=0.5)),
        ("-P1DT1S", -timedelta(days=1, seconds=1)),
    ],
)
def test_iso_durations(text: str, expected: timedelta) -> None:
    assert duration_from_iso(text) == expected


@pytest.mark.parametrize("text", ["P1Y", "P1M", "1 day", "P1Y2M3D"])
def test_iso_durations_with_months_or_years_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        duration_from_iso(text)


SCALARS = [
    "string",
    "int",
    "float",
    "bool",
    "date",
    "time",
    "timestamp",
    "timestamptz",
    "duration",
    "bytes",
    "uuid",
    "json",
    "decimal(12,3)",
]


@given(data=st.data())
@pytest.mark.parametrize("spec", SCALARS)
def test_converters_are_idempotent(spec: str, data: st.DataObject) -> None:
    """Converting an already-converted value changes nothing (MongoDB values arrive typed)."""
    raw = data.draw(
        {
            "string": st.text(),
            "int": st.integers(),
            "float": st.floats(allow_nan=False),
            "bool": st.booleans(),
            "date": st.integers(-700_000, 2_900_000),
            "time": st.integers(0, 86_400_000_000 - 1),
            "timestamp": st.integers(-(10**16), 10**16),
            "timestamptz": st.integers(-(10**16), 10**16),
            "duration": st.integers(-(10**15), 10**15),
            "bytes": st.binary().map(b64),
            "uuid": st.uuids().map(str),
            "json": st.lists(st.integers() | st.text(), max_size=3).map(json.dumps),
            "decimal(12,3)": st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
        }[spec]
    )
    once = convert(spec, raw, decimals="string")
    assert convert(spec, once, decimals="string") == once


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ("json", "just text"),
        ("json", {"a": [1]}),
        ("array<string>", ["a"]),
        ({"a": "int"}, {"a": 1}),
    ],
)
def test_documents_keep_parsed_json_as_is(spec: Any, value: Any) -> None:
    """MongoDB values are already parsed: a json column's string is not JSON text."""
    assert convert(spec, value, docs=True) == value


def test_documents_do_not_parse_container_text() -> None:
    with pytest.raises(HintMismatch):
        convert("array<int>", "[1]", docs=True)


@pytest.mark.parametrize("spec", ["json", "array<int>", {"d": "date"}])
def test_json_text_of_a_column_is_refused_past_the_nesting_limit(spec: Any) -> None:
    """129..~900 levels used to pass through json.loads unchecked (the message-level limit
    covers the envelope, not a column's own JSON text)."""
    from streamapp.decode.limits import MAX_JSON_DEPTH

    deep = "[" * (MAX_JSON_DEPTH + 10) + "]" * (MAX_JSON_DEPTH + 10)
    with pytest.raises(ValueError, match=str(MAX_JSON_DEPTH)):  # LimitExceeded
        convert(spec, deep)
