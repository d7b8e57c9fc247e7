"""The native (C) Avro writer: bytes and EncodeErrors identical to the pure-Python writer."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from types import ModuleType
from typing import Any

import pytest
from encode_strategies import columns, values
from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.encode import avronative
from streamapp.encode.avro import RecordEncoder
from streamapp.encode.avronative import (
    BOOL,
    BYTES,
    DATE,
    DECIMAL,
    DOUBLE,
    DURATION,
    LONG,
    NULL_FIRST,
    NULL_SECOND,
    RAW,
    STRING,
    TIME,
    TS,
    TSTZ,
)
from streamapp.encode.avrowrite import _WRITE_ERRORS, _decimal_writer, _field_writer, _Unfit
from streamapp.encode.schema import avro_schema_for, avro_type, key_schema_for
from streamapp.errors import EncodeError
from streamapp.records import UNCHANGED, Op, OutputRecord
from streamapp.types import FieldType, Kind

_avrowrite: ModuleType = pytest.importorskip("streamapp.encode._avrowrite")
PLUS3 = timezone(timedelta(hours=3))


class IntSub(int):
    def __lshift__(self, other: int) -> int:
        return int(self) << other


class StrSub(str):
    pass


class FloatSub(float):
    pass


class DatetimeSub(datetime):
    pass


@pytest.fixture(autouse=True)
def native(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The extension, in use by new encoders even when STREAMAPP_NATIVE=0 disabled it."""
    monkeypatch.setattr(avronative, "NATIVE", _avrowrite)
    return _avrowrite


def pair(value: dict[str, Any], key: dict[str, Any] | None) -> Iterator[RecordEncoder]:
    """The same encoder twice: through the C writer, then pure Python only."""
    for module in (_avrowrite, None):
        avronative.NATIVE = module
        yield RecordEncoder(value, key, value_schema_id=7, key_schema_id=8 if key else None)
    avronative.NATIVE = _avrowrite


def outcome(fn: Any, *args: Any) -> tuple[Any, ...]:
    """("ok", result) or ("error", exception class, message, field)."""
    try:
        return ("ok", fn(*args))
    except EncodeError as exc:
        return ("error", type(exc), str(exc), exc.field)


# ---- the C call itself, opcode by opcode -------------------------------------------------------

_KIND_OF = {  # opcode -> the kind whose pure writer is the reference for that opcode
    LONG: Kind.INT, DOUBLE: Kind.FLOAT, BOOL: Kind.BOOL, STRING: Kind.STRING, BYTES: Kind.BYTES,
    DATE: Kind.DATE, TIME: Kind.TIME, TS: Kind.TIMESTAMP, TSTZ: Kind.TIMESTAMPTZ,
    DURATION: Kind.DURATION,
}  # fmt: skip


@pytest.mark.parametrize(
    ("op", "value"),
    [
        (LONG, 0), (LONG, -1), (LONG, 63), (LONG, 64), (LONG, 8191), (LONG, 8192),
        (LONG, 2**63 - 1), (LONG, -(2**63)), (LONG, True),
        (DOUBLE, 1.5), (DOUBLE, -0.0), (DOUBLE, float("inf")), (DOUBLE, float("nan")),
        (BOOL, True), (BOOL, False),
        (STRING, ""), (STRING, "héllo ✓"), (STRING, "x" * 300),
        (BYTES, b""), (BYTES, b"\x00\xff" * 100),
        (DATE, date(1, 1, 1)), (DATE, date(1969, 12, 31)), (DATE, date(9999, 12, 31)),
        (TIME, time(0, 0)), (TIME, time(23, 59, 59, 999999)),
        (TS, datetime(1, 1, 1)), (TS, datetime(1969, 12, 31, 23, 59, 59, 1)),
        (TS, datetime(9999, 12, 31, 23, 59, 59, 999999)), (TS, datetime(2024, 2, 29, fold=1)),
        (TSTZ, datetime(1, 1, 1, tzinfo=UTC)), (TSTZ, datetime(2024, 5, 1, 12, 30, tzinfo=UTC)),
        (DURATION, timedelta(days=-1, microseconds=5)), (DURATION, timedelta(days=100_000_000)),
        (DURATION, timedelta(days=-100_000_000)),
    ],
)  # fmt: skip
def test_each_kind_writes_the_pure_writers_bytes(op: int, value: Any) -> None:
    t = avro_type(FieldType(_KIND_OF[op]))
    expected = bytearray(b"head")
    _field_writer(t, "c")(expected, value)
    out = bytearray(b"head")
    _avrowrite.write(out, (value,), bytes([op]))
    assert out == expected
    for flag, union in ((NULL_FIRST, ["null", t]), (NULL_SECOND, [t, "null"])):
        for v in (value, None):
            expected, out = bytearray(), bytearray()
            _field_writer(union, "c")(expected, v)
            _avrowrite.write(out, (v,), bytes([op | flag]))
            assert out == expected


