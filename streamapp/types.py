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
time           datetime.time (naive, microseconds)         long, logicalType time-micros
timestamp      datetime.datetime (naive, microseconds)     long, local-timestamp-micros
timestamptz    datetime.datetime (aware, UTC)              long, timestamp-micros
duration       datetime.timedelta                          long (microseconds)
bytes          bytes                                       bytes
uuid           uuid.UUID                                   string, logicalType uuid
json           parsed JSON (dict/list/str/int/float/...)   string (JSON text)
record{...}    dict[str, value]                            record
array<T>       list[value]                                 array
map<T>         dict[str, value]                            map
=============  ==========================================  ===============================

Every column is nullable (CDC rows may carry NULL anywhere) unless it is a key column.
Spec strings: ``"string"``, ``"int"``, ``"decimal(12,2)"``, ``"array<string>"``,
``"map<int>"``; a dict spec is a record: ``{"city": "string", "geo": {"lat": "float"}}``.
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
    """A column type. ``fields`` for RECORD, ``items`` for ARRAY items and MAP values."""

    kind: Kind
    precision: int | None = None
    scale: int | None = None
    fields: tuple[tuple[str, FieldType], ...] = ()
    items: FieldType | None = None

    def __str__(self) -> str:
        if self.kind is Kind.DECIMAL:
            return f"decimal({self.precision},{self.scale})"
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
