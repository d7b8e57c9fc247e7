"""One canonical text per declared FieldType, so a value compares equal whichever store held it.

Every sink keeps a kind in its own form (see each sink package's ``types``): a decimal is a
``Decimal`` from ClickHouse and PostgreSQL but ``"12.5"`` text in Redis, a timestamp is a
``datetime``, ISO text or microseconds. :func:`canonical` accepts each of those forms and
returns the same text:

=============  ==========================================================================
kind           canonical text
=============  ==========================================================================
string         the string itself
int            decimal digits
float          ``repr(float)``
bool           ``true`` / ``false``
decimal(p,s)   rounded half-up to the scale, fixed point (``-0.00`` becomes ``0.00``)
date           ISO date
time           microseconds since midnight
timestamp      microseconds since the epoch (a naive value read as UTC)
timestamptz    microseconds since the epoch, UTC
duration       microseconds
bytes          base64
uuid           lower-case 8-4-4-4-12 text
json, nested   canonical JSON (sorted keys; integral floats as ints, as jsonb stores them;
               a JSON ``null`` is a null column)
=============  ==========================================================================

A value that cannot be read as its kind becomes an opaque marker (its type and a hash, never
the value), so it differs from every readable value without leaking it.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from uuid import UUID

from streamapp.sinks.values import quantize, to_json
from streamapp.types import FieldType, Kind

JSON_KINDS: Final = frozenset({Kind.JSON, Kind.RECORD, Kind.ARRAY, Kind.MAP})
_EPOCH: Final = datetime(1970, 1, 1)
_EPOCH_UTC: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DATE: Final = date(1970, 1, 1)
_US: Final = timedelta(microseconds=1)
_SAFE_INT: Final = 2**63


def _string(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).decode("utf-8", "surrogateescape")
    return str(v)


def _int(v: Any) -> str:
    if isinstance(v, str):
        return str(int(v.strip()))
    if isinstance(v, float | Decimal) and v != int(v):
        raise ValueError("not integral")
    return str(int(v))


def _float(v: Any) -> str:
    return repr(float(v))


def _bool(v: Any) -> str:
    if isinstance(v, str):
        text = v.strip().lower()
        if text in ("true", "t", "1"):
            return "true"
        if text in ("false", "f", "0"):
            return "false"
        raise ValueError("not a boolean")
    if isinstance(v, bool) or v in (0, 1):
        return "true" if v else "false"
    raise ValueError("not a boolean")


def _decimal(ft: FieldType) -> Callable[[Any], str]:
    def convert(v: Any) -> str:
        if isinstance(v, float):
            d = Decimal(repr(v))
        elif isinstance(v, Decimal):
            d = v
        else:
            d = Decimal(str(v).strip())
        if not d.is_finite():
            return str(d)
        q = quantize(ft, d)
        out = d.normalize() if q is None else q
        return format(abs(out) if out.is_zero() else out, "f")

    return convert


def _date(v: Any) -> str:
    if isinstance(v, datetime):
        return v.date().isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, int):
        return (_EPOCH_DATE + timedelta(days=v)).isoformat()
    return date.fromisoformat(str(v)).isoformat()


def _time(v: Any) -> str:
    if isinstance(v, int):
        return str(v)
    if isinstance(v, timedelta):
        return str(v // _US)
    t = v if isinstance(v, time) else time.fromisoformat(str(v))
    return str(((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond)


def _instant(v: Any) -> str:
    if isinstance(v, int):
        return str(v)
    dt = v if isinstance(v, datetime) else datetime.fromisoformat(str(v))
    if dt.tzinfo is None:
        return str((dt - _EPOCH) // _US)
    return str((dt - _EPOCH_UTC) // _US)


def _duration(v: Any) -> str:
    if isinstance(v, timedelta):
        return str(v // _US)
    return str(int(v))


def _bytes(v: Any) -> str:
    if isinstance(v, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(v)).decode("ascii")
    return base64.b64encode(base64.b64decode(str(v), validate=True)).decode("ascii")


def _uuid(v: Any) -> str:
    if isinstance(v, UUID):
        return str(v)
    if isinstance(v, bytes) and len(v) == 16:
        return str(UUID(bytes=v))
    return str(UUID(str(v)))


def _json_norm(v: Any) -> Any:
    """Integral floats as ints (jsonb keeps ``1e16`` as a number without a fraction)."""
    if isinstance(v, float):
        if math.isfinite(v) and v == int(v) and abs(v) < _SAFE_INT:
            return int(v)
        return v
    if isinstance(v, dict):
        return {str(k): _json_norm(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_norm(x) for x in v]
    return v


def _json(v: Any, text: bool) -> str | None:
    if text and isinstance(v, str | bytes):
        with contextlib.suppress(ValueError):  # else a raw string: hashes keep those unquoted
            v = json.loads(v)
    return None if v is None else to_json(_json_norm(v))  # JSON null is a null column


_SCALAR: Final[dict[Kind, Callable[[Any], str]]] = {
    Kind.STRING: _string,
    Kind.INT: _int,
    Kind.FLOAT: _float,
    Kind.BOOL: _bool,
    Kind.DATE: _date,
    Kind.TIME: _time,
    Kind.TIMESTAMP: _instant,
    Kind.TIMESTAMPTZ: _instant,
    Kind.DURATION: _duration,
    Kind.BYTES: _bytes,
    Kind.UUID: _uuid,
}
_READ_ERRORS: Final = (ValueError, TypeError, ArithmeticError, InvalidOperation, OverflowError)


def canonical_fn(ft: FieldType, *, json_text: bool = False) -> Callable[[Any], str | None]:
    """The canonicaliser of one column: None stays None, any stored form -> canonical text.

    ``json_text`` says that a ``str`` value of a json/nested column is JSON text (ClickHouse,
    Redis hashes) rather than a parsed JSON string value (psycopg, Redis JSON documents).
    Never raises: an unreadable value becomes :func:`opaque`.
    """
    kind = ft.kind
    convert: Callable[[Any], str | None]
    if kind in JSON_KINDS:
        convert = functools.partial(_json, text=json_text)
    elif kind is Kind.DECIMAL:
        convert = _decimal(ft)
    else:
        convert = _SCALAR[kind]

    def canon(v: Any) -> str | None:
        if v is None:
            return None
        try:
            return convert(v)
        except _READ_ERRORS:
            return opaque(v)

    return canon


def canonical(ft: FieldType, value: Any, *, json_text: bool = False) -> str | None:
    """``value`` (any form a sink stores for ``ft``) as its canonical text; None for null."""
    return canonical_fn(ft, json_text=json_text)(value)


def opaque(v: Any) -> str:
    """A marker for an unreadable value: its type and a hash, never the value itself."""
    digest = hashlib.blake2b(repr(v).encode("utf-8", "replace"), digest_size=8).hexdigest()
    return f"\x00unreadable {type(v).__name__} {digest}"


_SORT: Final[dict[Kind, Callable[[str], Any]]] = {
    Kind.INT: int,
    Kind.FLOAT: float,
    Kind.DECIMAL: Decimal,
    Kind.BOOL: lambda s: s == "true",
    Kind.TIME: int,
    Kind.TIMESTAMP: int,
    Kind.TIMESTAMPTZ: int,
    Kind.DURATION: int,
    Kind.BYTES: base64.b64decode,
}
KEY_KINDS: Final = frozenset(_SCALAR) | {Kind.DECIMAL}


def sort_fn(ft: FieldType, *, json_text: bool = False) -> Callable[[Any], Any]:
    """Key value (any stored form) -> the value the merge-join orders by.

    Numbers and instants order numerically, strings and UUID text by code point, bytes by
    byte: the order of ``ORDER BY`` in PostgreSQL (``COLLATE "C"``) and ClickHouse. An
    unreadable key sorts as its opaque text (ValueError for kinds that cannot be keys).
    """
    if ft.kind not in KEY_KINDS:
        raise ValueError(f"a {ft} column cannot be a reconciliation key")
    canon = canonical_fn(ft, json_text=json_text)
    typed = _SORT.get(ft.kind)

    def key(v: Any) -> Any:
        text = canon(v)
        if typed is None or text is None or text.startswith("\x00"):
            return text
        return typed(text)

    return key