@pytest.mark.parametrize(
    ("op", "value"),
    [
        (LONG, 2**63), (LONG, -(2**63) - 1), (LONG, 1.0), (LONG, IntSub(1)), (LONG, None),
        (DOUBLE, 1), (DOUBLE, FloatSub(1.0)), (BOOL, 1), (BOOL, None),
        (STRING, b"x"), (STRING, StrSub("x")), (STRING, "\ud800"),
        (BYTES, "x"), (BYTES, bytearray(b"x")), (RAW, "x"), (RAW, memoryview(b"x")),
        (DATE, datetime(2024, 1, 1)), (TIME, datetime(2024, 1, 1)),
        (TS, datetime(2024, 1, 1, tzinfo=UTC)), (TS, DatetimeSub(2024, 1, 1)), (TS, date.today()),
        (TSTZ, datetime(2024, 1, 1)), (TSTZ, datetime(2024, 1, 1, tzinfo=PLUS3)),
        (DURATION, timedelta(days=100_000_001)), (DURATION, 5),
    ],
)  # fmt: skip
def test_anything_else_is_refused_and_out_is_left_as_it_was(op: int, value: Any) -> None:
    out = bytearray(b"head")
    with pytest.raises((TypeError, ValueError, UnicodeError)):
        _avrowrite.write(out, ("ok", value), bytes([STRING, op]))
    assert out == b"head"


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((bytearray(), (1,), bytes([LONG, LONG])), ValueError),
        ((bytearray(), (1,), bytes([0])), ValueError),
        ((bytearray(), (1,), bytes([12])), ValueError),
        ((b"", (1,), bytes([LONG])), TypeError),
        ((bytearray(), iter([1]), bytes([LONG])), TypeError),
        ((bytearray(), [1], bytes([LONG])), TypeError),
        ((bytearray(), (1,), bytearray([LONG])), TypeError),
        ((bytearray(), (1,)), TypeError),
    ],
)
def test_bad_calls_raise(args: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        _avrowrite.write(*args)


def test_raw_appends_bytes_as_they_are_but_never_out_itself() -> None:
    out = bytearray(b"a")
    _avrowrite.write(out, (b"\x02x", bytearray(b"yz"), None), bytes([RAW, RAW, RAW | NULL_FIRST]))
    assert out == b"a\x02xyz\x00"
    with pytest.raises(TypeError):
        _avrowrite.write(out, (out,), bytes([RAW]))


def test_a_long_run_grows_the_buffer_correctly() -> None:
    vals = tuple("é" * i for i in range(400))
    out, expected = bytearray(), bytearray()
    _avrowrite.write(out, vals, bytes([STRING]) * len(vals))
    for v in vals:
        _field_writer("string", "c")(expected, v)
    assert out == expected


@pytest.mark.parametrize(
    ("precision", "scale", "value"),
    [
        (12, 2, "12.34"), (12, 2, "-0.01"), (12, 2, "-1.28"), (12, 2, "1.27"), (12, 2, "-1.29"),
        (12, 2, "12.345"), (12, 2, "-12.345"), (12, 2, "12.3449999"), (12, 2, "0.005"),
        (12, 2, "0.0049"), (12, 2, "-0.005"), (12, 2, "7"), (12, 2, "-0"), (12, 2, "0E-30"),
        (12, 2, "0E+30"), (12, 2, "1.5E+3"), (12, 2, "1e-3"), (12, 2, "9999999999.994"),
        (5, 0, "99999.4"), (1, 0, "-9"), (1, 1, "0.94"), (38, 0, "1" + "0" * 29),
        (38, 0, "9" * 30), (38, 8, "123456789012345678901234567890"), (38, 38, "0.5"),
        (20, 0, "-9223372036854775809"), (20, 10, "1.23E-11"), (20, 10, "5E-11"),
    ],
)  # fmt: skip
def test_decimals_write_the_pure_writers_bytes(precision: int, scale: int, value: str) -> None:
    expected, out = bytearray(), bytearray()
    for v in (Decimal(value), None):
        _field_writer(
            ["null", avro_type(FieldType(Kind.DECIMAL, precision=precision, scale=scale))], "c"
        )(expected, v)
        _avrowrite.write(out, (v,), bytes([DECIMAL | NULL_FIRST, precision, scale]))
    assert out == expected


@pytest.mark.parametrize(
    ("precision", "scale", "value"),
    [
        (5, 2, Decimal("1000")), (1, 1, Decimal("0.95")), (5, 2, Decimal("999.995")),
        (38, 0, Decimal("1" * 31)),
        (12, 2, Decimal("NaN")), (12, 2, Decimal("-Infinity")), (12, 2, Decimal("sNaN")),
        (12, 2, Decimal("1E+100000")), (12, 2, 1.5), (12, 2, 12), (12, 2, "1.5"),
    ],
)  # fmt: skip
def test_decimals_that_do_not_fit_are_refused(precision: int, scale: int, value: Any) -> None:
    out = bytearray(b"x")
    with pytest.raises(TypeError):
        _avrowrite.write(out, (value,), bytes([DECIMAL, precision, scale]))
    assert out == b"x"


@pytest.mark.parametrize(
    "program",
    [
        bytes([DECIMAL]), bytes([DECIMAL, 39, 0]), bytes([DECIMAL, 5, 6]), bytes([DECIMAL, 0, 0]),
        bytes([DECIMAL, 5, 2, LONG]),
    ],
)  # fmt: skip
def test_bad_decimal_programs_are_refused(program: bytes) -> None:
    with pytest.raises(ValueError, match="program does not match"):
        _avrowrite.write(bytearray(), (Decimal(1),), program)


@settings(max_examples=500)
@given(
    st.integers(1, 38).flatmap(lambda p: st.tuples(st.just(p), st.integers(0, p))),
    st.decimals(allow_nan=True, allow_infinity=True)
    | st.decimals(places=3)
    | st.integers(-(10**40), 10**40).map(Decimal)
    | st.tuples(st.integers(-(10**35), 10**35), st.integers(-45, 45)).map(
        lambda t: Decimal(t[0]).scaleb(t[1])
    ),
)
def test_decimal_parity(ps: tuple[int, int], value: Decimal) -> None:
    """The C decimal writes the pure writer's bytes, or refuses (and the pure writer decides)."""
    precision, scale = ps
    try:
        expected: Any = _decimal_writer(precision, scale)(value)
    except (_Unfit, ArithmeticError) as exc:
        expected = type(exc)
    out = bytearray()
    try:
        _avrowrite.write(out, (value,), bytes([DECIMAL, precision, scale]))
    except TypeError:
        assert len(value.as_tuple().digits) > 30 or not isinstance(expected, bytes)
        return
    assert isinstance(expected, bytes)
    assert out[1:] == expected and out[0] == 2 * len(expected)


# ---- RecordEncoder through the C writer versus pure Python ------------------------------------

ODD_VALUES = st.sampled_from(
    [
        None, UNCHANGED, True, False, 0, -5, 2**63, -(2**63) - 1, 2**70, IntSub(7), 1.5,
        float("nan"), FloatSub(2.0), "x", "\ud800", StrSub("s"), b"x", bytearray(b"x"),
        Decimal("1.5"), Decimal("NaN"), Decimal("1e40"), date(2024, 1, 1),
        datetime(2024, 1, 1), datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=PLUS3),
        DatetimeSub(2024, 1, 1, tzinfo=UTC), time(1, 2), time(1, 2, tzinfo=UTC), timedelta(1),
        timedelta(days=999_999_999), timedelta(days=-999_999_999), uuid.UUID(int=5), [1, "a"],
        {"a": 1}, {1: 2}, (), object(),
    ]
)  # fmt: skip


