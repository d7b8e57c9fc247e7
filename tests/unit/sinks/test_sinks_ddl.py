"""Column types per sink, canonical JSON/text, value checks and ClickHouse insert forms."""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.sinks.clickhouse.types import ch_converter, ch_ident, ch_raw_expr, ch_type
from streamapp.sinks.postgres.types import pg_type
from streamapp.sinks.redis.types import scalar_text
from streamapp.sinks.values import Unfit, checker, quantize, to_json, unfit_reason
from streamapp.types import FieldType, Kind, parse_type

SECRET = "s3cr3t-Value"


@pytest.mark.parametrize(
    ("spec", "pg", "ch"),
    [
        ("string", "text", "String"),
        ("int", "bigint", "Int64"),
        ("float", "double precision", "Float64"),
        ("bool", "boolean", "Bool"),
        ("decimal(12,2)", "numeric(12,2)", "Decimal(12, 2)"),
        ("date", "date", "Date32"),
        ("time", "time", "Int64"),
        ("timestamp", "timestamp", "DateTime64(6, 'UTC')"),
        ("timestamptz", "timestamptz", "DateTime64(6, 'UTC')"),
        ("duration", "interval", "Int64"),
        ("bytes", "bytea", "String"),
        ("uuid", "uuid", "UUID"),
        ("json", "jsonb", "String"),
        ("array<int>", "jsonb", "String"),
        ("map<string>", "jsonb", "String"),
        ({"city": "string"}, "jsonb", "String"),
    ],
)
def test_type_mapping(spec: Any, pg: str, ch: str) -> None:
    ft = parse_type(spec)
    assert pg_type(ft) == pg
    assert ch_type(ft, nullable=False) == ch
    assert ch_type(ft, nullable=True) == f"Nullable({ch})"


@pytest.mark.parametrize(
    ("name", "quoted"),
    [("id", "`id`"), ("we`ird", "`we\\`ird`"), ("back\\slash", "`back\\\\slash`")],
)
def test_ch_ident_escapes(name: str, quoted: str) -> None:
    assert ch_ident(name) == quoted


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ({"b": 1, "a": [True, None]}, '{"a":[true,null],"b":1}'),
        (Decimal("12.50"), '"12.50"'),
        (Decimal("1E+3"), '"1000"'),
        (datetime(2024, 5, 1, 13, 45, tzinfo=UTC), '"2024-05-01T13:45:00+00:00"'),
        (datetime(2024, 5, 1, 13, 45, 0, 250000), '"2024-05-01T13:45:00.250000"'),
        (date(2024, 5, 1), '"2024-05-01"'),
        (time(13, 45, 0, 250000), '"13:45:00.250000"'),
        (b"\x00\xff", '"AP8="'),
        (uuid.UUID(int=1), '"00000000-0000-0000-0000-000000000001"'),
        (timedelta(days=1, microseconds=5), "86400000005"),
        ("héllo", '"héllo"'),
    ],
)
def test_canonical_json(value: Any, text: str) -> None:
    assert to_json(value) == text


@pytest.mark.parametrize("value", [math.nan, math.inf, Decimal("NaN"), object(), {1, 2}])
def test_canonical_json_refuses_values_without_a_form(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        to_json(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("a:b", "a:b"),
        (True, "true"),
        (-5, "-5"),
        (0.1, "0.1"),
        (Decimal("12.50"), "12.50"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        (date(2024, 5, 1), "2024-05-01"),
        (b"\x01", "AQ=="),
        ([1, "x"], '[1,"x"]'),
    ],
)
def test_scalar_text(value: Any, text: str) -> None:
    assert scalar_text(value) == text


DEC = parse_type("decimal(5,2)")


@pytest.mark.parametrize(
    ("ft", "value", "reason"),
    [
        (FieldType(Kind.STRING), 5, "holds a int value where string expects a str"),
        (FieldType(Kind.INT), 1 << 63, "64-bit"),
        (FieldType(Kind.INT), True, "bool"),
        (FieldType(Kind.FLOAT), "1.5", "expects a float"),
        (DEC, Decimal("1000.00"), "more than 3 integer digit"),
        (DEC, Decimal("999.995"), "more than 3 integer digit"),  # rounds up to 1000.00
        (DEC, Decimal("NaN"), "NaN"),
        (DEC, 1.5, "expects a Decimal"),
        (FieldType(Kind.DATE), datetime(2024, 1, 1), "expects a date"),
        (FieldType(Kind.TIMESTAMP), datetime(2024, 1, 1, tzinfo=UTC), "naive"),
        (FieldType(Kind.TIMESTAMPTZ), datetime(2024, 1, 1), "aware"),
        (FieldType(Kind.UUID), SECRET, "expects a UUID"),
        (FieldType(Kind.JSON), {"x": object()}, "no JSON form"),
        (parse_type("array<int>"), {"a": 1}, "expects a list"),
    ],
)
def test_unfit_reason_names_types_never_values(ft: FieldType, value: Any, reason: str) -> None:
    why = unfit_reason(ft, value)
    assert why is not None and reason in why
    assert SECRET not in why and "999" not in why
    assert checker(ft)(value) == why


@pytest.mark.parametrize(
    ("ft", "value"),
    [
        (FieldType(Kind.STRING), "x"),
        (FieldType(Kind.INT), -(1 << 63)),
        (FieldType(Kind.FLOAT), 3),
        (FieldType(Kind.FLOAT), math.nan),
        (DEC, Decimal("999.994")),
        (DEC, Decimal("-999.99")),
        (DEC, Decimal("0E+10")),
        (FieldType(Kind.DATE), date(1, 1, 1)),
        (FieldType(Kind.TIMESTAMPTZ), datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=2)))),
        (FieldType(Kind.BYTES), bytearray(b"x")),
        (FieldType(Kind.JSON), [1, {"a": None}]),
    ],
)
def test_fitting_values_pass(ft: FieldType, value: Any) -> None:
    assert unfit_reason(ft, value) is None
    assert checker(ft)(value) is None


