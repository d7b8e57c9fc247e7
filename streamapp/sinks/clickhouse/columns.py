"""ClickHouse insert columns: a whole column to insert form at once, per cell only when needed.

The ClickHouse sink inserts column-oriented. Converting a column with one call (a type test
over the column, then identity or one comprehension) costs a fraction of a converter call per
cell; a column holding any value outside its kind's exact Python type takes the per-cell
:func:`~streamapp.sinks.clickhouse.types.ch_converter` instead, which also names the column and
the reason for each value that does not fit. The converted columns go to ClickHouse as one
Arrow table (:func:`arrow_table`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation
from typing import Any, Final
from uuid import UUID

from streamapp.sinks.clickhouse.types import ch_converter
from streamapp.sinks.values import JSON_KINDS, Unfit, micros
from streamapp.types import FieldType, Kind

ColumnConverter = Callable[[list[Any]], tuple[list[Any], dict[int, Unfit]]]
"""Column of non-null values or None -> (insert-form column, {row index: Unfit})."""

_NONE: Final = type(None)
_INT_MIN: Final = -(1 << 63)
_INT_MAX: Final = (1 << 63) - 1
# Kinds whose exact Python type is already the insert form (no conversion, only the type test).
_AS_IS: Final[dict[Kind, type]] = {
    Kind.STRING: str,
    Kind.FLOAT: float,
    Kind.BOOL: bool,
    Kind.DATE: date,
    Kind.UUID: UUID,
    Kind.BYTES: bytes,
}
_EPOCH_NAIVE: Final = datetime(1970, 1, 1)
_EPOCH_AWARE: Final = datetime(1970, 1, 1, tzinfo=UTC)


def _only(col: list[Any], exact: type) -> bool:
    """True when every value of ``col`` is None or of type ``exact`` (subclasses excluded)."""
    types = set(map(type, col))
    types.discard(_NONE)
    return not types or types == {exact}


def _time_micros(v: time) -> int:
    return ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond


def column_converter(name: str, ft: FieldType) -> ColumnConverter:
    """A converter of whole columns of ``ft`` values into the insert form of ``ch_type(ft)``.

    Guarantees: for every cell, the output is None for None, else exactly what
    ``ch_converter(name, ft)`` returns for it; a cell whose value does not fit is None in the
    output and listed with its :class:`Unfit` (naming ``name``, never the value). Types are
    tested exactly, so a subclass (e.g. a ``bool`` in an int column) takes the per-cell path.
    """
    cell = ch_converter(name, ft)

    def per_cell(col: list[Any]) -> tuple[list[Any], dict[int, Unfit]]:
        out: list[Any] = []
        unfit: dict[int, Unfit] = {}
        for i, v in enumerate(col):
            if v is None:
                out.append(None)
                continue
            try:
                out.append(cell(v))
            except Unfit as exc:
                out.append(None)
                unfit[i] = exc
        return out, unfit

    kind = ft.kind
    as_is = _AS_IS.get(kind)
    if as_is is not None:
        return lambda col: (col, {}) if _only(col, as_is) else per_cell(col)
    if kind is Kind.INT:
        return lambda col: (col, {}) if _ints_fit(col) else per_cell(col)
    if kind in (Kind.TIME, Kind.DURATION):
        exact, to_micros = (time, _time_micros) if kind is Kind.TIME else (timedelta, micros)

        def mapped(col: list[Any]) -> tuple[list[Any], dict[int, Unfit]]:
            if not _only(col, exact):
                return per_cell(col)
            return [None if v is None else to_micros(v) for v in col], {}

        return mapped
    if kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
        return _timestamps(ft, per_cell)
    if kind is Kind.DECIMAL and ft.precision:
        return _decimals(ft, per_cell)
    assert kind in JSON_KINDS or kind is Kind.DECIMAL, kind
    return per_cell


def _ints_fit(col: list[Any]) -> bool:
    types = set(map(type, col))
    if _NONE in types:
        types.discard(_NONE)
        col = [v for v in col if v is not None]
    if not types:
        return True
    return types == {int} and min(col) >= _INT_MIN and max(col) <= _INT_MAX


_MICRO: Final = timedelta(microseconds=1)


def _timestamps(
    ft: FieldType, per_cell: Callable[[list[Any]], tuple[list[Any], dict[int, Unfit]]]
) -> ColumnConverter:
    """Microseconds since the epoch; subtracting the epoch of the other awareness raises
    TypeError, which sends the column to the per-cell path (and its precise reason)."""
    epoch = _EPOCH_NAIVE if ft.kind is Kind.TIMESTAMP else _EPOCH_AWARE

    def convert(col: list[Any]) -> tuple[list[Any], dict[int, Unfit]]:
        if _only(col, datetime):
            try:
                return [None if v is None else (v - epoch) // _MICRO for v in col], {}
            except TypeError:
                pass
        return per_cell(col)

    return convert


def _refuse() -> Decimal:
    raise InvalidOperation


def _decimals(
    ft: FieldType, per_cell: Callable[[list[Any]], tuple[list[Any], dict[int, Unfit]]]
) -> ColumnConverter:
    """Rounded half-up to the scale; a quantize that would need more than ``precision`` digits
    (or a non-finite value) raises InvalidOperation, which sends the column to the per-cell
    path."""
    unit = Decimal(1).scaleb(-(ft.scale or 0))
    context = Context(prec=ft.precision or 1, rounding=ROUND_HALF_UP, traps=[InvalidOperation])

    def convert(col: list[Any]) -> tuple[list[Any], dict[int, Unfit]]:
        if _only(col, Decimal):
            try:
                return [
                    None
                    if v is None
                    else v.quantize(unit, None, context)
                    if v.is_finite()
                    else _refuse()
                    for v in col
                ], {}
            except InvalidOperation:
                pass
        return per_cell(col)

    return convert


def _pyarrow() -> Any:
    """pyarrow, imported on first use (a dependency of chdb, hence always installed)."""
    import pyarrow

    return pyarrow


def arrow_types(types: tuple[FieldType, ...]) -> list[Any]:
    """The pyarrow type of each column's insert form (what :func:`column_converter` makes),
    then those of ``__version`` (UInt64) and ``__is_deleted`` (UInt8)."""
    pa = _pyarrow()

    simple = {
        Kind.INT: pa.int64(),
        Kind.TIME: pa.int64(),
        Kind.DURATION: pa.int64(),
        Kind.FLOAT: pa.float64(),
        Kind.BOOL: pa.bool_(),
        Kind.DATE: pa.date32(),
        Kind.TIMESTAMP: pa.timestamp("us", tz="UTC"),
        Kind.TIMESTAMPTZ: pa.timestamp("us", tz="UTC"),
        Kind.BYTES: pa.binary(),
        Kind.UUID: pa.binary(16),
    }
    out = []
    for ft in types:
        if ft.kind is Kind.DECIMAL:
            precision, scale = ft.precision or 0, ft.scale or 0
            make = pa.decimal128 if precision <= 38 else pa.decimal256
            out.append(make(precision, scale))
        else:
            out.append(simple.get(ft.kind, pa.string()))
    return [*out, pa.uint64(), pa.uint8()]


def arrow_table(
    names: list[str], kinds: tuple[Kind, ...], types: list[Any], columns: list[list[Any]]
) -> Any:
    """A pyarrow Table of insert-form ``columns``; UUIDs go as their 16 big-endian bytes.

    Raises pyarrow's ArrowInvalid/ArrowTypeError (ValueError/TypeError) for a value that does
    not fit its type: a content error, like the native serialiser's.
    """
    pa = _pyarrow()

    arrays = []
    for kind, type_, col in zip(kinds, types, columns, strict=True):
        if kind is Kind.UUID:
            col = [None if u is None else u.bytes for u in col]
        arrays.append(pa.array(col, type=type_))
    return pa.Table.from_arrays(arrays, names=names)
