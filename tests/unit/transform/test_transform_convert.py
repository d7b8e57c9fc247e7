"""The cast matrix: the docstring table is the code's table, and every cell behaves as it says."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.transform import convert
from streamapp.transform.cast import never_message
from streamapp.transform.convert import (
    MATRIX,
    MATRIX_KINDS,
    CastFailure,
    Verdict,
    converter,
    intermediate,
    verdict,
)
from streamapp.types import FieldType, Kind, parse_type

SPEC = {k: k.value for k in MATRIX_KINDS} | {Kind.DECIMAL: "decimal(5,2)"}
PLUS2 = timezone(timedelta(hours=2))

# (src, dst, input, expected): at least one per cell that is not "never".
SUCCESSES: list[tuple[str, str, Any, Any]] = [
    ("string", "string", "a", "a"),
    ("string", "int", " 42 ", 42),
    ("string", "int", "-7", -7),
    ("string", "float", "1.5", 1.5),
    ("string", "decimal(5,2)", "12.345", Decimal("12.34")),
    ("string", "decimal(5,2)", "12.355", Decimal("12.36")),
    ("string", "bool", "Yes", True),
    ("string", "bool", " off ", False),
    ("string", "date", "2024-02-29", date(2024, 2, 29)),
    ("string", "time", "12:30:01.5", time(12, 30, 1, 500000)),
    ("string", "timestamp", "2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5)),
    ("string", "timestamp", "2024-01-02T03:04:05+02:00", datetime(2024, 1, 2, 1, 4, 5)),
    (
        "string",
        "timestamptz",
        "2024-01-02T03:04:05+02:00",
        datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC),
    ),
    ("string", "timestamptz", "2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("int", "string", 42, "42"),
    ("int", "int", 42, 42),
    ("int", "float", 3, 3.0),
    ("int", "decimal(5,2)", 12, Decimal("12.00")),
    ("int", "bool", 0, False),
    ("int", "bool", 2, True),
    ("float", "string", 0.1, "0.1"),
    ("float", "int", 3.0, 3),
    ("float", "float", 2.5, 2.5),
    ("float", "decimal(5,2)", 0.125, Decimal("0.12")),
    ("decimal(5,2)", "string", Decimal("1E+2"), "100"),
    ("decimal(5,2)", "string", Decimal("-12.50"), "-12.50"),
    ("decimal(5,2)", "int", Decimal("12.00"), 12),
    ("decimal(5,2)", "float", Decimal("1.5"), 1.5),
    ("decimal(12,2)", "decimal(5,1)", Decimal("12.25"), Decimal("12.2")),
    ("decimal(5,2)", "decimal(5,2)", Decimal("1.23"), Decimal("1.23")),
    ("bool", "string", True, "true"),
    ("bool", "string", False, "false"),
    ("bool", "int", True, 1),
    ("bool", "bool", False, False),
    ("date", "string", date(2024, 1, 2), "2024-01-02"),
    ("date", "date", date(2024, 1, 2), date(2024, 1, 2)),
    ("date", "timestamp", date(2024, 1, 2), datetime(2024, 1, 2)),
    ("date", "timestamptz", date(2024, 1, 2), datetime(2024, 1, 2, tzinfo=UTC)),
    ("time", "string", time(1, 2, 3), "01:02:03"),
    ("time", "time", time(1, 2, 3), time(1, 2, 3)),
    ("timestamp", "string", datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
    ("timestamp", "date", datetime(2024, 1, 2, 3, 4, 5), date(2024, 1, 2)),
    ("timestamp", "time", datetime(2024, 1, 2, 3, 4, 5), time(3, 4, 5)),
    ("timestamp", "timestamp", datetime(2024, 1, 2), datetime(2024, 1, 2)),
    ("timestamp", "timestamptz", datetime(2024, 1, 2), datetime(2024, 1, 2, tzinfo=UTC)),
    ("timestamptz", "string", datetime(2024, 1, 2, tzinfo=UTC), "2024-01-02T00:00:00+00:00"),
    ("timestamptz", "date", datetime(2024, 1, 2, 1, tzinfo=PLUS2), date(2024, 1, 1)),
    ("timestamptz", "time", datetime(2024, 1, 2, 1, tzinfo=PLUS2), time(23)),
    ("timestamptz", "timestamp", datetime(2024, 1, 2, 1, tzinfo=PLUS2), datetime(2024, 1, 1, 23)),
    (
        "timestamptz",
        "timestamptz",
        datetime(2024, 1, 2, tzinfo=UTC),
        datetime(2024, 1, 2, tzinfo=UTC),
    ),
    ("uuid", "string", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ("string", "uuid", "00000000-0000-0000-0000-000000000001", uuid.UUID(int=1)),
    ("json", "string", {"b": 1, "a": [1, "é"]}, '{"b":1,"a":[1,"é"]}'),
]

# (src, dst, input): at least one per "may fail" cell.
FAILURES: list[tuple[str, str, Any]] = [
    ("string", "int", "4.2"),
    ("string", "int", "abc"),
    ("string", "int", "99999999999999999999"),
    ("string", "float", "abc"),
    ("string", "decimal(5,2)", "abc"),
    ("string", "decimal(5,2)", "12345.6"),
    ("string", "decimal(5,2)", "NaN"),
    ("string", "bool", "maybe"),
    ("string", "date", "2024-13-01"),
    ("string", "time", "25:00"),
    ("string", "time", "12:00+01:00"),
    ("string", "timestamp", "yesterday"),
    ("string", "timestamptz", "yesterday"),
    ("string", "uuid", "nope"),
    ("int", "decimal(5,2)", 1000),
    ("float", "int", 2.5),
    ("float", "int", math.nan),
    ("float", "int", math.inf),
    ("float", "int", 1e20),
    ("float", "decimal(5,2)", math.nan),
    ("float", "decimal(5,2)", 1e10),
    ("decimal(5,2)", "int", Decimal("2.5")),
    ("decimal(38,0)", "int", Decimal("1" + "0" * 30)),
    ("decimal(12,1)", "decimal(5,1)", Decimal("123456.0")),
]


def _kind(spec: str) -> Kind:
    return parse_type(spec).kind


def _docstring_matrix() -> dict[tuple[Kind, Kind], Verdict]:
    assert convert.__doc__ is not None
    lines = convert.__doc__.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith("from \\ to"))
    header = lines[start].split()[3:]
    table: dict[tuple[Kind, Kind], Verdict] = {}
    for line in lines[start + 1 : start + 1 + len(header)]:
        src, *cells = line.split()
        for dst, cell in zip(header, cells, strict=True):
            table[(Kind(src), Kind(dst))] = Verdict(cell)
    return table


def test_docstring_matrix_is_the_code_matrix() -> None:
    documented = _docstring_matrix()
    assert len(documented) == 81
    assert documented == {
        k: v for k, v in MATRIX.items() if k[0] in MATRIX_KINDS and k[1] in MATRIX_KINDS
    }


@pytest.mark.parametrize(("src", "dst", "value", "expected"), SUCCESSES)
def test_cast_succeeds(src: str, dst: str, value: Any, expected: Any) -> None:
    fn = converter(parse_type(src), parse_type(dst))
    assert fn is not None
    result = fn(value)
    assert result == expected
    assert type(result) is type(expected)
    if isinstance(expected, datetime):
        assert result.tzinfo == expected.tzinfo


@pytest.mark.parametrize(("src", "dst", "value"), FAILURES)
def test_cast_may_fail(src: str, dst: str, value: Any) -> None:
    assert verdict(_kind(src), _kind(dst)) is Verdict.MAY_FAIL
    fn = converter(parse_type(src), parse_type(dst))
    assert fn is not None
    with pytest.raises(CastFailure) as info:
        fn(value)
    assert str(value) not in info.value.reason


CELLS = [(s, d) for s in MATRIX_KINDS for d in MATRIX_KINDS]


@pytest.mark.parametrize(("src", "dst"), CELLS, ids=[f"{s.value}->{d.value}" for s, d in CELLS])
def test_every_cell_is_covered(src: Kind, dst: Kind) -> None:
    cell = MATRIX[(src, dst)]
    fn = converter(parse_type(SPEC[src]), parse_type(SPEC[dst]))
    if cell is Verdict.NEVER:
        assert fn is None
        return
    assert fn is not None
    assert any(_kind(s) is src and _kind(d) is dst for s, d, _, _ in SUCCESSES)
    if cell is Verdict.MAY_FAIL:
        assert any(_kind(s) is src and _kind(d) is dst for s, d, _ in FAILURES)


@pytest.mark.parametrize(
    ("src", "dst", "hint"),
    [
        ("decimal(12,2)", "bool", "cast to int first or drop the cast"),
        ("float", "bool", "cast to int first or drop the cast"),
        ("bool", "float", "cast to int first or drop the cast"),
        ("bool", "decimal(4,1)", "cast to int first or drop the cast"),
        ("int", "date", "compute the value with t.derive or drop the cast"),
        ("time", "timestamp", "compute the value with t.derive or drop the cast"),
        ("date", "time", "compute the value with t.derive or drop the cast"),
        ("bytes", "string", "compute the value with t.derive or drop the cast"),
        ("array<int>", "string", "compute the value with t.derive or drop the cast"),
    ],
)
def test_never_message_offers_a_way_out(src: str, dst: str, hint: str) -> None:
    assert converter(parse_type(src), parse_type(dst)) is None
    assert never_message(parse_type(src), parse_type(dst)) == (
        f"{parse_type(src)} -> {parse_type(dst)} is never possible; {hint}"
    )


def test_intermediate_never_suggests_string() -> None:
    assert all(intermediate(s, d) is not Kind.STRING for s in MATRIX_KINDS for d in MATRIX_KINDS)


def test_identity_of_other_kinds_is_allowed() -> None:
    for spec in ("uuid", "json", "bytes", "duration", "array<int>", "map<string>"):
        fn = converter(parse_type(spec), parse_type(spec))
        assert fn is not None and fn(sentinel := object()) is sentinel
    assert converter(parse_type("array<int>"), parse_type("array<string>")) is None
    assert (
        converter(FieldType(Kind.RECORD, fields=(("a", parse_type("int")),)), parse_type("json"))
        is None
    )


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_int_string_round_trip(n: int) -> None:
    to_text = converter(parse_type("int"), parse_type("string"))
    back = converter(parse_type("string"), parse_type("int"))
    assert to_text is not None and back is not None
    assert back(to_text(n)) == n


@given(st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-999, max_value=999))
def test_decimal_string_round_trip(d: Decimal) -> None:
    to_text = converter(parse_type("decimal(5,2)"), parse_type("string"))
    back = converter(parse_type("string"), parse_type("decimal(5,2)"))
    assert to_text is not None and back is not None
    assert back(to_text(d)) == d


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_float_string_round_trip(x: float) -> None:
    to_text = converter(parse_type("float"), parse_type("string"))
    back = converter(parse_type("string"), parse_type("float"))
    assert to_text is not None and back is not None
    assert back(to_text(x)) == x
