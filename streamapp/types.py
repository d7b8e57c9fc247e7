"""The column type system shared by decode, transform and encode.

A topology declares its source columns with these types; transforms propagate them at compile
time, and the output Avro schema is derived from them. Each kind has exactly one Python
representation at run time (decode produces it, transforms and encode consume it):

=============  ==========================================  ===============================
kind           Python value                                Avro (output)
=============  ==========================================  ===============================
string         str                                         string
int            int (64-bit)                                long
float          float                                       double
bool           bool                                        boolean
decimal(p,s)   decimal.Decimal                             bytes, logicalType decimal
date           datetime.date                               int, logicalType date
time(p)        datetime.time (naive, microseconds)         long, logicalType time-micros
timestamp(p)   datetime.datetime (naive, microseconds)     long, local-timestamp-micros
timestamptz(p) datetime.datetime (aware, UTC)              long, timestamp-micros
duration       datetime.timedelta                          long (microseconds)
bytes          bytes                                       bytes
uuid           uuid.UUID                                   string, logicalType uuid
json           parsed JSON (dict/list/str/int/float/...)   string (JSON text)
record{...}    dict[str, value]                            record
array<T>       list[value]                                 array
map<T>         dict[str, value]                            map
=============  ==========================================  ===============================

Every column is nullable (CDC rows may carry NULL anywhere) unless it is a key column.
Spec strings: ``"string"``, ``"int"``, ``"decimal(12,2)"``, ``"timestamp(3)"``,
``"array<string>"``, ``"map<int>"``; a dict spec is a record:
``{"city": "string", "geo": {"lat": "float"}}``.

Time semantics: ``time`` and ``timestamp`` are always naive (wall-clock) values; a source value
with a UTC offset (PostgreSQL ``timetz`` arrives as Debezium ``ZonedTime`` text such as
``10:34:56Z``) is converted to UTC and its offset dropped. ``timestamptz`` is always aware UTC.
The optional precision ``p`` (0-9 fractional digits) of ``time(p)``, ``timestamp(p)`` and
``timestamptz(p)`` is the source column's; it only tells the decoder the unit of schemaless
JSON integers under ``time.precision.mode=adaptive`` (0-3: milliseconds, 4-6: microseconds,
7-9: nanoseconds; none given: microseconds). Values are held at microsecond precision.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any, Union


class Kind(enum.Enum):
    STRING = "string"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DECIMAL = "decimal"
    DATE = "date"
    TIME = "time"
    TIMESTAMP = "timestamp"
    TIMESTAMPTZ = "timestamptz"
    DURATION = "duration"
    BYTES = "bytes"
    UUID = "uuid"
    JSON = "json"
    RECORD = "record"
    ARRAY = "array"
    MAP = "map"


SCALAR_KINDS = frozenset(k for k in Kind if k not in (Kind.RECORD, Kind.ARRAY, Kind.MAP))


@dataclass(frozen=True, slots=True)
class FieldType:
    """A column type. ``fields`` for RECORD, ``items`` for ARRAY items and MAP values.

    ``precision`` is a decimal's digits, or the fractional-second digits of a time, timestamp
    or timestamptz column when declared (``timestamp(3)``); ``scale`` is a decimal's.
    """

    kind: Kind
    precision: int | None = None
    scale: int | None = None
    fields: tuple[tuple[str, FieldType], ...] = ()
    items: FieldType | None = None

    def __str__(self) -> str:
        if self.kind is Kind.DECIMAL:
            return f"decimal({self.precision},{self.scale})"
        if self.precision is not None:
            return f"{self.kind.value}({self.precision})"
        if self.kind is Kind.ARRAY:
            return f"array<{self.items}>"
        if self.kind is Kind.MAP:
            return f"map<{self.items}>"
        if self.kind is Kind.RECORD:
            return "{" + ", ".join(f"{n}: {t}" for n, t in self.fields) + "}"
        return str(self.kind.value)

    @property
    def is_nested(self) -> bool:
        return self.kind in (Kind.RECORD, Kind.ARRAY, Kind.MAP)


TypeSpec = Union[str, FieldType, dict[str, Any]]  # noqa: UP007 - a runtime alias

_DECIMAL_RE = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(-?\d+)\s*\)$")
_PRECISION_RE = re.compile(r"^(time|timestamp|timestamptz)\(\s*(\d+)\s*\)$")
TEMPORAL_PRECISION_KINDS = frozenset({Kind.TIME, Kind.TIMESTAMP, Kind.TIMESTAMPTZ})
_GENERIC_RE = re.compile(r"^(array|map)<(.+)>$")
_ALIASES = {
    "str": Kind.STRING,
    "text": Kind.STRING,
    "long": Kind.INT,
    "integer": Kind.INT,
    "double": Kind.FLOAT,
    "boolean": Kind.BOOL,
}


def parse_type(spec: TypeSpec) -> FieldType:
    """Turn a type spec (see module docstring) into a FieldType; ValueError names the bad spec."""
    if isinstance(spec, FieldType):
        return spec
    if isinstance(spec, dict):
        if not spec:
            raise ValueError("a record type needs at least one field")
        return FieldType(
            Kind.RECORD, fields=tuple((str(n), parse_type(t)) for n, t in spec.items())
        )
    if not isinstance(spec, str):
        raise ValueError(f"type spec must be a string or a dict, got {type(spec).__name__}")
    text = spec.strip().lower()
    if m := _DECIMAL_RE.match(text):
        precision, scale = int(m.group(1)), int(m.group(2))
        if precision < 1 or scale < 0 or scale > precision:
            raise ValueError(f"{spec!r}: decimal needs 1 <= precision and 0 <= scale <= precision")
        return FieldType(Kind.DECIMAL, precision=precision, scale=scale)
    if m := _PRECISION_RE.match(text):
        digits = int(m.group(2))
        if digits > 9:
            raise ValueError(f"{spec!r}: the precision is 0-9 fractional second digits")
        return FieldType(Kind(m.group(1)), precision=digits)
    if m := _GENERIC_RE.match(text):
        inner = parse_type(spec.strip()[len(m.group(1)) + 1 : -1])
        return FieldType(Kind.ARRAY if m.group(1) == "array" else Kind.MAP, items=inner)
    if text == "decimal":
        raise ValueError(f"{spec!r}: give precision and scale, e.g. decimal(12,2)")
    kind = _ALIASES.get(text)
    if kind is None:
        try:
            kind = Kind(text)
        except ValueError:
            known = ", ".join(sorted(k.value for k in SCALAR_KINDS)) + ", array<T>, map<T>"
            raise ValueError(f"unknown type {spec!r}; known types: {known}") from None
    if kind in (Kind.RECORD, Kind.ARRAY, Kind.MAP):
        raise ValueError(f"{spec!r}: write records as a dict, arrays as array<T>, maps as map<T>")
    return FieldType(kind)


# Shorthands for topology modules and tests.
STRING = FieldType(Kind.STRING)
INT = FieldType(Kind.INT)
FLOAT = FieldType(Kind.FLOAT)
BOOL = FieldType(Kind.BOOL)
DATE = FieldType(Kind.DATE)
TIME = FieldType(Kind.TIME)
TIMESTAMP = FieldType(Kind.TIMESTAMP)
TIMESTAMPTZ = FieldType(Kind.TIMESTAMPTZ)
DURATION = FieldType(Kind.DURATION)
BYTES = FieldType(Kind.BYTES)
UUID = FieldType(Kind.UUID)
JSON = FieldType(Kind.JSON)
