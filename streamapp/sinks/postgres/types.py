"""PostgreSQL type mapping: the column type of each FieldType (values are checked by ``values``).

============  =====================
kind          PostgreSQL
============  =====================
string        text
int           bigint
float         double precision
bool          boolean
decimal(p,s)  numeric(p,s)
date          date
time          time
timestamp     timestamp
timestamptz   timestamptz
duration      interval
bytes         bytea
uuid          uuid
json, nested  jsonb
============  =====================
"""

from __future__ import annotations

from typing import Final

from streamapp.types import FieldType, Kind

_PG: Final[dict[Kind, str]] = {
    Kind.STRING: "text",
    Kind.INT: "bigint",
    Kind.FLOAT: "double precision",
    Kind.BOOL: "boolean",
    Kind.DATE: "date",
    Kind.TIME: "time",
    Kind.TIMESTAMP: "timestamp",
    Kind.TIMESTAMPTZ: "timestamptz",
    Kind.DURATION: "interval",
    Kind.BYTES: "bytea",
    Kind.UUID: "uuid",
}


def pg_type(ft: FieldType) -> str:
    """The PostgreSQL column type of ``ft`` (json and nested kinds are ``jsonb``)."""
    if ft.kind is Kind.DECIMAL:
        return f"numeric({ft.precision},{ft.scale})"
    return _PG.get(ft.kind, "jsonb")
