"""Encode OutputRecords as Avro in the Confluent wire format, with a writer compiled per schema.

The per-record path is one generated Python function per schema (built once with ``exec``): it
reads each column, converts the ``streamapp.types`` value and appends the Avro bytes to a
bytearray, with no intermediate dict; with the C extension built, ``encode/avronative.py`` wraps
it so a record's values go to one C call (the pure function stays the fallback). The bytes are
exactly what fastavro writes for the same schema and datum (the unit tests compare them);
fastavro reads them back in ``decode_value``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import fastavro

from streamapp.encode import avronative
from streamapp.encode.avrowrite import (
    _BOOKKEEPING_TYPES,
    _EXPECTED,
    _READ_AS_IS,
    _WRITE_ERRORS,
    _CodeGen,
    _field_writer,
    _Unfit,
)
from streamapp.encode.schema import (
    DELETED_FIELD,
    UNCHANGED_FIELD,
    describe_avro,
    field_type_of,
    split_nullable,
)
from streamapp.errors import ConfigError, DecodeError, EncodeError
from streamapp.records import UNCHANGED, OutputRecord
from streamapp.types import FieldType, Kind
from streamapp.wire import frame, unframe


class RecordEncoder:
    """Encodes the OutputRecords of one output topic against fixed value and key schemas.

    Guarantees: ``encode_value`` / ``encode_key`` return wire-format bytes (magic byte, schema
    id, Avro body) that any Avro reader decodes with the registered schema; a value that does not
    fit raises EncodeError naming the field, the output type and the value's Python type, never
    the value. Columns missing from ``record.value`` encode as null; columns in
    ``record.unchanged`` encode as null and are listed (sorted) in ``__unchanged``.

    Deletes (like ExtractNewRecordState ``delete.handling.mode=rewrite`` plus tombstones):
    ``messages`` yields ``(key, row with __deleted=true)`` then ``(key, None)``, the tombstone
    that lets a compacted topic forget the key. Without a ``__deleted`` field in the value
    schema only the tombstone is produced; without a key schema only the rewritten row.
    """

    def __init__(
        self,
        value_schema: Mapping[str, Any],
        key_schema: Mapping[str, Any] | None,
        *,
        value_schema_id: int,
        key_schema_id: int | None,
    ) -> None:
        if key_schema is not None and key_schema_id is None:
            raise ConfigError("a key schema needs its registry id (key_schema_id)")
        self.value_schema_id = value_schema_id
        self.key_schema_id = key_schema_id
        self._name = str(value_schema.get("name"))
        fields = list(value_schema.get("fields", ()))
        names = {f["name"] for f in fields}
        self.rewrites_deletes = DELETED_FIELD in names
        self._lists_unchanged = UNCHANGED_FIELD in names
        if key_schema is None and not self.rewrites_deletes:
            raise ConfigError(
                f"output {self._name!r} has neither a key schema nor a "
                f"{DELETED_FIELD!r} field, so a delete cannot be encoded"
            )
        for f in fields:
            want = _BOOKKEEPING_TYPES.get(f["name"])
            if want is not None and f["type"] != want:
                raise ConfigError(
                    f"output {self._name!r}: field {f['name']!r} must have type {want!r}"
                )
        self._parsed = fastavro.parse_schema(dict(value_schema))
        self._value_header = frame(value_schema_id, b"")
        self._write_value = avronative.value_writer(fields, self._compile_value(fields), self._name)
        self._checks = [
            (f["name"], f["type"], _field_writer(f["type"], f["name"]))
            for f in fields
            if f["name"] not in (DELETED_FIELD, UNCHANGED_FIELD)
        ]
        self._key_fields: list[tuple[str, Any, Callable[[bytearray, Any], None]]] = []
        self._key_header = b""
        if key_schema is not None:
            self._key_header = frame(key_schema_id or 0, b"")
            self._key_fields = [
                (f["name"], f["type"], _field_writer(f["type"], f["name"]))
                for f in key_schema.get("fields", ())
            ]
        self._write_key = avronative.key_writer(
            key_schema.get("fields", ()) if key_schema is not None else (),
            _key_writer([w for _, _, w in self._key_fields]),
            f"{self._name} key",
        )
        self._columns = [
            (str(f["name"]), field_type_of(f["type"], f["name"]))
            for f in fields
            if f["name"] not in _BOOKKEEPING_TYPES
        ]

    def _compile_value(self, fields: list[Mapping[str, Any]]) -> Callable[..., None]:
        gen = _CodeGen()
        for f in fields:
            if f["name"] == DELETED_FIELD:
                gen.emit(1, "out += b'\\x01' if deleted else b'\\x00'")
            elif f["name"] == UNCHANGED_FIELD:
                gen.emit(1, "if unchanged:")
                gen.varint(2, "len(unchanged)")
                gen.emit(2, "for v1 in unchanged:")
                gen.sized(3, "v1.encode()")
                gen.emit(1, "out += b'\\x00'")
            else:
                gen.emit(1, f"v0 = get({f['name']!r})")
                gen.value(f["type"], "v0", 1, 0)
        return gen.compile("write_value", "out, get, deleted, unchanged", self._name)

    def encode_value(self, record: OutputRecord) -> bytes | None:
        """The wire-format value; for a delete the ``__deleted=true`` row, or None (tombstone)."""
        if record.deleted and not self.rewrites_deletes:
            return None
        value = record.value
        unchanged: list[str] | tuple[()] = ()
        if record.unchanged:
            if not self._lists_unchanged:
                raise EncodeError(
                    f"output {self._name!r} has no {UNCHANGED_FIELD!r} field, so "
                    f"unchanged columns {sorted(record.unchanged)} cannot be encoded;"
                    " add it to the output schema"
                )
            unchanged = sorted(record.unchanged)
            value = {**value, **dict.fromkeys(unchanged)}
        out = bytearray(self._value_header)
        try:
            self._write_value(out, value.get, record.deleted, unchanged)
        except _WRITE_ERRORS as exc:
            raise self._explain(self._checks, value.get, exc) from None
        return bytes(out)

    def encode_key(self, record: OutputRecord) -> bytes:
        """The wire-format key from ``record.key`` (values in key-schema field order), any op."""
        if not self._key_fields:
            raise EncodeError(f"output {self._name!r} has no key schema; configure key columns")
        key = record.key
        if len(key) != len(self._key_fields):
            raise EncodeError(
                f"output {self._name!r}: record key has {len(key)} values, the key "
                f"schema {len(self._key_fields)} fields"
            )
        out = bytearray(self._key_header)
        try:
            self._write_key(out, key)
        except _WRITE_ERRORS as exc:
            by_name = dict(zip((f[0] for f in self._key_fields), key, strict=True))
            raise self._explain(self._key_fields, by_name.get, exc) from None
        return bytes(out)

    def messages(self, record: OutputRecord) -> list[tuple[bytes | None, bytes | None]]:
        """The ``(key, value)`` messages to produce for ``record``, in order (see class doc)."""
        key = self.encode_key(record) if self._key_fields else None
        if not record.deleted:
            return [(key, self.encode_value(record))]
        out: list[tuple[bytes | None, bytes | None]] = []
        if self.rewrites_deletes:
            out.append((key, self.encode_value(record)))
        if key is not None:
            out.append((key, None))
        return out

    def decode_value(self, data: bytes) -> dict[str, Any]:
        """Inverse of ``encode_value``: columns as ``streamapp.types`` values, ``UNCHANGED``
        restored, plus ``__deleted`` and ``__unchanged`` when the schema has them."""
        schema_id, body = unframe(data)
        if schema_id != self.value_schema_id:
            raise DecodeError(
                f"message has schema id {schema_id}, output {self._name!r} is "
                f"written with id {self.value_schema_id}"
            )
        decoded: Any = fastavro.schemaless_reader(io.BytesIO(body), self._parsed)
        row: dict[str, Any] = decoded
        for name, ft in self._columns:
            row[name] = _restore(ft, row.get(name))
        for name in row.get(UNCHANGED_FIELD, ()):
            row[name] = UNCHANGED
        return row

    def _explain(
        self,
        fields: list[tuple[str, Any, Callable[[bytearray, Any], None]]],
        get: Callable[[str], Any],
        exc: Exception,
    ) -> EncodeError:
        for name, t, write in fields:
            v = get(name)
            try:
                write(bytearray(), v)
            except _WRITE_ERRORS as err:
                return EncodeError(_reason(name, t, v, err), field=name)
        return EncodeError(
            f"output {self._name!r}: encoding failed with {type(exc).__name__}; "
            "this is a bug in streamapp's Avro writer, please report it"
        )


def _key_writer(
    writers: list[Callable[[bytearray, Any], None]],
) -> Callable[[bytearray, Any], None]:
    """The pure key writer: each key value (in key-schema field order) by its field's writer."""

    def write_key(out: bytearray, key: Any) -> None:
        for write, v in zip(writers, key, strict=True):
            write(out, v)

    return write_key


