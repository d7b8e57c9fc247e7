"""The cast matrix between scalar kinds and the converters that implement it.

Rows are the source kind, columns the target kind. ``ok``: always succeeds; ``may``: checked
per record (a value that does not convert is a TransformError naming the column); ``-``: never
possible, rejected when the topology is compiled::

    from \\ to   string int   float decimal bool  date  time  timestamp timestamptz
    string      ok     may   may   may     may   may   may   may       may
    int         ok     ok    ok    may     ok    -     -     -         -
    float       ok     may   ok    may     -     -     -     -         -
    decimal     ok     may   ok    may     -     -     -     -         -
    bool        ok     ok    -     -       ok    -     -     -         -
    date        ok     -     -     -       -     ok    -     ok        ok
    time        ok     -     -     -       -     -     ok    -         -
    timestamp   ok     -     -     -       -     ok    ok    ok        ok
    timestamptz ok     -     -     -       -     ok    ok    ok        ok

Also ``uuid -> string`` and ``json -> string`` (compact JSON text) are ok, ``string -> uuid`` may
fail; every other pair involving another kind is never possible.

Rules: to string: decimals in plain notation, bools ``true``/``false``, temporals ISO 8601. From
string: integers are ASCII digits with an optional sign, bools one of true/false/t/f/yes/no/y/n/
1/0/on/off (any case), temporals ISO 8601. int -> bool: 0 is false, anything else true. float
or decimal -> int only when integral and within 64 bits. -> decimal(p,s): rounded half-even to
``s`` places, fails when that needs more than ``p`` digits. A naive timestamp is read as UTC;
timestamptz -> date/time/timestamp take the UTC date, time of day and wall time. A string with
a UTC offset cast to timestamp becomes its UTC wall time; a time with an offset fails.
"""

from __future__ import annotations

import enum
import json
import math
import re
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation
from typing import Any, Final

from streamapp.types import SCALAR_KINDS, FieldType, Kind

Converter = Callable[[Any], Any]


class Verdict(enum.Enum):
    """Whether a cast between two kinds can succeed."""

    OK = "ok"
    MAY_FAIL = "may"
    NEVER = "-"