def _flip_unions(t: Any, flip: bool) -> Any:
    """``["null", T]`` -> ``[T, "null"]`` when ``flip`` (top level only)."""
    if flip and isinstance(t, list) and len(t) == 2 and t[0] == "null":
        return [t[1], "null"]
    return t


@st.composite
def schemas_and_records(draw: st.DrawFn, odd: bool) -> tuple[Any, Any, OutputRecord]:
    cols: dict[str, FieldType] = draw(columns(max_size=8))
    keys = tuple(c for c, t in cols.items() if t.kind not in (Kind.ARRAY, Kind.MAP))[:2]
    value = avro_schema_for(cols, name="orders", namespace="ns", key_columns=keys)
    for f in value["fields"]:
        f["type"] = _flip_unions(f["type"], draw(st.booleans()))
    key = (
        key_schema_for(cols, name="orders_key", namespace="ns", key_columns=keys) if keys else None
    )
    row: dict[str, Any] = {}
    for name, ft in cols.items():
        strategy = values(ft, nullable=name not in keys)
        if odd:
            strategy = strategy | ODD_VALUES
        if draw(st.integers(0, 9)):  # now and then a column is missing
            row[name] = draw(strategy)
    unchanged = frozenset(draw(st.sets(st.sampled_from(sorted(cols)))) if not odd else ())
    for name in unchanged:
        row[name] = UNCHANGED
    deleted = draw(st.booleans())
    op = Op.DELETE if deleted else Op.UPDATE
    rec = OutputRecord(
        "orders", tuple(row.get(k) for k in keys), row, 1, op, deleted, unchanged, None
    )
    return value, key, rec


