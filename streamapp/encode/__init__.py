"""Encode stage: output Avro schemas, the record encoder and schema compatibility checks."""

from __future__ import annotations

from streamapp.encode.avro import RecordEncoder
from streamapp.encode.compat import compatibility_problems
from streamapp.encode.schema import (
    avro_schema_for,
    columns_from_avro,
    key_schema_for,
    schema_problems,
)

__all__ = [
    "RecordEncoder",
    "avro_schema_for",
    "columns_from_avro",
    "compatibility_problems",
    "key_schema_for",
    "schema_problems",
]
