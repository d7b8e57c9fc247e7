"""Debezium/Connect semantic types -> Python values, table-driven, plus exactness properties."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Context, Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.decode import semantic
from streamapp.decode.schema import SType
from streamapp.records import UNCHANGED

T = "io.debezium.time."
D = "io.debezium.data."
C = "org.apache.kafka.connect.data."
WIDE = Context(prec=10_000, Emax=10_000, Emin=-10_000)


def unscaled(n: int) -> bytes:
    """Big-endian two's-complement bytes of ``n`` in the fewest bytes (as Java's BigInteger)."""
    return n.to_bytes(max(1, (n + (n < 0)).bit_length() // 8 + 1), "big", signed=True)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def conv(
    name: str | None,
    kind: str,
    raw: Any,
    *,
    params: dict[str, str] | None = None,
    b64_: bool = False,
) -> Any:
    st_ = SType(kind, semantic=name, params=tuple((params or {}).items()))
    c = semantic.converter(st_, b64_)
    return raw if c is None else c(raw)


CASES: list[tuple[str, str | None, str, Any, Any]] = [
    # id, semantic name, physical kind, raw value, expected
    ("date", T + "Date", "int", 19000, date(2022, 1, 8)),
    ("date-epoch", T + "Date", "int", 0, date(1970, 1, 1)),
    ("date-negative", T + "Date", "int", -1, date(1969, 12, 31)),
    ("connect-date", C + "Date", "int", 18262, date(2020, 1, 1)),
    ("time-ms", T + "Time", "int", 45_296_789, time(12, 34, 56, 789_000)),
    ("connect-time", C + "Time", "int", 1, time(0, 0, 0, 1000)),
    ("microtime", T + "MicroTime", "long", 45_296_789_012, time(12, 34, 56, 789_012)),
    ("microtime-max", T + "MicroTime", "long", 86_399_999_999, time(23, 59, 59, 999_999)),
    ("nanotime-truncates", T + "NanoTime", "long", 45_296_789_012_999, time(12, 34, 56, 789_012)),
    (
        "timestamp-ms",
        T + "Timestamp",
        "long",
        1_700_000_000_123,
        datetime(2023, 11, 14, 22, 13, 20, 123_000),
    ),
    ("connect-timestamp", C + "Timestamp", "long", -1, datetime(1969, 12, 31, 23, 59, 59, 999_000)),
    (
        "microtimestamp",
        T + "MicroTimestamp",
        "long",
        1_700_000_000_123_456,
        datetime(2023, 11, 14, 22, 13, 20, 123_456),
    ),
    (
        "microtimestamp-pre-epoch",
        T + "MicroTimestamp",
        "long",
        -1,
        datetime(1969, 12, 31, 23, 59, 59, 999_999),
    ),
    (
        "nanotimestamp-truncates",
        T + "NanoTimestamp",
        "long",
        1_700_000_000_123_456_789,
        datetime(2023, 11, 14, 22, 13, 20, 123_456),
    ),
    (
        "nanotimestamp-floor",
        T + "NanoTimestamp",
        "long",
        -1,
        datetime(1969, 12, 31, 23, 59, 59, 999_999),
    ),
    (
        "zoned-ts-z",
        T + "ZonedTimestamp",
        "string",
        "2023-11-14T22:13:20.123456Z",
        datetime(2023, 11, 14, 22, 13, 20, 123_456, tzinfo=UTC),
    ),
    (
        "zoned-ts-offset",
        T + "ZonedTimestamp",
        "string",
        "2023-11-15T00:13:20+02:00",
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
    ),
    (
        "zoned-ts-nanos",
        T + "ZonedTimestamp",
        "string",
        "2023-11-14T22:13:20.123456789Z",
        datetime(2023, 11, 14, 22, 13, 20, 123_456, tzinfo=UTC),
    ),
    # a time is naive (streamapp.types): ZonedTime text is converted to UTC, offset dropped
    ("iso-date", T + "IsoDate", "string", "2026-03-01Z", date(2026, 3, 1)),
    ("iso-time", T + "IsoTime", "string", "10:34:56.5Z", time(10, 34, 56, 500_000)),
    (
        "iso-timestamp",
        T + "IsoTimestamp",
        "string",
        "2026-03-01T10:34:56Z",
        datetime(2026, 3, 1, 10, 34, 56),
    ),
    ("zoned-time", T + "ZonedTime", "string", "08:30:00.5Z", time(8, 30, 0, 500_000)),
    (
        "zoned-time-offset",
        T + "ZonedTime",
        "string",
        "08:30:00+05:30",
        time(3, 0),
    ),
    (
        "microduration",
        T + "MicroDuration",
        "long",
        90_061_000_001,
        timedelta(days=1, hours=1, minutes=1, seconds=1, microseconds=1),
    ),
    ("microduration-negative", T + "MicroDuration", "long", -1, timedelta(microseconds=-1)),
    ("interval-stays-text", T + "Interval", "string", "P1Y2M3DT4H5M6.78S", "P1Y2M3DT4H5M6.78S"),
    ("year-stays-int", T + "Year", "int", 2024, 2024),
    ("year-zero-from-binlog", T + "Year", "int", 1900, 0),  # YEAR 0000 read from the binlog
    ("year-first", T + "Year", "int", 1901, 1901),
    ("json", D + "Json", "string", '{"a": [1, 2.5, null, "x"]}', {"a": [1, 2.5, None, "x"]}),
    ("json-scalar", D + "Json", "string", "42", 42),
    (
        "uuid",
        D + "Uuid",
        "string",
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    ),
    ("enum", D + "Enum", "string", "shipped", "shipped"),
    ("enumset", D + "EnumSet", "string", "a,b,c", ["a", "b", "c"]),
    ("enumset-empty", D + "EnumSet", "string", "", []),
    ("bits-bytes", D + "Bits", "bytes", b"\x05\x01", b"\x05\x01"),
    ("xml", D + "Xml", "string", "<a/>", "<a/>"),
    ("avro-date", "avro:date", "int", 1, date(1970, 1, 2)),
    ("avro-ts-millis-aware", "avro:timestamp-millis", "long", 0, datetime(1970, 1, 1, tzinfo=UTC)),
    (
        "avro-ts-micros-aware",
        "avro:timestamp-micros",
        "long",
        1,
        datetime(1970, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    ),
    ("avro-local-ts", "avro:local-timestamp-micros", "long", 1, datetime(1970, 1, 1, 0, 0, 0, 1)),
    ("avro-time-micros", "avro:time-micros", "long", 1, time(0, 0, 0, 1)),
    ("avro-uuid", "avro:uuid", "string", "00000000-0000-0000-0000-000000000001", uuid.UUID(int=1)),
    ("unknown-name-ignored", "com.example.Custom", "long", 5, 5),
    ("semantic-on-wrong-kind-ignored", T + "Date", "string", "2020-01-01", "2020-01-01"),
    ("plain-bytes", None, "bytes", b"\x00\xff", b"\x00\xff"),
]


@pytest.mark.parametrize(
    ("name", "kind", "raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_semantic_types(name: str | None, kind: str, raw: Any, expected: Any) -> None:
    got = conv(name, kind, raw)
    assert got == expected
    assert type(got) is type(expected)
    if isinstance(expected, (datetime, time)):
        assert got.tzinfo == expected.tzinfo  # naive stays naive, aware is the same zone


DECIMALS = [
    ("positive", 12345, 2, Decimal("123.45")),
    ("negative", -12345, 2, Decimal("-123.45")),
    ("minus-one-cent", -1, 2, Decimal("-0.01")),
    ("zero-keeps-scale", 0, 3, Decimal("0.000")),
    ("scale-zero", -128, 0, Decimal("-128")),
    ("byte-boundary", 255, 1, Decimal("25.5")),
    ("many-digits", 10**40 + 1, 5, Decimal("100000000000000000000000000000000000.00001")),
    (
        "many-digits-negative",
        -(10**60) + 7,
        30,
        Decimal("-999999999999999999999999999999.999999999999999999999999999993"),
    ),
]


@pytest.mark.parametrize(
    ("n", "scale", "expected"), [d[1:] for d in DECIMALS], ids=[d[0] for d in DECIMALS]
)
@pytest.mark.parametrize("in_json", [False, True], ids=["avro-bytes", "json-base64"])
def test_connect_decimal(n: int, scale: int, expected: Decimal, in_json: bool) -> None:
    raw: Any = b64(unscaled(n)) if in_json else unscaled(n)
    got = conv(C + "Decimal", "bytes", raw, params={"scale": str(scale)}, b64_=in_json)
    assert got == expected
    assert got.as_tuple().exponent == -scale  # the scale is kept (12.30 stays 12.30)


@pytest.mark.parametrize(
    ("n", "scale", "expected"), [d[1:] for d in DECIMALS], ids=[d[0] for d in DECIMALS]
)
def test_variable_scale_decimal(n: int, scale: int, expected: Decimal) -> None:
    assert (
        conv(D + "VariableScaleDecimal", "struct", {"scale": scale, "value": unscaled(n)})
        == expected
    )
    as_json = {"scale": scale, "value": b64(unscaled(n))}
    assert conv(D + "VariableScaleDecimal", "struct", as_json, b64_=True) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (12.3, Decimal("12.30")),
        (0.1, Decimal("0.10")),
        (7, Decimal("7.00")),
        (-2.5, Decimal("-2.50")),
    ],
)
def test_connect_decimal_numeric_json_format(raw: float | int, expected: Decimal) -> None:
    """JsonConverter's ``decimal.format=NUMERIC`` writes a number; the scale is applied."""
    got = conv(C + "Decimal", "bytes", raw, params={"scale": "2"}, b64_=True)
    assert got == expected and str(got) == str(expected)


