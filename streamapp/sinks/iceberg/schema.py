"""Iceberg type mapping: output columns to an Iceberg schema, and record values to Arrow cells.

======================  ==============================  =========================================
streamapp kind          Iceberg type                    cell written
======================  ==============================  =========================================
string                  string                          str
int                     long                            int
float                   double                          float
bool                    boolean                         bool
decimal(p,s), p <= 38   decimal(p,s)                    Decimal, exact at scale s
date / time             date / time (microseconds)      date / time
timestamp               timestamp (no zone)             naive datetime
timestamptz             timestamptz (UTC)               aware datetime
duration                long (microseconds)             int
bytes                   binary                          bytes
uuid                    string (canonical text)         str
json, record, array,    string (JSON text)              str
map
======================  ==============================  =========================================

Every table also has ``__version long`` and ``__deleted boolean`` (both required); the key
columns are required and are the table's identifier fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IcebergType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
    TimeType,
)

from streamapp.errors import ConfigError
from streamapp.sinks.base import TableSpec
from streamapp.sinks.values import JSON_KINDS, micros, quantize, to_json
from streamapp.types import FieldType, Kind

VERSION: Final = "__version"
DELETED: Final = "__deleted"
MAX_DECIMAL_DIGITS: Final = 38

_SCALAR: Final[dict[Kind, IcebergType]] = {
    Kind.STRING: StringType(),
    Kind.INT: LongType(),
    Kind.FLOAT: DoubleType(),
    Kind.BOOL: BooleanType(),
    Kind.DATE: DateType(),
    Kind.TIME: TimeType(),
    Kind.TIMESTAMP: TimestampType(),
    Kind.TIMESTAMPTZ: TimestamptzType(),
    Kind.DURATION: LongType(),
    Kind.BYTES: BinaryType(),
    Kind.UUID: StringType(),
}


def iceberg_type(table: TableSpec, name: str, ft: FieldType) -> IcebergType:
    """The Iceberg type of one output column; ConfigError for a decimal Iceberg cannot hold."""
    if ft.kind is Kind.DECIMAL:
        if ft.precision is None or ft.precision > MAX_DECIMAL_DIGITS:
            raise ConfigError(
                f"{table.where}: column {name!r} is {ft}, Iceberg decimals hold at most "
                f"{MAX_DECIMAL_DIGITS} digits; cast it to a narrower decimal or a string"
            )
        return DecimalType(ft.precision, ft.scale or 0)
    if ft.kind in JSON_KINDS:
        return StringType()
    return _SCALAR[ft.kind]


def table_schema(table: TableSpec) -> Schema:
    """The schema of a new table: output columns in order, then ``__version``, ``__deleted``."""
    fields = [
        NestedField(i, n, iceberg_type(table, n, t), required=n in table.key_columns)
        for i, (n, t) in enumerate(table.columns.items(), start=1)
    ]
    after = len(fields)
    fields.append(NestedField(after + 1, VERSION, LongType(), required=True))
    fields.append(NestedField(after + 2, DELETED, BooleanType(), required=True))
    keys = [f.field_id for f in fields if f.name in table.key_columns]
    return Schema(*fields, identifier_field_ids=keys)


def _identity(v: Any) -> Any:
    return v


def cell(ft: FieldType) -> Callable[[Any], Any]:
    """How a (checked, non-null) record value of ``ft`` becomes its Arrow cell."""
    if ft.kind in JSON_KINDS:
        return to_json
    if ft.kind is Kind.UUID:
        return str
    if ft.kind is Kind.DURATION:
        return micros
    if ft.kind is Kind.DECIMAL:

        def exact(v: Any) -> Any:
            return quantize(ft, v)

        return exact
    return _identity


def cells(columns: Mapping[str, FieldType]) -> dict[str, Callable[[Any], Any]]:
    """``cell`` for every column that needs a conversion (the others are written as they are)."""
    out = {n: cell(t) for n, t in columns.items()}
    return {n: f for n, f in out.items() if f is not _identity}