def assert_same(value: Any, key: Any, rec: OutputRecord) -> None:
    native, pure = pair(value, key)
    assert outcome(native.encode_value, rec) == outcome(pure.encode_value, rec)
    if key is not None:
        assert outcome(native.encode_key, rec) == outcome(pure.encode_key, rec)


@settings(max_examples=150)
@given(schemas_and_records(odd=False))
def test_values_of_the_declared_types_encode_identically(case: Any) -> None:
    assert_same(*case)


@settings(max_examples=150)
@given(schemas_and_records(odd=True))
def test_any_value_encodes_or_fails_identically(case: Any) -> None:
    assert_same(*case)


def test_values_that_fit_never_reach_the_pure_writer() -> None:
    cols = {c: FieldType(k) for c, k in (("a", Kind.INT), ("b", Kind.UUID), ("c", Kind.JSON))}
    cols["d"] = FieldType(Kind.DECIMAL, precision=5, scale=2)
    cols["e"] = FieldType(Kind.ARRAY, items=FieldType(Kind.STRING))
    value = avro_schema_for(cols, name="o", namespace="ns", key_columns=("a",))
    key = key_schema_for(cols, name="o_key", namespace="ns", key_columns=("a",))
    native, pure = pair(value, key)
    for fn in (native._write_value, native._write_key):
        fn.__globals__["PURE"] = None  # calling it would raise TypeError
    row = {"a": 1, "b": uuid.UUID(int=1), "c": {"k": [1]}, "d": Decimal("1.25"), "e": ["x"]}
    rec = OutputRecord("o", (1,), row, 1, Op.UPDATE, False, frozenset(), None)
    assert native.encode_value(rec) == pure.encode_value(rec)
    assert native.encode_key(rec) == pure.encode_key(rec)


@pytest.mark.parametrize("value", [None, "s3cr3t", 2**63, Decimal("123456.7"), [1]])
def test_unfit_values_fall_back_to_the_pure_writers_error(value: Any) -> None:
    cols = {"a": FieldType(Kind.INT), "d": FieldType(Kind.DECIMAL, precision=5, scale=2)}
    value_schema = avro_schema_for(cols, name="o", namespace="ns", key_columns=("a",))
    key = key_schema_for(cols, name="o_key", namespace="ns", key_columns=("a",))
    native, pure = pair(value_schema, key)
    rec = OutputRecord(
        "o", (value,), {"a": value, "d": value}, 1, Op.UPDATE, False, frozenset(), None
    )
    for method in ("encode_value", "encode_key"):
        got = outcome(getattr(native, method), rec)
        assert got[0] == "error"
        assert got == outcome(getattr(pure, method), rec)
        assert "s3cr3t" not in got[2]


def test_without_the_extension_the_pure_writer_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(avronative, "NATIVE", None)
    pure = _field_writer("long", "c")
    assert avronative.key_writer([{"name": "c", "type": "long"}], pure, "k") is pure


def test_write_errors_cover_what_the_fallback_may_see() -> None:
    assert issubclass(UnicodeEncodeError, _WRITE_ERRORS)