@given(st.integers(min_value=-(10**80), max_value=10**80), st.integers(min_value=0, max_value=60))
def test_decimal_from_bytes_is_exact(n: int, scale: int) -> None:
    got = semantic.decimal_from_bytes(unscaled(n), scale)
    assert got.as_tuple().exponent == -scale
    assert got.scaleb(scale, WIDE) == n  # nothing was rounded, whatever the digit count


@given(st.integers(min_value=-(2**70), max_value=2**70), st.integers(min_value=0, max_value=20))
def test_inline_decimal_equals_function(n: int, scale: int) -> None:
    st_ = SType("bytes", semantic=C + "Decimal", params=(("scale", str(scale)),))
    expr = semantic.inline_expression(st_)
    assert expr is not None
    inline = eval(expr.format(v="raw"), {**semantic.INLINE_NAMESPACE, "raw": unscaled(n)})
    assert inline == semantic.decimal_from_bytes(unscaled(n), scale)
    assert inline.as_tuple() == semantic.decimal_from_bytes(unscaled(n), scale).as_tuple()


INLINED = [
    (T + "Date", "int", st.integers(-700_000, 2_900_000)),
    (C + "Date", "int", st.integers(-700_000, 2_900_000)),
    (T + "Timestamp", "long", st.integers(-(10**13), 10**14)),
    (C + "Timestamp", "long", st.integers(-(10**13), 10**14)),
    (T + "MicroTimestamp", "long", st.integers(-(10**16), 10**17)),
    (T + "NanoTimestamp", "long", st.integers(-(10**19), 10**19)),
    (T + "MicroDuration", "long", st.integers(-(10**15), 10**15)),
    ("avro:timestamp-millis", "long", st.integers(-(10**13), 10**14)),
    ("avro:timestamp-micros", "long", st.integers(-(10**16), 10**17)),
    ("avro:local-timestamp-millis", "long", st.integers(-(10**13), 10**14)),
    ("avro:local-timestamp-micros", "long", st.integers(-(10**16), 10**17)),
    ("avro:date", "int", st.integers(-700_000, 2_900_000)),
]


