"""Debezium and Kafka Connect semantic types -> the one Python value per kind (streamapp.types).

Raw values are what the wire format yields: ints, strings, bytes (base64 text in JSON).
Documented choices:

- Nanosecond values (``NanoTime``, ``NanoTimestamp``, 7-9 fraction digits in ISO strings) are
  truncated (floored) to microseconds, the precision of ``datetime``.
- ``Timestamp``/``MicroTimestamp``/``NanoTimestamp`` and Connect ``Timestamp`` are wall-clock
  values without a zone: naive ``datetime``. ``ZonedTimestamp`` is aware UTC. ``ZonedTime``
  (PostgreSQL ``timetz``, written in GMT, e.g. ``10:34:56Z``) is converted to UTC and made naive:
  a ``time`` is always naive (see ``streamapp.types``).
- ``time.precision.mode=isostring``: ``IsoDate`` (``2026-03-01Z``) -> date, ``IsoTime`` ->
  naive UTC time, ``IsoTimestamp`` -> naive UTC datetime (the connector writes them in UTC).
- JSON doubles: Jackson writes NaN and the infinities as the strings ``"NaN"``,
  ``"Infinity"`` and ``"-Infinity"``; :func:`float_value` reads them.
- ``Interval`` (``interval.handling.mode=string``) stays the ISO-8601 ``str``: months and years
  have no fixed length, so no ``timedelta`` is exact. ``MicroDuration`` -> ``timedelta``.
- ``Bits`` stays ``bytes`` (Debezium's little-endian bit order, ``length`` bits).
- ``Year`` stays ``int``, except 1900, the binlog's decoding of YEAR 0000, which becomes 0.
- ``EnumSet`` -> ``list[str]`` (empty string -> []). ``Enum``, ``Xml``, ``Ltree`` stay ``str``.
- Geometry/Geography/Point -> ``{"wkb": bytes, "srid": int | None}``; a Point without WKB gets
  the little-endian WKB of (x, y).
- A value outside Python's range (e.g. PostgreSQL ``time '24:00'`` or ``timestamp 'infinity'``)
  raises ValueError; the decoder turns it into a DecodeError naming the field.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import struct
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Context, Decimal
from typing import Any

from streamapp.decode import limits
from streamapp.decode.fastuuid import uuid_from_text
from streamapp.decode.schema import SType
from streamapp.records import UNCHANGED

Converter = Callable[[Any], Any]

# What a converter or a generated reader raises for a malformed value (bytes, text or number).
CONVERSION_ERRORS: tuple[type[Exception], ...] = (
    ValueError,  # includes UnicodeDecodeError, binascii.Error, json.JSONDecodeError
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    ArithmeticError,  # includes OverflowError, decimal.InvalidOperation
    struct.error,
)

PLACEHOLDER = "__debezium_unavailable_value"
PLACEHOLDER_BYTES = PLACEHOLDER.encode()
PLACEHOLDER_B64 = base64.b64encode(PLACEHOLDER_BYTES).decode()
# Java UUID.nameUUIDFromBytes(placeholder): an MD5-based (version 3) UUID, as Debezium uses.
PLACEHOLDER_UUID = str(uuid.UUID(bytes=hashlib.md5(PLACEHOLDER_BYTES).digest(), version=3))
PLACEHOLDER_MAP = {PLACEHOLDER: PLACEHOLDER}
# TOAST placeholders of array columns: text[], bytea[] (raw and base64), uuid[], int/float[].
PLACEHOLDER_LISTS = (
    [PLACEHOLDER],
    [PLACEHOLDER_BYTES],
    [PLACEHOLDER_B64],
    [PLACEHOLDER_UUID],
    list(PLACEHOLDER_BYTES),
)
_GEOMETRY_PLACEHOLDERS = (
    bytes.fromhex("0101000020E6100000000000FC83D797C1000000FC83D797C1"),
    bytes.fromhex("0101000020E61000000C21E7FDFF7F66401842CEFBFF7F5640"),
)
_POINT_PLACEHOLDER = -99999999.0

_EPOCH_DATE = date(1970, 1, 1)
_EPOCH_ORDINAL = _EPOCH_DATE.toordinal()
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_DAY_US = 86_400_000_000
_WIDE = Context(prec=999_999, Emax=999_999, Emin=-999_999)
_WKB_POINT = struct.Struct("<BIdd")


def is_placeholder(value: Any) -> bool:
    """True when ``value`` is one of Debezium's "unavailable value" placeholder forms."""
    if type(value) is str:
        return value in (PLACEHOLDER, PLACEHOLDER_B64)
    if type(value) is bytes:
        return value == PLACEHOLDER_BYTES
    if type(value) is list:
        return value in PLACEHOLDER_LISTS
    if type(value) is dict:
        return value == PLACEHOLDER_MAP
    return False


