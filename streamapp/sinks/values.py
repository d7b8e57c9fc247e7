"""Destination-neutral value rules: Python kinds per FieldType, canonical JSON, decimal rounding.

Every sink package maps types on top of these (``postgres.types``, ``clickhouse.types``,
``redis.types``): a value refused here is refused by every sink, with a reason naming types,
never the value. The canonical JSON of a value (``to_json``) is the form JSON columns and Redis
documents store and ``reconcile`` compares:

============  ==========================
kind          JSON
============  ==========================
string        string
int           number
float         number (NaN/inf refused)
bool          true / false
decimal(p,s)  string ("12.50")
date          "2024-05-01"
time          "13:45:00.250000"
timestamp     ISO-8601, no offset
timestamptz   ISO-8601 with offset
duration      number (µs)
bytes         base64 string
uuid          "8-4-4-4-12" string
json, nested  JSON value
============  ==========================
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Final
from uuid import UUID

from streamapp.types import FieldType, Kind

JSON_KINDS: Final = frozenset({Kind.JSON, Kind.RECORD, Kind.ARRAY, Kind.MAP})


def json_default(v: Any) -> Any:
    """JSON for the non-JSON Python kinds of ``streamapp.types``; TypeError for anything else."""
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise ValueError("a non-finite decimal has no JSON form")
        return format(v, "f")
    if isinstance(v, datetime | date | time):
        return v.isoformat()
    if isinstance(v, UUID):
        return str(v)
    if isinstance(v, bytes | bytearray | memoryview):
        return base64.b64encode(v).decode("ascii")
    if isinstance(v, timedelta):
        return micros(v)
    raise TypeError(type(v).__name__)


JSON_ENCODER: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=json_default
)
"""Canonical JSON: sorted keys, no spaces, UTF-8 text; Decimal as a string, datetimes ISO-8601,
bytes base64, UUID as a string, durations in microseconds; NaN/inf refused (ValueError)."""


def to_json(value: Any) -> str:
    """``value`` as canonical JSON text; TypeError/ValueError (naming no value) if it has none."""
    return JSON_ENCODER.encode(value)


def micros(v: timedelta) -> int:
    """A duration in whole microseconds."""
    return (v.days * 86_400 + v.seconds) * 1_000_000 + v.microseconds


def unfit_reason(ft: FieldType, v: Any, *, nul_ok: bool = True) -> str | None:
    """Why the non-null value ``v`` cannot be stored as ``ft``, or None; the reason has no value.

    ``nul_ok=False`` also refuses strings holding NUL characters (PostgreSQL text cannot).
    """
    kind = ft.kind
    expected = _PYTHON.get(kind)
    if expected is not None and not isinstance(v, expected):
        return f"holds a {type(v).__name__} value where {ft} expects {_NAME[kind]}"
    if isinstance(v, bool) and kind in (Kind.INT, Kind.FLOAT):
        return f"holds a bool where {ft} expects a number"
    if kind is Kind.INT and not -(1 << 63) <= v < (1 << 63):
        return f"holds an int outside the 64-bit range of {ft}"
    if kind is Kind.DECIMAL:
        return _decimal_reason(ft, v)
    if kind is Kind.DATE and isinstance(v, datetime):
        return f"holds a datetime where {ft} expects a date"
    if kind is Kind.TIMESTAMP and v.tzinfo is not None:
        return f"holds an aware datetime where {ft} expects a naive one"
    if kind is Kind.TIMESTAMPTZ and v.tzinfo is None:
        return f"holds a naive datetime where {ft} expects an aware one"
    if kind is Kind.STRING and not nul_ok and "\x00" in v:
        return f"holds a string with a NUL character, which {ft} columns cannot store"
    if kind in JSON_KINDS:
        try:
            to_json(v)
        except (TypeError, ValueError):
            return f"holds a value that has no JSON form for {ft}"
    return None


_EXACT: Final[dict[Kind, type]] = {
    Kind.FLOAT: float,
    Kind.BOOL: bool,
    Kind.DATE: date,
    Kind.TIME: time,
    Kind.DURATION: timedelta,
    Kind.BYTES: bytes,
    Kind.UUID: UUID,
}
_INT_MIN: Final = -(1 << 63)
_INT_MAX: Final = 1 << 63


def checker(
    ft: FieldType, *, nul_ok: bool = True, deep: bool = True
) -> Callable[[Any], str | None]:
    """A fast :func:`unfit_reason` for one column: exact-type fast paths, the full check else.

    ``deep=False`` checks only the Python type of json/nested values, for callers that encode
    them to JSON anyway and handle the failure there.
    """

    def slow(v: Any) -> str | None:
        return unfit_reason(ft, v, nul_ok=nul_ok)

    kind = ft.kind
    if kind in JSON_KINDS and not deep:
        expected = _PYTHON.get(kind)
        if expected is None:
            return lambda v: None
        return lambda v: None if isinstance(v, expected) else slow(v)
    if kind is Kind.STRING:
        if nul_ok:
            return lambda v: None if type(v) is str else slow(v)
        return lambda v: None if type(v) is str and "\x00" not in v else slow(v)
    if kind is Kind.INT:
        return lambda v: None if type(v) is int and _INT_MIN <= v < _INT_MAX else slow(v)
    exact = _EXACT.get(kind)
    if exact is not None:
        return lambda v: None if type(v) is exact else slow(v)
    return slow


def _decimal_reason(ft: FieldType, v: Decimal) -> str | None:
    if not v.is_finite():
        return f"holds a NaN or infinite decimal, which {ft} cannot store"
    if quantize(ft, v) is None:
        integer = (ft.precision or 0) - (ft.scale or 0)
        return f"holds a decimal with more than {integer} integer digit(s) for {ft}"
    return None


_ROUNDING: Final = Context(prec=200, rounding=ROUND_HALF_UP)


def quantize(ft: FieldType, v: Decimal) -> Decimal | None:
    """``v`` rounded half-up to ``ft``'s scale (as PostgreSQL does), or None if it does not fit."""
    precision, scale = ft.precision or 0, ft.scale or 0
    if v.is_zero():
        return v.quantize(Decimal(1).scaleb(-scale))
    if v.adjusted() >= precision - scale:
        return None
    q = v.quantize(Decimal(1).scaleb(-scale), context=_ROUNDING)
    return q if q.is_zero() or q.adjusted() < precision - scale else None