class CastFailure(ValueError):
    """A value could not be converted; ``reason`` says why without quoting the value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


MATRIX_KINDS: Final = (
    Kind.STRING,
    Kind.INT,
    Kind.FLOAT,
    Kind.DECIMAL,
    Kind.BOOL,
    Kind.DATE,
    Kind.TIME,
    Kind.TIMESTAMP,
    Kind.TIMESTAMPTZ,
)
_ROWS: Final = (
    "ok may may may may may may may may",
    "ok ok  ok  may ok  -   -   -   -",
    "ok may ok  may -   -   -   -   -",
    "ok may ok  may -   -   -   -   -",
    "ok ok  -   -   ok  -   -   -   -",
    "ok -   -   -   -   ok  -   ok  ok",
    "ok -   -   -   -   -   ok  -   -",
    "ok -   -   -   -   ok  ok  ok  ok",
    "ok -   -   -   -   ok  ok  ok  ok",
)
MATRIX: Final[dict[tuple[Kind, Kind], Verdict]] = {
    (src, dst): Verdict(cell)
    for src, row in zip(MATRIX_KINDS, _ROWS, strict=True)
    for dst, cell in zip(MATRIX_KINDS, row.split(), strict=True)
}
MATRIX[(Kind.UUID, Kind.STRING)] = Verdict.OK
MATRIX[(Kind.JSON, Kind.STRING)] = Verdict.OK
MATRIX[(Kind.STRING, Kind.UUID)] = Verdict.MAY_FAIL


def verdict(src: Kind, dst: Kind) -> Verdict:
    """The matrix cell for ``src -> dst`` (identity is always OK)."""
    if src is dst and src in SCALAR_KINDS and src is not Kind.DECIMAL:
        return Verdict.OK
    return MATRIX.get((src, dst), Verdict.NEVER)


_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**63 - 1
_INT_RE: Final = re.compile(r"\s*[+-]?[0-9]+\s*")
_TRUE: Final = frozenset({"true", "t", "yes", "y", "1", "on"})
_FALSE: Final = frozenset({"false", "f", "no", "n", "0", "off"})
_JSON_TEXT: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _int64(value: int) -> int:
    if _INT_MIN <= value <= _INT_MAX:
        return value
    raise CastFailure("it is outside the 64-bit integer range")


def _str_to_int(value: str) -> int:
    if _INT_RE.fullmatch(value) is None:
        raise CastFailure("it is not a whole number")
    return _int64(int(value))


def _str_to_bool(value: str) -> bool:
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise CastFailure("it is not one of true/false/t/f/yes/no/y/n/1/0/on/off")


def _float_to_int(value: float) -> int:
    if not math.isfinite(value) or not float(value).is_integer():
        raise CastFailure("it is not a whole number")
    return _int64(int(value))


def _decimal_to_int(value: Decimal) -> int:
    if not value.is_finite() or value != value.to_integral_value():
        raise CastFailure("it is not a whole number")
    return _int64(int(value))


def _iso(parse: Callable[[str], Any], what: str) -> Converter:
    def convert(value: str) -> Any:
        try:
            return parse(value.strip())
        except ValueError:
            raise CastFailure(f"it is not an ISO 8601 {what}") from None

    return convert


_parse_date: Final = _iso(date.fromisoformat, "date")
_parse_time: Final = _iso(time.fromisoformat, "time")
_parse_datetime: Final = _iso(datetime.fromisoformat, "timestamp")


def _str_to_float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise CastFailure("it is not a number") from None


def _str_to_time(value: str) -> time:
    parsed: time = _parse_time(value)
    if parsed.tzinfo is not None:
        raise CastFailure("it has a UTC offset, which a time of day cannot keep")
    return parsed


def _str_to_timestamp(value: str) -> datetime:
    parsed: datetime = _parse_datetime(value)
    return parsed if parsed.tzinfo is None else parsed.astimezone(UTC).replace(tzinfo=None)


def _str_to_timestamptz(value: str) -> datetime:
    parsed: datetime = _parse_datetime(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _str_to_uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise CastFailure("it is not a UUID") from None


def decimal_fitter(precision: int, scale: int) -> Callable[[Decimal], Decimal]:
    """Round a Decimal half-even to ``scale`` places; CastFailure if it needs > ``precision``."""
    exponent = Decimal(1).scaleb(-scale)
    quantize = Context(prec=precision, rounding=ROUND_HALF_EVEN).quantize  # traps overflow

    def fit(value: Decimal) -> Decimal:
        if not value.is_finite():
            raise CastFailure("it is not a finite number")
        try:
            return quantize(value, exponent)
        except InvalidOperation:
            raise CastFailure(f"it needs more than {precision} digits") from None

    return fit


def _to_decimal(src: Kind, fit: Callable[[Decimal], Decimal]) -> Converter:
    if src is Kind.STRING:

        def from_str(value: str) -> Decimal:
            try:
                parsed = Decimal(value.strip())
            except InvalidOperation:
                raise CastFailure("it is not a number") from None
            return fit(parsed)

        return from_str
    if src is Kind.FLOAT:
        return lambda value: fit(Decimal(repr(float(value))))
    return lambda value: fit(Decimal(value))


def _to_string(src: Kind) -> Converter:
    if src is Kind.FLOAT:
        return lambda value: repr(float(value))
    if src is Kind.DECIMAL:
        return lambda value: format(value, "f")
    if src is Kind.BOOL:
        return lambda value: "true" if value else "false"
    if src in (Kind.DATE, Kind.TIME, Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
        return lambda value: value.isoformat()
    if src is Kind.JSON:
        return _JSON_TEXT.encode
    return str


_MIDNIGHT: Final = time()
_SIMPLE: Final[dict[tuple[Kind, Kind], Converter]] = {
    (Kind.STRING, Kind.INT): _str_to_int,
    (Kind.STRING, Kind.FLOAT): _str_to_float,
    (Kind.STRING, Kind.BOOL): _str_to_bool,
    (Kind.STRING, Kind.DATE): _parse_date,
    (Kind.STRING, Kind.TIME): _str_to_time,
    (Kind.STRING, Kind.TIMESTAMP): _str_to_timestamp,
    (Kind.STRING, Kind.TIMESTAMPTZ): _str_to_timestamptz,
    (Kind.STRING, Kind.UUID): _str_to_uuid,
    (Kind.INT, Kind.FLOAT): float,
    (Kind.INT, Kind.BOOL): lambda value: value != 0,
    (Kind.FLOAT, Kind.INT): _float_to_int,
    (Kind.DECIMAL, Kind.INT): _decimal_to_int,
    (Kind.DECIMAL, Kind.FLOAT): float,
    (Kind.BOOL, Kind.INT): int,
    (Kind.DATE, Kind.TIMESTAMP): lambda value: datetime.combine(value, _MIDNIGHT),
    (Kind.DATE, Kind.TIMESTAMPTZ): lambda value: datetime.combine(value, _MIDNIGHT, UTC),
    (Kind.TIMESTAMP, Kind.DATE): lambda value: value.date(),
    (Kind.TIMESTAMP, Kind.TIME): lambda value: value.time(),
    (Kind.TIMESTAMP, Kind.TIMESTAMPTZ): lambda value: value.replace(tzinfo=UTC),
    (Kind.TIMESTAMPTZ, Kind.DATE): lambda value: value.astimezone(UTC).date(),
    (Kind.TIMESTAMPTZ, Kind.TIME): lambda value: value.astimezone(UTC).time(),
    (Kind.TIMESTAMPTZ, Kind.TIMESTAMP): lambda value: value.astimezone(UTC).replace(tzinfo=None),
}


def converter(src: FieldType, dst: FieldType) -> Converter | None:
    """The function casting a non-null ``src`` value to ``dst``; None when never possible.

    Identity casts return a converter too (``lambda v: v``) so callers need no special case;
    use :func:`is_identity` to skip them. Converters raise CastFailure for a value that does
    not convert, and TypeError/AttributeError when the value is not of ``src``'s Python type.
    """
    if is_identity(src, dst):
        return _identity
    if verdict(src.kind, dst.kind) is Verdict.NEVER:
        return None
    if dst.kind is Kind.DECIMAL:
        assert dst.precision is not None and dst.scale is not None
        return _to_decimal(src.kind, decimal_fitter(dst.precision, dst.scale))
    if dst.kind is Kind.STRING:
        return _to_string(src.kind)
    return _SIMPLE[(src.kind, dst.kind)]


def is_identity(src: FieldType, dst: FieldType) -> bool:
    """True when casting ``src`` to ``dst`` changes nothing."""
    return src == dst


def _identity(value: Any) -> Any:
    return value


def intermediate(src: Kind, dst: Kind) -> Kind | None:
    """A numeric or bool kind through which ``src -> dst`` works in two casts, if any.

    Strings and temporals are never suggested: through them a cast "works" but means nothing
    (a date through timestamp to time is always midnight).
    """
    for via in (Kind.INT, Kind.FLOAT, Kind.DECIMAL, Kind.BOOL):
        if via not in (src, dst) and Verdict.NEVER not in (verdict(src, via), verdict(via, dst)):
            return via
    return None