def date_from_days(days: int) -> date:
    """Days since 1970-01-01 -> date."""
    return date.fromordinal(_EPOCH_ORDINAL + days)


def time_from_micros(micros: int) -> time:
    """Microseconds since midnight -> naive time; ValueError outside [00:00, 24:00)."""
    if not 0 <= micros < _DAY_US:
        raise ValueError("time of day outside 00:00..24:00")
    seconds, us = divmod(micros, 1_000_000)
    minutes, s = divmod(seconds, 60)
    h, m = divmod(minutes, 60)
    return time(h, m, s, us)


def time_from_millis(millis: int) -> time:
    """Milliseconds since midnight -> naive time."""
    return time_from_micros(millis * 1000)


def time_from_nanos(nanos: int) -> time:
    """Nanoseconds since midnight -> naive time (truncated to microseconds)."""
    return time_from_micros(nanos // 1000)


def timestamp_from_millis(millis: int) -> datetime:
    """Milliseconds since the epoch -> naive datetime."""
    return _EPOCH + timedelta(milliseconds=millis)


def timestamp_from_micros(micros: int) -> datetime:
    """Microseconds since the epoch -> naive datetime."""
    return _EPOCH + timedelta(microseconds=micros)


def timestamp_from_nanos(nanos: int) -> datetime:
    """Nanoseconds since the epoch -> naive datetime (floored to microseconds)."""
    return _EPOCH + timedelta(microseconds=nanos // 1000)


def timestamptz_from_millis(millis: int) -> datetime:
    """Milliseconds since the epoch -> aware UTC datetime."""
    return _EPOCH_UTC + timedelta(milliseconds=millis)


def timestamptz_from_micros(micros: int) -> datetime:
    """Microseconds since the epoch -> aware UTC datetime."""
    return _EPOCH_UTC + timedelta(microseconds=micros)


def timestamptz_from_nanos(nanos: int) -> datetime:
    """Nanoseconds since the epoch -> aware UTC datetime (floored to microseconds)."""
    return _EPOCH_UTC + timedelta(microseconds=nanos // 1000)


def zoned_timestamp(text: str) -> datetime:
    """ISO-8601 timestamp with zone -> aware UTC datetime (no zone is read as UTC)."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is UTC:
        return parsed
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def naive_time(value: time) -> time:
    """A time of day with a UTC offset -> the naive time of day in UTC (naive: unchanged)."""
    offset = value.utcoffset()
    if offset is None:
        return value
    moved = datetime.combine(_EPOCH_DATE, value.replace(tzinfo=None)) - offset
    return moved.time()


def zoned_time(text: str) -> time:
    """ISO-8601 time with zone (``ZonedTime``) -> naive time of day in UTC."""
    return naive_time(time.fromisoformat(text))


def iso_date(text: str) -> date:
    """``IsoDate`` text (ISO date, optionally with a ``Z``/offset suffix) -> date."""
    for suffix in ("Z", "+00:00"):
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    return date.fromisoformat(text)


def iso_timestamp(text: str) -> datetime:
    """``IsoTimestamp`` text -> naive datetime in UTC (text without zone is taken as is)."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)


SPECIAL_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def float_value(value: Any) -> float:
    """A JSON double -> float: numbers, and the NaN/Infinity strings Jackson writes.

    TypeError for anything else (a bool, other text, a container).
    """
    t = type(value)
    if t is float:
        return value  # type: ignore[no-any-return]
    if t is int:
        return float(value)
    if t is str and value in SPECIAL_FLOATS:
        return SPECIAL_FLOATS[value]
    raise TypeError(f"expected a number, got {t.__name__}")


def duration_from_micros(micros: int) -> timedelta:
    """Microseconds -> timedelta."""
    return timedelta(microseconds=micros)


_MAX_UNSCALED_BITS = limits.MAX_DECIMAL_BYTES * 8


def decimal_from_unscaled(unscaled: int, scale: int) -> Decimal:
    """``unscaled * 10**-scale`` as an exact Decimal (no context rounding); LimitExceeded past
    ``limits.MAX_DECIMAL_DIGITS`` digits (checked on the bit length, before converting)."""
    if unscaled.bit_length() >= _MAX_UNSCALED_BITS:
        limits.decimal_too_long(unscaled.bit_length() // 8 + 1)
    return Decimal(unscaled).scaleb(-scale, _WIDE)


def decimal_from_bytes(raw: bytes, scale: int) -> Decimal:
    """Big-endian two's-complement unscaled bytes + scale -> exact Decimal; LimitExceeded
    for more than ``limits.MAX_DECIMAL_BYTES`` bytes (checked before converting: the
    conversion takes quadratic time)."""
    if len(raw) > limits.MAX_DECIMAL_BYTES:
        limits.decimal_too_long(len(raw))
    return Decimal(int.from_bytes(raw, "big", signed=True)).scaleb(-scale, _WIDE)


def decimal_from_number(value: float | int | Decimal, scale: int | None = None) -> Decimal:
    """A JSON number -> Decimal. A Decimal (the number's text, parsed exactly) is kept as
    is; floats go through ``repr`` (shortest round-trip text), so ``0.1`` becomes
    ``Decimal('0.1')``; with ``scale`` the result is quantized to it. LimitExceeded for a
    number of more than ``limits.MAX_DECIMAL_DIGITS`` digits (before and after quantizing)."""
    if type(value) is int and value.bit_length() >= _MAX_UNSCALED_BITS:
        limits.decimal_too_long(value.bit_length() // 8 + 1)
    if type(value) is Decimal:
        if value.is_finite() and (
            len(value.as_tuple().digits) > limits.MAX_DECIMAL_DIGITS
            or value.adjusted() + (scale or 0) >= limits.MAX_DECIMAL_DIGITS
        ):
            raise limits.LimitExceeded(
                f"a decimal number of more than {limits.MAX_DECIMAL_DIGITS:,} digits is over "
                "the limit (MAX_DECIMAL_DIGITS); for longer values set the connector's "
                "decimal.handling.mode to string"
            )
        result = value
    else:
        result = Decimal(value) if type(value) is int else Decimal(repr(value))
    if scale is not None and result.is_finite():
        result = result.quantize(Decimal(1).scaleb(-scale), context=_WIDE)
    return result


def b64decode(text: str) -> bytes:
    """Standard base64 text (as Kafka Connect's JsonConverter writes bytes) -> bytes."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def variable_scale_decimal(value: dict[str, Any], b64: bool = False) -> Decimal:
    """Debezium ``VariableScaleDecimal`` struct ``{scale, value}`` -> exact Decimal."""
    raw = value["value"]
    return decimal_from_bytes(b64decode(raw) if b64 else raw, int(value["scale"]))


def json_value(text: str) -> Any:
    """``io.debezium.data.Json`` text -> parsed value (a TOASTed hstore-as-JSON -> UNCHANGED)."""
    parsed = limits.loads(text)  # LimitExceeded when nested too deeply
    return UNCHANGED if parsed == PLACEHOLDER_MAP else parsed


def year(value: int) -> int:
    """``io.debezium.time.Year`` (MySQL/MariaDB ``YEAR``) -> int; 1900 -> 0.

    ``YEAR`` holds 1901..2155 and the zero year 0000, which the binlog client decodes as
    1900 (its byte 0 + 1900): 1900 can only be 0000, and a MySQL client reads it as 0.
    """
    return 0 if value == 1900 else value


def enum_set(text: str) -> list[str]:
    """``io.debezium.data.EnumSet`` comma-separated text -> list of members."""
    return text.split(",") if text else []


def geometry(value: dict[str, Any], b64: bool = False) -> Any:
    """Geometry/Geography struct -> {"wkb": bytes, "srid": int | None}; placeholder: UNCHANGED."""
    wkb = value.get("wkb")
    if b64 and isinstance(wkb, str):
        wkb = b64decode(wkb)
    if wkb in _GEOMETRY_PLACEHOLDERS:
        return UNCHANGED
    return {"wkb": wkb, "srid": value.get("srid")}


def point(value: dict[str, Any], b64: bool = False) -> Any:
    """Point struct {x, y, wkb, srid} -> {"wkb": bytes, "srid": int | None}."""
    x, y = value.get("x"), value.get("y")
    if x == _POINT_PLACEHOLDER and y == _POINT_PLACEHOLDER:
        return UNCHANGED
    wkb = value.get("wkb")
    if b64 and isinstance(wkb, str):
        wkb = b64decode(wkb)
    if wkb is None:
        wkb = _WKB_POINT.pack(1, 1, float(x or 0.0), float(y or 0.0))
    return {"wkb": wkb, "srid": value.get("srid")}


def _scale(st: SType) -> int:
    raw = st.param("scale")
    return int(raw) if raw is not None else 0


def _decimal(st: SType, b64: bool) -> Converter:
    scale = _scale(st)

    def convert(value: Any) -> Decimal:
        if type(value) is str:
            return decimal_from_bytes(b64decode(value), scale)
        if type(value) in (int, float, Decimal):
            return decimal_from_number(value, scale)
        return decimal_from_bytes(value, scale)

    return convert


def _with_b64(fn: Callable[[Any, bool], Any], b64: bool) -> Converter:
    return lambda v: fn(v, b64)


def _fixed(fn: Converter) -> Callable[[SType, bool], Converter]:
    return lambda st, b64: fn


_INTS = ("int", "long")
_STR = ("string",)
_BYTES = ("bytes", "fixed")
_STRUCT = ("struct",)
_T = "io.debezium.time."
_D = "io.debezium.data."
_C = "org.apache.kafka.connect.data."
# semantic name -> (physical kinds it applies to, converter factory(st, b64)).
_SEMANTICS: dict[str, tuple[tuple[str, ...], Callable[[SType, bool], Converter]]] = {
    _T + "Date": (_INTS, _fixed(date_from_days)),
    _T + "Time": (_INTS, _fixed(time_from_millis)),
    _T + "MicroTime": (_INTS, _fixed(time_from_micros)),
    _T + "NanoTime": (_INTS, _fixed(time_from_nanos)),
    _T + "Timestamp": (_INTS, _fixed(timestamp_from_millis)),
    _T + "MicroTimestamp": (_INTS, _fixed(timestamp_from_micros)),
    _T + "NanoTimestamp": (_INTS, _fixed(timestamp_from_nanos)),
    _T + "ZonedTimestamp": (_STR, _fixed(zoned_timestamp)),
    _T + "ZonedTime": (_STR, _fixed(zoned_time)),
    _T + "IsoDate": (_STR, _fixed(iso_date)),
    _T + "IsoTime": (_STR, _fixed(zoned_time)),
    _T + "IsoTimestamp": (_STR, _fixed(iso_timestamp)),
    _T + "MicroDuration": (_INTS, _fixed(duration_from_micros)),
    _C + "Date": (_INTS, _fixed(date_from_days)),
    _C + "Time": (_INTS, _fixed(time_from_millis)),
    _C + "Timestamp": (_INTS, _fixed(timestamp_from_millis)),
    _C + "Decimal": (_BYTES, _decimal),
    _D + "VariableScaleDecimal": (_STRUCT, lambda st, b64: _with_b64(variable_scale_decimal, b64)),
    _D + "Json": (_STR, _fixed(json_value)),
    _D + "Uuid": (_STR, _fixed(uuid_from_text)),
    _T + "Year": (_INTS, _fixed(year)),
    _D + "EnumSet": (_STR, _fixed(enum_set)),
    _D + "geometry.Geometry": (_STRUCT, lambda st, b64: _with_b64(geometry, b64)),
    _D + "geometry.Geography": (_STRUCT, lambda st, b64: _with_b64(geometry, b64)),
    _D + "geometry.Point": (_STRUCT, lambda st, b64: _with_b64(point, b64)),
    "avro:date": (_INTS, _fixed(date_from_days)),
    "avro:time-millis": (_INTS, _fixed(time_from_millis)),
    "avro:time-micros": (_INTS, _fixed(time_from_micros)),
    "avro:timestamp-millis": (_INTS, _fixed(timestamptz_from_millis)),
    "avro:timestamp-micros": (_INTS, _fixed(timestamptz_from_micros)),
    "avro:timestamp-nanos": (_INTS, _fixed(timestamptz_from_nanos)),
    "avro:local-timestamp-millis": (_INTS, _fixed(timestamp_from_millis)),
    "avro:local-timestamp-micros": (_INTS, _fixed(timestamp_from_micros)),
    "avro:local-timestamp-nanos": (_INTS, _fixed(timestamp_from_nanos)),
    "avro:decimal": (_BYTES, _decimal),
    "avro:uuid": (_STR, _fixed(uuid_from_text)),
}
STRUCT_SEMANTICS = frozenset(n for n, (kinds, _) in _SEMANTICS.items() if kinds is _STRUCT)


def leaf_converter(st: SType, b64: bool) -> Converter | None:
    """The converter for one non-container value of type ``st``; None when it stays as is.

    ``b64`` says bytes arrive as base64 text (JSON). Struct semantics (VariableScaleDecimal,
    geometry) are leaves here: they take the decoded struct dict.
    """
    entry = _SEMANTICS.get(st.semantic) if st.semantic is not None else None
    if entry is not None and st.kind in entry[0]:
        return entry[1](st, b64)
    if b64 and st.kind in ("bytes", "fixed"):
        return b64decode
    return None


def converter(st: SType, b64: bool) -> Converter | None:
    """The converter for a whole value of type ``st`` (recursing into structs, arrays, maps).

    Returns None when no part of the value needs converting. Nulls inside containers stay
    None. The returned callable raises ValueError/TypeError/KeyError for a malformed value.
    """
    leaf = leaf_converter(st, b64)
    if leaf is not None or st.kind not in ("struct", "array", "map"):
        return leaf
    if st.kind == "struct":
        parts = [(n, c) for n, f in st.fields if (c := converter(f, b64)) is not None]
        if not parts:
            return None
        return lambda d: _convert_struct(d, parts)
    item = converter(st.items, b64) if st.items is not None else None
    if item is None:
        return None
    if st.kind == "array":
        return lambda seq: [item(v) if v is not None else None for v in seq]
    return lambda m: {k: item(v) if v is not None else None for k, v in m.items()}


def _convert_struct(d: dict[str, Any], parts: list[tuple[str, Converter]]) -> dict[str, Any]:
    out = dict(d)
    for name, conv in parts:
        v = out.get(name)
        if v is not None:
            out[name] = conv(v)
    return out


# Inline forms of the hottest conversions for generated readers; each must equal the function
# of the same semantic (tests check this). ``{v}`` is the raw value's variable.
INLINE_NAMESPACE: dict[str, Any] = {
    "_E": _EPOCH,
    "_EU": _EPOCH_UTC,
    "_td": timedelta,
    "_dfo": date.fromordinal,
    "_D": Decimal,
    "_ib": int.from_bytes,
    "_dbig": limits.decimal_too_long,
    "_W": _WIDE,
}
_DATE = f"_dfo({_EPOCH_ORDINAL} + {{v}})"
_INLINE = {
    _T + "Date": _DATE,
    _C + "Date": _DATE,
    "avro:date": _DATE,
    _T + "Timestamp": "_E + _td(0, 0, {v} * 1000)",
    _C + "Timestamp": "_E + _td(0, 0, {v} * 1000)",
    "avro:local-timestamp-millis": "_E + _td(0, 0, {v} * 1000)",
    _T + "MicroTimestamp": "_E + _td(0, 0, {v})",
    "avro:local-timestamp-micros": "_E + _td(0, 0, {v})",
    _T + "NanoTimestamp": "_E + _td(0, 0, {v} // 1000)",
    "avro:timestamp-millis": "_EU + _td(0, 0, {v} * 1000)",
    "avro:timestamp-micros": "_EU + _td(0, 0, {v})",
    _T + "MicroDuration": "_td(0, 0, {v})",
}


def inline_expression(st: SType) -> str | None:
    """A Python expression template (``{v}`` = raw value) for ``st``'s conversion, if any.

    Only for raw (non-base64) values; None means "call ``leaf_converter`` instead".
    """
    if st.semantic is None:
        return None
    entry = _SEMANTICS.get(st.semantic)
    if entry is None or st.kind not in entry[0]:
        return None
    if entry[1] is _decimal and st.kind == "bytes":
        return (
            f"_D(_ib({{v}}, 'big', signed=True) if len({{v}}) <= {limits.MAX_DECIMAL_BYTES} "
            f"else _dbig(len({{v}}))).scaleb({-_scale(st)}, _W)"
        )
    return _INLINE.get(st.semantic)