_PYTHON: Final[dict[Kind, type | tuple[type, ...]]] = {
    Kind.STRING: str,
    Kind.INT: int,
    Kind.FLOAT: (float, int),
    Kind.BOOL: bool,
    Kind.DECIMAL: Decimal,
    Kind.DATE: date,
    Kind.TIME: time,
    Kind.TIMESTAMP: datetime,
    Kind.TIMESTAMPTZ: datetime,
    Kind.DURATION: timedelta,
    Kind.BYTES: (bytes, bytearray, memoryview),
    Kind.UUID: UUID,
    Kind.RECORD: dict,
    Kind.MAP: dict,
    Kind.ARRAY: list,
}
_NAME: Final[dict[Kind, str]] = {
    Kind.STRING: "a str",
    Kind.INT: "an int",
    Kind.FLOAT: "a float",
    Kind.BOOL: "a bool",
    Kind.DECIMAL: "a Decimal",
    Kind.DATE: "a date",
    Kind.TIME: "a time",
    Kind.TIMESTAMP: "a datetime",
    Kind.TIMESTAMPTZ: "a datetime",
    Kind.DURATION: "a timedelta",
    Kind.BYTES: "bytes",
    Kind.UUID: "a UUID",
    Kind.RECORD: "a dict",
    Kind.MAP: "a dict",
    Kind.ARRAY: "a list",
}


def first_unfit(
    row: list[Any], checks: tuple[Callable[[Any], str | None], ...], names: tuple[str, ...]
) -> tuple[str, str] | None:
    """(column, reason) of the first value that does not fit its column, or None."""
    for i, v in enumerate(row):
        if v is not None:
            why = checks[i](v)
            if why is not None:
                return names[i], why
    return None


def jsonify(
    row: list[Any], json_index: tuple[int, ...], names: tuple[str, ...]
) -> tuple[str, str] | None:
    """Turn json/nested values into JSON text in place; (column, reason) if one has no JSON form."""
    for i in json_index:
        if row[i] is not None:
            try:
                row[i] = to_json(row[i])
            except (TypeError, ValueError):
                return names[i], "holds a value with no JSON form"
    return None


class Unfit(Exception):
    """A value its column cannot hold; ``reason`` names types, never the value."""

    def __init__(self, reason: str, column: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.column = column
