"""Canonical forms: every form a sink stores a kind in reads back to one text."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.reconcile.canon import canonical, opaque, sort_fn
from streamapp.sinks.clickhouse.types import ch_converter
from streamapp.sinks.redis.types import scalar_text
from streamapp.sinks.values import quantize, to_json
from streamapp.types import FieldType, Kind, parse_type

DEC = parse_type("decimal(12,2)")
TS = parse_type("timestamp")
TSTZ = parse_type("timestamptz")
U = UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    ("spec", "forms", "text"),
    [
        ("decimal(12,2)", [Decimal("12.5"), Decimal("12.50"), "12.5", "12.50", 12.5], "12.50"),
        ("decimal(12,2)", [Decimal("-0.00"), Decimal("0"), "0.00", 0], "0.00"),
        ("decimal(12,2)", [Decimal("1.005"), "1.005"], "1.01"),  # half-up, as PostgreSQL
        ("int", [42, "42", Decimal("42"), 42.0], "42"),
        ("float", [1.5, "1.5", 1.5], "1.5"),
        ("float", [3, 3.0, "3"], "3.0"),
        ("bool", [True, 1, "true", "t"], "true"),
        ("bool", [False, 0, "false", "f"], "false"),
        ("string", ["héllo", b"h\xc3\xa9llo"], "héllo"),
        ("date", [date(2024, 5, 1), "2024-05-01", datetime(2024, 5, 1, 13, 0)], "2024-05-01"),
        ("time", [time(13, 45, 0, 250000), "13:45:00.250000", 49_500_250_000], "49500250000"),
        (
            "timestamp",
            [datetime(2024, 5, 1, 12, 0, 0, 1), "2024-05-01T12:00:00.000001", 1714564800000001],
            "1714564800000001",
        ),
        (
            "timestamptz",
            [
                datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
                datetime(2024, 5, 1, 14, 0, tzinfo=timezone(timedelta(hours=2))),
                "2024-05-01T12:00:00+00:00",
                "2024-05-01T12:00:00Z",
                1714564800000000,
            ],
            "1714564800000000",
        ),
        ("duration", [timedelta(seconds=1, microseconds=5), 1_000_005, "1000005"], "1000005"),
        ("bytes", [b"\x00\xff", bytearray(b"\x00\xff"), memoryview(b"\x00\xff"), "AP8="], "AP8="),
        ("uuid", [U, str(U), str(U).upper(), U.bytes], str(U)),
    ],
)
def test_every_stored_form_has_one_canonical_text(spec: str, forms: list[Any], text: str) -> None:
    ft = parse_type(spec)
    assert {canonical(ft, f) for f in forms} == {text}


@pytest.mark.parametrize(
    ("value", "stored", "json_text"),
    [
        ({"b": 1, "a": [1.0, "x"]}, {"a": [1, "x"], "b": 1}, False),  # jsonb: order, 1.0 -> 1
        ({"b": 1, "a": 2}, '{"a":2,"b":1}', True),  # ClickHouse / hash text
        ([1e16], [10000000000000000], False),  # jsonb keeps no exponent
        ("abc", "abc", True),  # a Redis hash keeps a JSON string unquoted
        ({"d": Decimal("1.50")}, {"d": "1.50"}, False),
    ],
)
def test_json_values_compare_through_their_stored_forms(
    value: Any, stored: Any, json_text: bool
) -> None:
    ft = FieldType(Kind.JSON)
    assert canonical(ft, value) == canonical(ft, stored, json_text=json_text)


@pytest.mark.parametrize(
    ("spec", "a", "b"),
    [
        ("decimal(12,2)", Decimal("1.00"), Decimal("1.01")),
        (
            "timestamptz",
            datetime(2024, 1, 1, tzinfo=UTC),
            datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC),
        ),
        ("string", "a", "A"),
        ("json", {"a": 1}, {"a": "1"}),
        ("bool", True, False),
    ],
)
def test_different_values_stay_different(spec: str, a: Any, b: Any) -> None:
    ft = parse_type(spec)
    assert canonical(ft, a) != canonical(ft, b)


@pytest.mark.parametrize("spec", ["int", "decimal(12,2)", "date", "uuid", "timestamp", "bool"])
def test_null_stays_null_and_garbage_is_opaque(spec: str) -> None:
    ft = parse_type(spec)
    assert canonical(ft, None) is None
    secret = "not-a-value-123-secret"
    marker = canonical(ft, secret)
    assert marker is not None and marker.startswith("\x00unreadable str ")
    assert secret not in marker
    assert marker != canonical(ft, "another-garbage-value")
    assert opaque(secret) == marker


# -- sink round trips: the value, ClickHouse's insert form, Redis hash text and JSON documents --

_scalars: dict[str, st.SearchStrategy[Any]] = {
    "string": st.text(),
    "int": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(allow_nan=False, allow_infinity=False),
    "bool": st.booleans(),
    "decimal(12,2)": st.decimals(min_value=-(10**9), max_value=10**9, places=4),
    "date": st.dates(),
    "time": st.times(),
    "timestamp": st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    "timestamptz": st.datetimes(
        min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    "duration": st.timedeltas(min_value=timedelta(days=-999), max_value=timedelta(days=999)),
    "bytes": st.binary(),
    "uuid": st.uuids(),
}


@given(data=st.data(), spec=st.sampled_from(sorted(_scalars)))
def test_a_value_and_every_sink_form_of_it_agree(data: st.DataObject, spec: str) -> None:
    ft = parse_type(spec)
    value = data.draw(_scalars[spec])
    if ft.kind is Kind.DECIMAL:
        value = quantize(ft, value)  # what the topology hands over fits the column
    want = canonical(ft, value)
    clickhouse = ch_converter("c", ft)(value)
    if isinstance(clickhouse, bytes):  # ClickHouse String read with column_formats bytes
        clickhouse = bytes(clickhouse)
    document = json.loads(to_json({"c": value}))["c"]
    assert canonical(ft, clickhouse) == want
    assert canonical(ft, scalar_text(value), json_text=True) == want
    assert canonical(ft, document) == want


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_json_text_and_parsed_json_agree(value: Any) -> None:
    ft = FieldType(Kind.JSON)
    assert canonical(ft, to_json(value), json_text=True) == canonical(ft, value)


# -- key order: the sort value orders as PostgreSQL (COLLATE "C") and ClickHouse do -----------


@given(st.lists(st.text(), min_size=2))
def test_string_keys_sort_by_utf8_bytes(values: list[str]) -> None:
    key = sort_fn(parse_type("string"))
    assert sorted(values, key=key) == sorted(
        values, key=lambda s: s.encode("utf-8", "surrogatepass")
    )


@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=2))
def test_int_keys_sort_numerically_whatever_the_form(values: list[int]) -> None:
    key = sort_fn(parse_type("int"))
    assert [key(str(v)) for v in sorted(values)] == sorted(key(v) for v in values)


@given(st.lists(st.datetimes(timezones=st.just(UTC)), min_size=2))
def test_timestamp_keys_sort_chronologically(values: list[datetime]) -> None:
    key = sort_fn(TSTZ)
    assert sorted(values, key=key) == sorted(values)


def test_nested_kinds_cannot_be_keys() -> None:
    with pytest.raises(ValueError, match="cannot be a reconciliation key"):
        sort_fn(FieldType(Kind.JSON))
