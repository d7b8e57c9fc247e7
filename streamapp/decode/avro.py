"""Avro in the Confluent wire format: one compiled plan per writer schema id."""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from streamapp.decode.avroread import Reader, compile_reader
from streamapp.decode.envelope import compile_source_info
from streamapp.decode.limits import LimitExceeded
from streamapp.decode.schema import SType, from_avro
from streamapp.decode.semantic import CONVERSION_ERRORS
from streamapp.errors import DecodeError
from streamapp.records import SourceInfo
from streamapp.wire import HEADER_SIZE

# Envelope fields holding MongoDB documents as extended-JSON text: decoded by decode.mongo.
MONGO_RAW_FIELDS = frozenset({"before", "after", "patch", "filter", "updateDescription"})
ROW_FIELDS = frozenset({"before", "after"})


class SchemaResolver(Protocol):
    """Gives the writer schema for a registry schema id.

    ``parsed_schema`` returns the fastavro-parsed schema (the real resolver wraps the schema
    registry and caches per id; it raises ``streamapp.errors.RegistryError`` when the registry
    cannot answer). A ``LookupError`` means the id is unknown and is reported as a DecodeError.
    """

    def parsed_schema(self, schema_id: int) -> Any: ...


@dataclass(slots=True)
class AvroPlan:
    """Everything compiled for one writer schema id: the reader and what the value is.

    ``shape`` is "envelope" (a Debezium change envelope with struct rows), "mongo" (a MongoDB
    envelope whose documents are JSON text), "record" (any other record: keys, heartbeats,
    schema changes) or "value" (a non-record top level, e.g. a primitive key).
    ``lazy_before``: the reader skips ``before`` and decodes it only for deletes.
    """

    schema_id: int
    top: SType
    shape: str
    read: Reader
    source_info: Callable[[Any], SourceInfo | None]
    debug_read: Reader | None = field(default=None)
    lazy_before: bool = False
    verdict: Any = None  # the Decoder's cached schema-drift verdict for this writer schema

    @property
    def row(self) -> SType | None:
        """The row type of a change envelope (``after``, else ``before``); None otherwise."""
        if self.shape != "envelope":
            return None
        return self.top.child("after") or self.top.child("before")

    def decode(self, data: bytes) -> Any:
        """Read the Avro body after the 5-byte header; DecodeError names the failing field."""
        try:
            value, end = self.read(data, HEADER_SIZE)
        except CONVERSION_ERRORS as exc:
            raise self._locate(data, exc) from None
        if end != len(data):
            raise DecodeError(
                f"Avro body does not match writer schema id {self.schema_id} "
                f"({len(data) - end:+d} bytes left over); the schema id in the header is wrong "
                "or the producer is not using the Confluent serializer"
            )
        return value

    def _locate(self, data: bytes, exc: Exception) -> DecodeError:
        """Re-read with a path-tracking reader to name the field that failed."""
        if self.debug_read is None:
            self.debug_read = _compile(self.top, self.shape, debug=True, lazy=self.lazy_before)
        at: list[str] = ["(value)"]
        with contextlib.suppress(*CONVERSION_ERRORS):  # the same failure, now located
            self.debug_read(data, HEADER_SIZE, at)
        where = at[0]
        if isinstance(exc, LimitExceeded):
            return DecodeError(
                f"cannot read field {where!r} with writer schema id {self.schema_id}: {exc}",
                field=where,
            )
        if isinstance(exc, (IndexError, struct.error)):
            what = "the body is shorter than the writer schema requires"
        elif isinstance(exc, UnicodeDecodeError):
            what = "a string is not valid UTF-8"
        else:
            what = f"{type(exc).__name__} while converting it"
        return DecodeError(
            f"cannot read field {where!r} with writer schema id {self.schema_id}: {what}; "
            "check that the schema id matches the producer's schema and the column's type",
            field=where,
        )


def compile_plan(schema_id: int, schema: Any, *, lazy_before: bool = False) -> AvroPlan:
    """Compile the reader for the (fastavro-parsed) writer ``schema`` of ``schema_id``.

    With ``lazy_before`` a change envelope's ``before`` (struct row or MongoDB document text)
    is decoded only when ``op`` is ``"d"`` and is None otherwise; other shapes are unaffected.
    """
    top = from_avro(schema)
    shape = _shape(top)
    lazy = lazy_before and shape in ("envelope", "mongo")
    source = compile_source_info(top.child("source") if top.kind == "struct" else None)
    read = _compile(top, shape, debug=False, lazy=lazy)
    return AvroPlan(schema_id, top, shape, read, source, lazy_before=lazy)


def _shape(top: SType) -> str:
    if top.kind != "struct" or top.optional:
        return "value"
    names = top.field_names()
    if "op" not in names:
        return "record"
    after = top.child("after") or top.child("before")
    if after is not None and after.kind == "string":
        return "mongo"
    return "envelope"


def _compile(top: SType, shape: str, *, debug: bool, lazy: bool) -> Reader:
    rows = ROW_FIELDS if shape == "envelope" else frozenset()
    raw = MONGO_RAW_FIELDS if shape == "mongo" else frozenset()
    return compile_reader(top, rows=rows, raw=raw, debug=debug, lazy_before=lazy)