@pytest.mark.parametrize(("name", "kind", "values"), INLINED, ids=[i[0] for i in INLINED])
@given(data=st.data())
def test_inline_expressions_equal_functions(
    name: str, kind: str, values: Any, data: st.DataObject
) -> None:
    raw = data.draw(values)
    st_ = SType(kind, semantic=name)
    expr = semantic.inline_expression(st_)
    assert expr is not None, "every listed semantic has an inline form"
    fn = semantic.leaf_converter(st_, b64=False)
    assert fn is not None
    inline = eval(expr.format(v="raw"), {**semantic.INLINE_NAMESPACE, "raw": raw})
    expected = fn(raw)
    assert inline == expected and type(inline) is type(expected)
    assert getattr(inline, "tzinfo", None) == getattr(expected, "tzinfo", None)


@given(st.integers(0, 86_400_000_000 - 1))
def test_micro_time_round_trip(micros: int) -> None:
    t = semantic.time_from_micros(micros)
    assert ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond == micros


@given(st.integers(-(6 * 10**16), 6 * 10**16))
def test_micro_timestamp_round_trip(micros: int) -> None:
    ts = semantic.timestamp_from_micros(micros)
    assert ts.tzinfo is None
    delta = ts - datetime(1970, 1, 1)
    assert (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds == micros


@pytest.mark.parametrize(
    ("name", "kind", "raw"),
    [
        (T + "MicroTime", "long", 86_400_000_000),  # PostgreSQL time '24:00:00'
        (T + "Time", "int", -1),
        (T + "MicroTimestamp", "long", 9_223_372_036_825_200_000),  # 'infinity' sentinel
        (T + "Date", "int", 10**9),
        (D + "Uuid", "string", "not-a-uuid"),
        (D + "Json", "string", "{broken"),
        (T + "ZonedTimestamp", "string", "yesterday"),
    ],
    ids=["time-24h", "time-negative", "ts-infinity", "date-huge", "uuid", "json", "zoned"],
)
def test_out_of_range_or_malformed_raises(name: str, kind: str, raw: Any) -> None:
    with pytest.raises(semantic.CONVERSION_ERRORS):
        conv(name, kind, raw)


def test_invalid_base64_raises_value_error() -> None:
    with pytest.raises(ValueError):
        conv(C + "Decimal", "bytes", "not base64!", params={"scale": "2"}, b64_=True)


@pytest.mark.parametrize(
    ("name", "raw", "b64_", "expected"),
    [
        (
            D + "geometry.Geometry",
            {"wkb": b"\x01\x02", "srid": 4326},
            False,
            {"wkb": b"\x01\x02", "srid": 4326},
        ),
        (
            D + "geometry.Geography",
            {"wkb": b64(b"\x01"), "srid": None},
            True,
            {"wkb": b"\x01", "srid": None},
        ),
        (
            D + "geometry.Point",
            {"x": 1.0, "y": 2.0, "wkb": None, "srid": None},
            False,
            {"wkb": bytes.fromhex("0101000000000000000000f03f0000000000000040"), "srid": None},
        ),
        (
            D + "geometry.Point",
            {"x": 1.0, "y": 2.0, "wkb": b64(b"\x07"), "srid": 3},
            True,
            {"wkb": b"\x07", "srid": 3},
        ),
    ],
    ids=["geometry", "geography-json", "point-synth-wkb", "point-json"],
)
def test_geometry(name: str, raw: Any, b64_: bool, expected: Any) -> None:
    assert conv(name, "struct", raw, b64_=b64_) == expected


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        (
            D + "geometry.Geometry",
            {
                "wkb": bytes.fromhex("0101000020E6100000000000FC83D797C1000000FC83D797C1"),
                "srid": 4326,
            },
        ),
        (
            D + "geometry.Geography",
            {
                "wkb": bytes.fromhex("0101000020E61000000C21E7FDFF7F66401842CEFBFF7F5640"),
                "srid": 4326,
            },
        ),
        (D + "geometry.Point", {"x": -99999999.0, "y": -99999999.0, "wkb": None, "srid": None}),
    ],
    ids=["geometry", "geography", "point"],
)
def test_geometry_toast_placeholders(name: str, raw: Any) -> None:
    assert conv(name, "struct", raw) is UNCHANGED


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("__debezium_unavailable_value", True),
        (b"__debezium_unavailable_value", True),
        ("X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==", True),  # base64 form (JSON bytes column)
        (["__debezium_unavailable_value"], True),  # text[]
        ([b"__debezium_unavailable_value"], True),  # bytea[]
        (["X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="], True),  # bytea[] in JSON
        (
            [
                95,
                95,
                100,
                101,
                98,
                101,
                122,
                105,
                117,
                109,
                95,
                117,
                110,
                97,
                118,
                97,
                105,
                108,
                97,
                98,
                108,
                101,
                95,
                118,
                97,
                108,
                117,
                101,
            ],
            True,
        ),  # int[]
        ({"__debezium_unavailable_value": "__debezium_unavailable_value"}, True),  # hstore
        (["15b0ed1f-5c49-3c5b-b1e2-0a1a5d9f1b56"], False),
        ("__debezium_unavailable_valuE", False),
        ([], False),
        (None, False),
        (5, False),
        ({"a": 1}, False),
    ],
)
def test_is_placeholder(value: Any, expected: bool) -> None:
    assert semantic.is_placeholder(value) is expected


