"""Declared column types (topology hints) -> converters for values that arrive without a schema.

Used for schemaless JSON rows and MongoDB documents only; a message with a schema is typed by
its schema. Each converter accepts the raw JSON shapes Debezium writes for that kind under the
source's handling modes (``decode.modes.HandlingModes``) and also a value that already has the
kind's Python type (so applying it twice is harmless):

- date: int days since epoch, or ISO text.
- time / timestamp / timestamptz: ISO text, or an int whose unit ``time.precision.mode``
  decides: ``adaptive`` by the declared precision (``timestamp(3)``: 0-3 milli, 4-6 micro, 7-9
  nano; micro when none is declared), ``adaptive_time_microseconds`` likewise except that a
  time is always micro, ``connect`` milli, ``microseconds`` micro, ``nanoseconds`` nano,
  ``isostring`` text only. ``time`` and ``timestamp`` are naive (text with an offset, e.g.
  PostgreSQL ``timetz`` as ``10:34:56Z``, is converted to UTC, then made naive);
  ``timestamptz`` is aware UTC (text without offset is read as UTC).
- int: a JSON integer; with ``bigint.unsigned.handling.mode=precise`` also base64 unscaled bytes.
- float: a JSON number, or the texts ``NaN``, ``Infinity``, ``-Infinity`` (as Jackson writes them).
- decimal: ``decimal.handling.mode`` ``precise`` reads base64 two's-complement bytes with the
  hint's scale, or a ``{"scale", "value"}`` VariableScaleDecimal; ``double`` reads a JSON number
  via ``repr`` (``0.1`` -> ``Decimal('0.1')``); ``string`` reads decimal text. Numbers are
  accepted in every mode (they cannot be base64).
- duration: int microseconds, or ISO-8601 text without year/month parts.
- bytes: text in ``binary.handling.mode``'s form (bytes/base64: base64, base64-url-safe, hex).
- uuid: text. json: JSON text (other values pass as parsed JSON).
- record / array / map: objects/arrays, or JSON text of them; their members are converted by
  the nested declared types.
A value of the wrong JSON shape raises TypeError/ValueError; the decoder reports the field,
its declared type and the value's Python type (never the value).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from streamapp.decode import semantic
from streamapp.decode.limits import loads as json_loads
from streamapp.decode.modes import HandlingModes
from streamapp.records import UNCHANGED
from streamapp.types import FieldType, Kind

Converter = Callable[[Any], Any]

_DURATION = re.compile(
    r"^(-)?P(?:0+Y)?(?:0+M)?(?:(\d+)W)?(?:(-?\d+)D)?"
    r"(?:T(?:(-?\d+)H)?(?:(-?\d+)M)?(?:(-?\d+(?:\.\d+)?)S)?)?$"
)


class HintMismatch(TypeError):
    """A schemaless value has a JSON shape its declared type does not accept (no value inside)."""


def _mismatch(kind: str, value: Any) -> HintMismatch:
    return HintMismatch(f"expected {kind}, got {type(value).__name__}")


def _unit(ft: FieldType, time_precision: str) -> str | None:
    """The unit of a temporal integer of ``ft`` under ``time.precision.mode`` (None: text only)."""
    if time_precision == "isostring":
        return None
    if time_precision == "connect":
        return "milli"
    if time_precision == "microseconds":
        return "micro"
    if time_precision == "nanoseconds":
        return "nano"
    if time_precision == "adaptive_time_microseconds" and ft.kind is Kind.TIME:
        return "micro"
    p = ft.precision
    if p is None:
        return "micro"
    return "milli" if p <= 3 else "micro" if p <= 6 else "nano"


_TIME_FROM = {
    "milli": semantic.time_from_millis,
    "micro": semantic.time_from_micros,
    "nano": semantic.time_from_nanos,
}
_TS_FROM = {
    "milli": semantic.timestamp_from_millis,
    "micro": semantic.timestamp_from_micros,
    "nano": semantic.timestamp_from_nanos,
}
_TSTZ_FROM = {
    "milli": semantic.timestamptz_from_millis,
    "micro": semantic.timestamptz_from_micros,
    "nano": semantic.timestamptz_from_nanos,
}


def duration_from_iso(text: str) -> timedelta:
    """ISO-8601 duration with only week/day/time parts -> timedelta (ValueError otherwise)."""
    m = _DURATION.match(text)
    if m is None:
        raise ValueError("not an ISO-8601 duration without years or months")
    sign, weeks, days, hours, minutes, seconds = m.groups()
    total = timedelta(
        weeks=int(weeks or 0),
        days=int(days or 0),
        hours=int(hours or 0),
        minutes=int(minutes or 0),
        microseconds=int(Decimal(seconds or 0) * 1_000_000),
    )
    return -total if sign else total


def _scalar(ft: FieldType, modes: HandlingModes, documents: bool) -> Converter | None:
    kind = ft.kind
    unit = _unit(ft, modes.time_precision)
    if kind is Kind.STRING:
        return _expect(str, "string")
    if kind is Kind.INT:
        unsigned = modes.bigint_unsigned == "precise"

        def to_int(v: Any) -> int:
            if type(v) is int:
                return v
            if unsigned and type(v) is str:  # BIGINT UNSIGNED as a decimal of scale 0
                return int.from_bytes(semantic.b64decode(v), "big", signed=True)
            raise _mismatch("an integer", v)

        return to_int
    if kind is Kind.FLOAT:

        def to_float(v: Any) -> float:
            try:
                return semantic.float_value(v)
            except TypeError:
                raise _mismatch("a number", v) from None

        return to_float
    if kind is Kind.BOOL:

        def to_bool(v: Any) -> bool:
            if type(v) is bool:
                return v
            if type(v) is int and v in (0, 1):
                return bool(v)
            raise _mismatch("a boolean", v)

        return to_bool
    if kind is Kind.DECIMAL:
        return _decimal(ft.scale or 0, modes.decimal)
    if kind is Kind.DATE:
        return _typed(
            "days or ISO date", date, semantic.date_from_days, semantic.iso_date, _to_date
        )
    what = "ISO text" if unit is None else "an integer or ISO text"
    if kind is Kind.TIME:
        time_from = _TIME_FROM[unit] if unit else None
        return _typed(what, time, time_from, semantic.zoned_time, None, semantic.naive_time)
    if kind is Kind.TIMESTAMP:
        return _typed(what, None, _TS_FROM[unit] if unit else None, _naive_iso, _naive)
    if kind is Kind.TIMESTAMPTZ:
        return _typed(what, None, _TSTZ_FROM[unit] if unit else None, _aware_iso, _aware)
    if kind is Kind.DURATION:
        return _typed(
            "microseconds or ISO duration",
            timedelta,
            semantic.duration_from_micros,
            duration_from_iso,
        )
    if kind is Kind.BYTES:
        return _typed(f"{modes.binary} text", bytes, None, binary_text(modes.binary))
    if kind is Kind.UUID:
        return _typed("UUID text", uuid.UUID, None, uuid.UUID)
    if kind is Kind.JSON:
        return None if documents else (lambda v: json_loads(v) if type(v) is str else v)
    return None


def binary_text(mode: str) -> Callable[[str], bytes]:
    """The reader of bytes written as text under ``binary.handling.mode`` ``mode``."""
    if mode == "hex":
        return bytes.fromhex
    if mode == "base64-url-safe":

        def urlsafe(text: str) -> bytes:
            try:
                return base64.urlsafe_b64decode(text)
            except (binascii.Error, ValueError):
                raise ValueError("not valid URL-safe base64") from None

        return urlsafe
    return semantic.b64decode


def _expect(cls: type, what: str) -> Converter:
    def check(v: Any) -> Any:
        if type(v) is cls:
            return v
        raise _mismatch(what, v)

    return check


def _typed(
    what: str,
    same: type | None,
    from_int: Callable[[int], Any] | None,
    from_str: Callable[[str], Any],
    from_datetime: Callable[[datetime], Any] | None = None,
    from_same: Callable[[Any], Any] | None = None,
) -> Converter:
    def convert(v: Any) -> Any:
        t = type(v)
        if t is same:
            return v if from_same is None else from_same(v)
        if t is str:
            return from_str(v)
        if t is int and from_int is not None:
            return from_int(v)
        if t is datetime and from_datetime is not None:
            return from_datetime(v)
        raise _mismatch(what, v)

    return convert


def _naive(value: datetime) -> datetime:
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _to_date(value: datetime) -> date:
    return _naive(value).date()


def _naive_iso(text: str) -> datetime:
    return _naive(datetime.fromisoformat(text))


def _aware_iso(text: str) -> datetime:
    return semantic.zoned_timestamp(text)


def _decimal(scale: int, mode: str) -> Converter:
    def convert(v: Any) -> Decimal:
        t = type(v)
        if isinstance(v, Decimal):
            return v
        if t is int or t is float:
            return semantic.decimal_from_number(v, scale if mode == "precise" else None)
        if t is str:
            if mode == "precise":
                return semantic.decimal_from_bytes(semantic.b64decode(v), scale)
            return Decimal(v)
        if t is dict and "scale" in v and "value" in v:
            return semantic.variable_scale_decimal(v, b64=True)
        raise _mismatch("a decimal", v)

    return convert


def hint_converter(
    ft: FieldType, *, modes: HandlingModes | None = None, documents: bool = False
) -> Converter | None:
    """The converter turning a schemaless JSON value into ``ft``'s Python representation.

    ``modes`` are the source connector's handling modes (Debezium's defaults when None).
    ``documents`` is for MongoDB documents, which arrive already parsed: a ``json`` column
    keeps its value as is and containers are not parsed from text.
    """
    modes = modes or HandlingModes()

    def inner(sub: FieldType) -> Converter | None:
        return hint_converter(sub, modes=modes, documents=documents)

    if ft.kind is Kind.RECORD:
        fields = {name: conv for name, sub in ft.fields if (conv := inner(sub))}
        return _container(dict, lambda d: _record(d, fields), documents)
    if ft.kind in (Kind.ARRAY, Kind.MAP):
        assert ft.items is not None
        item = inner(ft.items)
        if ft.kind is Kind.ARRAY:
            return _container(
                list,
                (lambda s: [item(x) if x is not None else None for x in s]) if item else None,
                documents,
            )
        return _container(
            dict,
            (lambda m: {k: item(x) if x is not None else None for k, x in m.items()})
            if item
            else None,
            documents,
        )
    return _scalar(ft, modes, documents)


def _record(d: dict[str, Any], fields: Mapping[str, Converter]) -> dict[str, Any]:
    out = dict(d)
    for name, conv in fields.items():
        v = out.get(name)
        if v is not None and v is not UNCHANGED:
            out[name] = conv(v)
    return out


def _container(cls: type, inner: Converter | None, documents: bool) -> Converter:
    def convert(v: Any) -> Any:
        if type(v) is str and not documents:
            v = json_loads(v)
        if type(v) is not cls:
            raise _mismatch("a JSON " + ("object" if cls is dict else "array"), v)
        return inner(v) if inner is not None else v

    return convert
