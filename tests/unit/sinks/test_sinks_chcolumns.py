"""ClickHouse whole-column conversion equals the per-cell converter; batches in insert form."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.records import UNCHANGED, Op, OutputRecord
from streamapp.sinks.base import Rejected, TableSpec
from streamapp.sinks.clickhouse import sink as ch
from streamapp.sinks.clickhouse.columns import arrow_table, arrow_types, column_converter
from streamapp.sinks.clickhouse.types import ch_converter
from streamapp.sinks.values import Unfit
from streamapp.types import Kind, parse_type

SECRET = "s3cr3t-Value"
_PLUS2 = timezone(timedelta(hours=2))

# Per kind: values of the exact type, and values the per-cell path must see (other types,
# subclasses, out-of-range, wrong awareness, non-finite) -- mixed into columns below.
GOOD: dict[str, list[Any]] = {
    "string": ["", "a", "é\x00"],
    "int": [0, -(1 << 63), (1 << 63) - 1, 42],
    "float": [0.0, -1.5, float("inf")],
    "bool": [True, False],
    "date": [date(1970, 1, 1), date(2299, 12, 31)],
    "uuid": [uuid.UUID(int=7)],
    "bytes": [b"", b"\x00\xff"],
    "time": [time(0), time(23, 59, 59, 999_999)],
    "duration": [timedelta(0), timedelta(days=-3, microseconds=5)],
    "timestamp": [datetime(1970, 1, 1), datetime(2026, 5, 1, 12, 0, 0, 7)],
    "timestamptz": [datetime(1970, 1, 1, tzinfo=UTC), datetime(2026, 5, 1, 2, tzinfo=_PLUS2)],
    "decimal(5,2)": [Decimal("1.005"), Decimal("-999.994"), Decimal("0E+3"), Decimal("5")],
    "json": [{"b": 1, "a": [2]}, "x", 3],
    "array<int>": [[1, 2], []],
}
ODD: dict[str, list[Any]] = {
    "string": [5, b"x", SECRET.encode()],
    "int": [True, 1 << 63, -(1 << 63) - 1, 1.0, "1"],
    "float": [3, True, "1.5"],
    "bool": [1, "true"],
    "date": [datetime(2020, 1, 1), "2020-01-01"],
    "uuid": [str(uuid.UUID(int=7))],
    "bytes": [bytearray(b"ab"), memoryview(b"cd"), "ab"],
    "time": [datetime(2020, 1, 1), 5],
    "duration": [5, time(1)],
    "timestamp": [datetime(2020, 1, 1, tzinfo=UTC), date(2020, 1, 1)],
    "timestamptz": [datetime(2020, 1, 1), date(2020, 1, 1)],
    "decimal(5,2)": [Decimal("999.995"), Decimal("NaN"), Decimal("-Infinity"), 1.5, 3],
    "json": [{1, 2}, float("nan")],
    "array<int>": [{"a": 1}, "x"],
}


def per_cell(spec: str, col: list[Any]) -> tuple[list[Any], set[int]]:
    convert = ch_converter("c", parse_type(spec))
    out: list[Any] = []
    unfit: set[int] = set()
    for i, v in enumerate(col):
        try:
            out.append(None if v is None else convert(v))
        except Unfit:
            out.append(None)
            unfit.add(i)
    return out, unfit


def same(a: list[Any], b: list[Any]) -> bool:
    """Equal values of equal types (Decimal('1.0') == Decimal('1.00') is not enough here)."""
    return len(a) == len(b) and all(
        type(x) is type(y) and (str(x) == str(y) if isinstance(x, Decimal) else x == y)
        for x, y in zip(a, b, strict=True)
    )


@settings(max_examples=300)
@given(data=st.data(), spec=st.sampled_from(sorted(GOOD)))
def test_a_column_converts_exactly_like_its_cells(data: st.DataObject, spec: str) -> None:
    pool = [None, *GOOD[spec]] + (ODD[spec] if data.draw(st.booleans()) else [])
    col = data.draw(st.lists(st.sampled_from(pool), max_size=12))
    expected, bad = per_cell(spec, col)
    out, unfit = column_converter("c", parse_type(spec))(list(col))
    assert same(out, expected)
    assert set(unfit) == bad
    assert all(e.column == "c" and SECRET not in str(e) for e in unfit.values())


@pytest.mark.parametrize("spec", sorted(ODD))
def test_each_odd_value_alone_matches_the_cell_path(spec: str) -> None:
    for v in ODD[spec]:
        col = [GOOD[spec][0], v, None]
        expected, bad = per_cell(spec, col)
        out, unfit = column_converter("c", parse_type(spec))(col)
        assert same(out, expected) and set(unfit) == bad, (spec, type(v).__name__)


COLS = {
    n: parse_type(t) for n, t in {"id": "int", "name": "string", "amount": "decimal(5,2)"}.items()
}
PLAN = ch._compile(TableSpec("topo", "orders", ("id",), COLS), "db", "orders")


def rec(key: Any, version: int, *, deleted: bool = False, **values: Any) -> OutputRecord:
    unchanged = frozenset(c for c, v in values.items() if v is UNCHANGED)
    value = {"id": key, **values}
    return OutputRecord("t", (key,), value, version, Op.UPDATE, deleted, unchanged, None)


def test_a_batch_is_columns_in_insert_form_with_rejects_in_record_order() -> None:
    rejected: list[Rejected] = []
    records = [
        rec(1, 5, name="a", amount=Decimal("1.505")),
        rec(9, 1, name=SECRET, amount=Decimal("99999")),
        rec(2, 6, deleted=True, name="gone", amount=Decimal("1")),
        rec(3, 7, name=UNCHANGED, amount=None),
        rec(8, 2, name=5, amount=Decimal("99999")),  # both unfit: the first column is named
        rec(4, 8, amount=Decimal("2")),  # name missing from the value: null
    ]
    batch = ch._columns(PLAN, records, [(j,) for j in range(len(records))], rejected)
    assert batch.columns == [
        [1, 2, 3, 4],
        ["a", None, None, None],
        [Decimal("1.51"), None, None, Decimal("2.00")],
        [5, 6, 7, 8],
        [0, 1, 0, 0],
    ]
    assert [r.key for r in batch.records] == [(1,), (2,), (3,), (4,)]
    assert [(r.positions, r.error.field) for r in rejected] == [((1,), "amount"), ((4,), "name")]
    assert batch.origins == [(0,), (2,), (3,), (5,)]
    assert all(SECRET not in str(r.error) and "99999" not in str(r.error) for r in rejected)


def test_a_key_column_takes_the_record_key_and_is_checked_last() -> None:
    rejected: list[Rejected] = []
    ok = OutputRecord(
        "t", (7,), {"id": "not used", "name": "x"}, 1, Op.UPDATE, False, frozenset(), None
    )
    bad = OutputRecord("t", (True,), {"id": 1, "name": 5}, 1, Op.UPDATE, False, frozenset(), None)
    batch = ch._columns(PLAN, [ok, bad], [(0,), (1,)], rejected)
    assert batch.columns[0] == [7]
    assert [r.error.field for r in rejected] == ["name"]


def test_an_empty_batch_has_empty_columns() -> None:
    batch = ch._columns(PLAN, [], [], [])
    assert batch.records == [] and batch.columns == [[], [], [], [], []]


ALL = {
    n: parse_type(t)
    for n, t in {
        "i": "int",
        "s": "string",
        "f": "float",
        "b": "bool",
        "d": "decimal(12,2)",
        "big": "decimal(50,4)",
        "day": "date",
        "t": "time",
        "ts": "timestamp",
        "tz": "timestamptz",
        "dur": "duration",
        "raw": "bytes",
        "u": "uuid",
        "j": "json",
    }.items()
}


def test_the_arrow_table_holds_the_insert_form() -> None:
    names = [*ALL, "__version", "__is_deleted"]
    types = arrow_types(tuple(ALL.values()))
    u = uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")
    row = [
        -5,
        "é",
        1.5,
        True,
        Decimal("-12.35"),
        Decimal("1.0000"),
        date(1900, 1, 2),
        3_600_000_007,
        1_000_005,
        -1,
        -1_000_000,
        b"\x00\xff",
        u,
        '{"a":1}',
        (1 << 63) + 5,
        1,
    ]
    kinds = (*(ft.kind for ft in ALL.values()), Kind.INT, Kind.INT)
    table = arrow_table(names, kinds, types, [[v, None] for v in row])
    got = {n: table.column(n).to_pylist() for n in names}
    assert got["u"] == [u.bytes, None]
    assert got["ts"] == [datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC), None]
    assert got["big"] == [Decimal("1.0000"), None] and got["d"] == [Decimal("-12.35"), None]
    assert got["__version"] == [(1 << 63) + 5, None] and got["raw"] == [b"\x00\xff", None]
    assert table.schema.field("day").type == pa.date32()
    assert table.schema.field("big").type == pa.decimal256(50, 4)


@pytest.mark.parametrize(
    ("spec", "value"),
    [("int", "1"), ("decimal(5,2)", Decimal("1.001")), ("uuid", "not bytes"), ("string", 5)],
)
def test_a_value_arrow_cannot_take_raises_a_content_error(spec: str, value: Any) -> None:
    ft = parse_type(spec)
    types = arrow_types((ft,))
    with pytest.raises(Exception) as info:
        arrow_table(
            ["c", "__version", "__is_deleted"],
            (ft.kind, Kind.INT, Kind.INT),
            types,
            [[value], [1], [0]],
        )
    assert ch._is_content(info.value)
