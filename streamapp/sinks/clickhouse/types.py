"""ClickHouse type mapping: column types, identifier quoting, and each value's insert form.

============  ===========================
kind          ClickHouse
============  ===========================
string        String
int           Int64
float         Float64
bool          Bool
decimal(p,s)  Decimal(p,s)
date          Date32
time          Int64 (µs since midnight)
timestamp     DateTime64(6,'UTC')
timestamptz   DateTime64(6,'UTC')
duration      Int64 (µs)
bytes         String
uuid          UUID
json, nested  String (JSON text)
============  ===========================

ClickHouse keeps ``time`` as microseconds because ``Time64`` only exists from server 25.6 on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from streamapp.sinks.values import JSON_KINDS, Unfit, checker, micros, quantize, to_json
from streamapp.types import FieldType, Kind

_CH: Final[dict[Kind, str]] = {
    Kind.STRING: "String",
    Kind.INT: "Int64",
    Kind.FLOAT: "Float64",
    Kind.BOOL: "Bool",
    Kind.DATE: "Date32",
    Kind.TIME: "Int64",
    Kind.TIMESTAMP: "DateTime64(6, 'UTC')",
    Kind.TIMESTAMPTZ: "DateTime64(6, 'UTC')",
    Kind.DURATION: "Int64",
    Kind.BYTES: "String",
    Kind.UUID: "UUID",
}


def ch_type(ft: FieldType, *, nullable: bool) -> str:
    """The ClickHouse column type of ``ft``; json and nested kinds are JSON text in a String."""
    if ft.kind is Kind.DECIMAL:
        base = f"Decimal({ft.precision}, {ft.scale})"
    else:
        base = _CH.get(ft.kind, "String")
    return f"Nullable({base})" if nullable else base


def ch_ident(name: str) -> str:
    """A ClickHouse identifier in backquotes, escaped."""
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


_EPOCH_NAIVE: Final = datetime(1970, 1, 1)
_EPOCH_UTC: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = timedelta(microseconds=1)


def _time_micros(v: time) -> int:
    return ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond


_CH_TRANSFORM: Final[dict[Kind, Callable[[Any], Any]]] = {
    Kind.TIMESTAMP: lambda v: (v - _EPOCH_NAIVE) // _MICRO,
    Kind.TIMESTAMPTZ: lambda v: (v - _EPOCH_UTC) // _MICRO,
    Kind.TIME: _time_micros,
    Kind.DURATION: micros,
    Kind.FLOAT: float,
    Kind.BYTES: bytes,
}


def ch_converter(name: str, ft: FieldType) -> Callable[[Any], Any]:
    """Non-null Python value -> the form clickhouse-connect inserts for :func:`ch_type`.

    Timestamps become microseconds since the epoch (a naive timestamp read as UTC), times
    microseconds since midnight, durations microseconds, decimals rounded half-up to the
    scale, json/nested kinds JSON text. Raises :class:`Unfit` naming ``name``.
    """
    check = checker(ft)
    kind = ft.kind
    if kind is Kind.DECIMAL:

        def fix(v: Any) -> Any:
            q = quantize(ft, v) if isinstance(v, Decimal) and v.is_finite() else None
            if q is None:
                raise Unfit(check(v) or f"does not fit {ft}", name)
            return q

        return fix
    if kind in JSON_KINDS:
        shape = checker(ft, deep=False)

        def text(v: Any) -> str:
            why = shape(v)
            if why is not None:
                raise Unfit(why, name)
            try:
                return to_json(v)
            except (TypeError, ValueError):
                raise Unfit(f"holds a value that has no JSON form for {ft}", name) from None

        return text
    transform = _CH_TRANSFORM.get(kind)

    def convert(v: Any) -> Any:
        why = check(v)
        if why is not None:
            raise Unfit(why, name)
        return v if transform is None else transform(v)

    return convert


def ch_raw_expr(name: str, ft: FieldType) -> str:
    """A SELECT expression giving a stored column back in the form :func:`ch_converter` makes."""
    if ft.kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
        return f"toUnixTimestamp64Micro({ch_ident(name)})"
    return ch_ident(name)