def test_uuid_array_placeholder_is_javas_name_uuid() -> None:
    """Debezium uses Java's UUID.nameUUIDFromBytes(placeholder): MD5, version 3, IETF variant."""
    u = uuid.UUID(semantic.PLACEHOLDER_UUID)
    assert u.version == 3 and u.variant == uuid.RFC_4122
    assert [semantic.PLACEHOLDER_UUID] in semantic.PLACEHOLDER_LISTS


def test_json_toasted_hstore_is_unchanged() -> None:
    assert (
        semantic.json_value('{"__debezium_unavailable_value":"__debezium_unavailable_value"}')
        is UNCHANGED
    )


def test_containers_convert_members_and_keep_nulls() -> None:
    date_t = SType("int", semantic=T + "Date")
    arr = SType("array", items=date_t)
    mp = SType("map", items=date_t)
    rec = SType("struct", fields=(("d", date_t), ("s", SType("string"))))
    c_arr = semantic.converter(arr, b64=False)
    c_map = semantic.converter(mp, b64=False)
    c_rec = semantic.converter(rec, b64=False)
    assert c_arr is not None and c_map is not None and c_rec is not None
    assert c_arr([0, None, 1]) == [date(1970, 1, 1), None, date(1970, 1, 2)]
    assert c_map({"a": 0, "b": None}) == {"a": date(1970, 1, 1), "b": None}
    assert c_rec({"d": 1, "s": "x"}) == {"d": date(1970, 1, 2), "s": "x"}
    assert semantic.converter(SType("array", items=SType("string")), b64=False) is None
    bytes_arr = semantic.converter(SType("array", items=SType("bytes")), b64=True)
    assert bytes_arr is not None and bytes_arr([b64(b"\x01")]) == [b"\x01"]