def test_nul_characters_only_refused_where_asked() -> None:
    ft = FieldType(Kind.STRING)
    assert unfit_reason(ft, "a\x00b") is None
    assert "NUL" in (checker(ft, nul_ok=False)("a\x00b") or "")


@given(
    st.sampled_from([FieldType(Kind.STRING), FieldType(Kind.INT), FieldType(Kind.FLOAT), DEC]),
    st.one_of(st.text(), st.integers(), st.floats(), st.decimals(), st.booleans(), st.binary()),
)
def test_checker_agrees_with_unfit_reason(ft: FieldType, value: Any) -> None:
    assert checker(ft, nul_ok=False)(value) == unfit_reason(ft, value, nul_ok=False)


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, max_value=10**6, min_value=-(10**6)
    )
)
def test_quantize_fits_or_refuses(value: Decimal) -> None:
    q = quantize(DEC, value)
    if q is None:
        assert abs(value) >= Decimal("999.995")
    else:
        assert q.as_tuple().exponent == -2 and abs(q) < 1000 and abs(q - value) <= Decimal("0.005")


@pytest.mark.parametrize(
    ("spec", "value", "stored"),
    [
        ("timestamp", datetime(1970, 1, 1, 0, 0, 1, 5), 1_000_005),
        ("timestamptz", datetime(1970, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))), 0),
        ("time", time(1, 0, 0, 7), 3_600_000_007),
        ("duration", timedelta(seconds=-1), -1_000_000),
        ("decimal(5,2)", Decimal("1.005"), Decimal("1.01")),
        ("float", 2, 2.0),
        ("bytes", bytearray(b"ab"), b"ab"),
        ("json", {"b": 1, "a": 2}, '{"a":2,"b":1}'),
        ("array<string>", ["x"], '["x"]'),
        ("uuid", uuid.UUID(int=3), uuid.UUID(int=3)),
    ],
)
def test_ch_converter_insert_forms(spec: str, value: Any, stored: Any) -> None:
    out = ch_converter("c", parse_type(spec))(value)
    assert out == stored and type(out) is type(stored)


def test_ch_converter_raises_unfit_naming_the_column() -> None:
    with pytest.raises(Unfit) as info:
        ch_converter("amount", DEC)(Decimal("123456"))
    assert info.value.column == "amount" and "123456" not in str(info.value)


def test_ch_raw_expr_reads_timestamps_back_as_micros() -> None:
    assert ch_raw_expr("ts", parse_type("timestamptz")) == "toUnixTimestamp64Micro(`ts`)"
    assert ch_raw_expr("id", parse_type("int")) == "`id`"


def test_json_text_round_trips_through_json_module() -> None:
    value = {"z": [1.5, None, "é"], "a": {"k": True}}
    assert json.loads(to_json(value)) == value


NESTED = parse_type({"city": "string"})


@pytest.mark.parametrize(
    ("ft", "value"),
    [
        (NESTED, {"city": {1, 2}}),  # a set has no JSON form
        (parse_type("array<float>"), [math.nan]),
        (FieldType(Kind.JSON), object()),
    ],
)
def test_json_kinds_are_checked_deeply_unless_the_caller_encodes_anyway(
    ft: FieldType, value: Any
) -> None:
    assert "no JSON form" in (unfit_reason(ft, value) or "")
    assert checker(ft, deep=False)(value) is None
    with pytest.raises(Unfit, match="no JSON form"):
        ch_converter("c", ft)(value)


def test_shallow_checks_still_check_the_container_type() -> None:
    assert "expects a dict" in (checker(NESTED, deep=False)([1]) or "")
    with pytest.raises(Unfit, match="expects a dict"):
        ch_converter("c", NESTED)([1])
