"""Declared column types against a message's schema: an exact conversion, or a refusal.

A topology declares each source column's type; a message with a schema (Avro, or Connect JSON)
says what the connector wrote. When the two kinds differ, the value is converted to the
declared kind when that is exact, per record (a value that does not convert is a DecodeError
naming the field and both types), and otherwise every event of that writer schema is refused
with one line from the first message on. Nothing is ever stored as the other type.

Conversions (writer kind -> declared kind):

- int -> bool: 0 and 1 only (MySQL ``BOOLEAN``/``TINYINT(1)`` arrives as int16).
- int -> float: while exact (|v| <= 2**53); int -> decimal(p,s).
- decimal -> float: the nearest double; float -> decimal (``decimal.handling.mode=double``)
  via the shortest round-trip text, rounded to the declared scale; string -> decimal
  (``decimal.handling.mode=string``).
- uuid -> string (canonical text); string -> uuid; json -> string (compact JSON text);
  string -> json (the text parsed as JSON).
- timestamptz -> timestamp (UTC wall time); timestamp -> timestamptz (read as UTC).
- string -> bytes only with ``binary.handling.mode`` base64/base64-url-safe/hex; string ->
  duration only with ``interval.handling.mode=string`` (ISO-8601 without years or months).
- anything -> record/array/map: JSON text parsed, members converted by the declared types.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

from streamapp.decode import semantic
from streamapp.decode.drift import writer_type
from streamapp.decode.hints import (
    HintMismatch,
    binary_text,
    duration_from_iso,
    hint_converter,
)
from streamapp.decode.limits import loads as json_loads
from streamapp.decode.modes import HandlingModes
from streamapp.decode.schema import SType
from streamapp.errors import DecodeError
from streamapp.records import UNCHANGED
from streamapp.types import FieldType, Kind

Converter = Callable[[Any], Any]
_EXACT_FLOAT: Final = 2**53
_JSON_TEXT: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class Refusal(ValueError):
    """Why a value has no exact conversion; the text never contains the value."""


def _int_to_bool(v: Any) -> bool:
    if v == 0 or v == 1:
        return bool(v)
    raise Refusal("it is neither 0 nor 1")


def _int_to_float(v: Any) -> float:
    if -_EXACT_FLOAT <= v <= _EXACT_FLOAT:
        return float(v)
    raise Refusal("it has more digits than a double holds exactly")


def _to_float(v: Any) -> float:
    result = float(v)
    if math.isinf(result) and Decimal(v).is_finite():
        raise Refusal("it is beyond the range of a double")
    return result


def _decimal_text(v: Any) -> Decimal:
    if type(v) is not str:
        raise TypeError("expected decimal text")
    return Decimal(v)


def _json_text(v: Any) -> str:
    return _JSON_TEXT.encode(v)


def _naive(v: datetime) -> datetime:
    return v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo is not None else v


def _aware(v: datetime) -> datetime:
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


_CONVERSIONS: Final[dict[tuple[Kind, Kind], Callable[[FieldType], Converter]]] = {
    (Kind.INT, Kind.BOOL): lambda ft: _int_to_bool,
    (Kind.INT, Kind.FLOAT): lambda ft: _int_to_float,
    (Kind.INT, Kind.DECIMAL): lambda ft: Decimal,
    (Kind.DECIMAL, Kind.FLOAT): lambda ft: _to_float,
    (Kind.FLOAT, Kind.DECIMAL): lambda ft: lambda v: semantic.decimal_from_number(v, ft.scale),
    (Kind.STRING, Kind.DECIMAL): lambda ft: _decimal_text,
    (Kind.UUID, Kind.STRING): lambda ft: str,
    (Kind.STRING, Kind.UUID): lambda ft: uuid.UUID,
    (Kind.JSON, Kind.STRING): lambda ft: _json_text,
    (Kind.STRING, Kind.JSON): lambda ft: json_loads,
    (Kind.TIMESTAMPTZ, Kind.TIMESTAMP): lambda ft: _naive,
    (Kind.TIMESTAMP, Kind.TIMESTAMPTZ): lambda ft: _aware,
    (Kind.STRING, Kind.BYTES): lambda ft: semantic.b64decode,  # replaced by the binary mode
    (Kind.STRING, Kind.DURATION): lambda ft: duration_from_iso,
}
CONVERTIBLE: Final = frozenset(_CONVERSIONS)
"""(writer kind, declared kind) pairs converted per value; DriftGuard accepts each of them."""
_NESTED: Final = frozenset({Kind.RECORD, Kind.ARRAY, Kind.MAP})


@dataclass(frozen=True, slots=True)
class RowFit:
    """What one writer row needs to hold the declared types: converters, or a refusal.

    ``converters``: (column, converter, "writer -> declared" label). ``error``: the one line
    every event of the writer schema fails with. Guarantees: ``apply`` changes only the listed
    columns, leaves NULL and UNCHANGED alone, and names field and types on failure.
    """

    converters: tuple[tuple[str, Converter, str], ...] = ()
    error: str | None = None

    def apply(self, row: Any, where: str) -> None:
        """Convert ``row`` (a dict, or None) in place; DecodeError when a value does not fit."""
        if self.error is not None:
            raise DecodeError(self.error)
        if not isinstance(row, dict):
            return
        for name, conv, label in self.converters:
            v = row.get(name)
            if v is None or v is UNCHANGED:
                continue
            try:
                row[name] = conv(v)
            except semantic.CONVERSION_ERRORS as exc:
                # only our own texts: a library's message may quote the value
                reason = str(exc) if isinstance(exc, (Refusal, HintMismatch)) else None
                raise DecodeError(
                    f"field '{where}.{name}' ({label}) cannot be converted exactly"
                    f"{f': {reason}' if reason else f' ({type(exc).__name__})'}; "
                    "fix the column's declared type or the connector's handling modes",
                    field=name,
                ) from None


NOTHING: Final = RowFit()


def fit_row(
    row: SType | None, declared: Mapping[str, FieldType], modes: HandlingModes, where: str
) -> RowFit:
    """The RowFit of writer row ``row`` (a struct) for ``declared`` columns (see module doc).

    ``where`` names the writer schema in the refusal. Returns NOTHING when no column needs
    anything (the hot path then skips the row).
    """
    if row is None or row.kind != "struct" or not declared:
        return NOTHING
    converters: list[tuple[str, Converter, str]] = []
    for name, st in row.fields:
        want = declared.get(name)
        have = writer_type(st) if want is not None else None
        if want is None or have is None or have.kind is want.kind:
            continue
        label = f"writer {st.semantic or st.kind} -> declared {want}"
        conv, why = _converter(have.kind, want, modes)
        if conv is None:
            return RowFit(
                error=f"{where}: column {name!r} is {have} in the message schema but declared "
                f"{want}; {why}"
            )
        converters.append((name, conv, label))
    return RowFit(tuple(converters)) if converters else NOTHING


def _converter(have: Kind, want: FieldType, modes: HandlingModes) -> tuple[Converter | None, str]:
    fix = "declare the column's real type in Source.columns (or cast it in a transform)"
    if want.kind in _NESTED:
        return hint_converter(want, modes=modes), ""
    if (have, want.kind) == (Kind.STRING, Kind.BYTES):
        if modes.binary == "bytes":
            return None, (
                "text for a bytes column means binary.handling.mode base64/base64-url-safe/hex: "
                "declare it in Source.handling, or " + fix
            )
        return binary_text(modes.binary), ""
    if (have, want.kind) == (Kind.STRING, Kind.DURATION) and modes.interval != "string":
        return None, (
            "text for a duration column means interval.handling.mode=string: declare it in "
            "Source.handling, or " + fix
        )
    make = _CONVERSIONS.get((have, want.kind))
    if make is None:
        return None, f"there is no exact conversion; {fix}"
    return make(want), ""