def _reason(name: str, t: Any, v: Any, err: Exception) -> str:
    inner, nullable = split_nullable(t)
    try:
        kind = field_type_of(inner).kind
        declared, expected = str(field_type_of(inner)), _EXPECTED[kind]
    except (ConfigError, KeyError, TypeError, ValueError):
        declared = expected = describe_avro(inner)
    if v is UNCHANGED:
        return (
            f"field {name!r} holds UNCHANGED but is not in the record's unchanged set; "
            "the transform must keep both in step"
        )
    if v is None and not nullable:
        return (
            f"field {name!r} is null but the output schema declares it non-null {declared}; "
            "make the column nullable, or make sure the transform always sets it"
        )
    got = f"a value of Python type {type(v).__name__}"
    if isinstance(err, _Unfit):
        if isinstance(v, list | dict):
            got = f"a value inside the {type(v).__name__}"
        return f"field {name!r}: {got} {err.reason} for output type {declared}"
    return (
        f"field {name!r}: {got} does not fit output type {declared}, which takes {expected} "
        "(nested values included); fix the topology's transform or the output schema"
    )


def _restore(ft: FieldType, v: Any) -> Any:
    """fastavro's reading of a value of ``ft`` -> the ``streamapp.types`` value."""
    if v is None or ft.kind in _READ_AS_IS:
        return v
    if ft.kind is Kind.JSON:
        return json.loads(v)
    if ft.kind is Kind.DURATION:
        return timedelta(microseconds=v)
    if ft.kind is Kind.RECORD:
        return {n: _restore(t, v.get(n)) for n, t in ft.fields}
    assert ft.items is not None
    if ft.kind is Kind.ARRAY:
        return [_restore(ft.items, x) for x in v]
    return {k: _restore(ft.items, x) for k, x in v.items()}
