"""One neutral model of a writer schema, built from an Avro or a Kafka Connect JSON schema."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, UnknownType

from streamapp.errors import DecodeError

_AVRO_PRIMITIVES = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)
# Kafka Connect's JsonConverter type names (org.apache.kafka.connect.json.JsonSchema): FLOAT32
# and FLOAT64 are written "float" and "double". Value: (physical kind, integer width in bits).
_CONNECT_KINDS = {
    "int8": ("int", 8),
    "int16": ("int", 16),
    "int32": ("int", 32),
    "int64": ("long", 64),
    "float": ("float", 0),
    "double": ("double", 0),
    "boolean": ("boolean", 0),
    "string": ("string", 0),
    "bytes": ("bytes", 0),
}
CONNECT_TYPE_NAMES = (*_CONNECT_KINDS, "array", "map", "struct")
MAX_DEPTH = 24


@dataclass(frozen=True, slots=True)
class SType:
    """A node of a writer schema: the physical ``kind`` plus Connect's ``semantic`` name.

    ``kind`` is one of null, boolean, int, long, float, double, bytes, string, fixed, enum,
    struct, array, map, union. ``width`` is set for Connect JSON integers (8, 16, 32, 64), whose
    values are range-checked; Avro ints are 32 and longs 64 bits by their encoding.
    ``semantic`` is the Connect/Debezium schema name (``connect.name``), or
    ``avro:<logicalType>`` for a plain Avro logical type. ``optional`` with ``null_index``
    describes an Avro ``["null", T]`` union (or a Connect optional field).
    Guarantees: finite (recursive schemas are rejected), immutable, hashable.
    """

    kind: str
    semantic: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    fields: tuple[tuple[str, SType], ...] = ()
    items: SType | None = None  # array items, map values
    branches: tuple[SType, ...] = ()  # general unions
    symbols: tuple[str, ...] = ()  # enum
    size: int = 0  # fixed
    optional: bool = False
    null_index: int = 0
    name: str | None = field(default=None, compare=False)
    # Connect int8/int16/int32/int64: the integer's width in bits (0: unknown); not compared, so
    # a Connect and an Avro schema of the same shape stay equal
    width: int = field(default=0, compare=False)

    def param(self, key: str) -> str | None:
        """The schema parameter ``key`` (Connect ``parameters``/``connect.parameters``)."""
        for k, v in self.params:
            if k == key:
                return v
        return None

    def field_names(self) -> frozenset[str]:
        """Names of a struct's fields."""
        return frozenset(name for name, _ in self.fields)

    def child(self, name: str) -> SType | None:
        """The type of struct field ``name``, or None."""
        for fname, ftype in self.fields:
            if fname == name:
                return ftype
        return None


def from_avro(schema: Any) -> SType:
    """Build the SType of an Avro writer schema (fastavro-parsed, or a plain schema dict/JSON).

    Raises DecodeError for schemas the decoder cannot read: recursive named types, nesting
    deeper than MAX_DEPTH, or anything that is not valid Avro.
    """
    if isinstance(schema, dict) and "__fastavro_parsed" not in schema:
        try:
            schema = fastavro.parse_schema(schema)
        except (SchemaParseException, UnknownType, ValueError, TypeError, KeyError) as exc:
            raise DecodeError(f"writer schema is not valid Avro ({type(exc).__name__})") from None
    return _Avro().convert(schema, "", 0)


class _Avro:
    def __init__(self) -> None:
        self.named: dict[str, SType | None] = {}  # None while being built (recursion guard)

    def convert(self, schema: Any, namespace: str, depth: int) -> SType:
        if depth > MAX_DEPTH:
            raise DecodeError(f"writer schema nests deeper than {MAX_DEPTH} levels")
        if isinstance(schema, str):
            if schema in _AVRO_PRIMITIVES:
                return SType(schema)
            return self._reference(schema, namespace)
        if isinstance(schema, list):
            return self._union(schema, namespace, depth)
        if not isinstance(schema, dict) or "type" not in schema:
            raise DecodeError("writer schema has a node that is not an Avro type")
        kind = schema["type"]
        if isinstance(kind, (dict, list)):
            return self.convert(kind, namespace, depth + 1)
        if kind in ("record", "error"):
            return self._record(schema, namespace, depth)
        if kind == "enum":
            st = SType(
                "enum", symbols=tuple(schema["symbols"]), name=self._fullname(schema, namespace)
            )
            return self._register(st)
        if kind == "fixed":
            st = SType(
                "fixed",
                semantic=_semantic(schema),
                params=_params(schema),
                size=int(schema["size"]),
                name=self._fullname(schema, namespace),
            )
            return self._register(st)
        if kind == "array":
            return SType("array", items=self.convert(schema["items"], namespace, depth + 1))
        if kind == "map":
            return SType("map", items=self.convert(schema["values"], namespace, depth + 1))
        if kind in _AVRO_PRIMITIVES:
            return SType(kind, semantic=_semantic(schema), params=_params(schema))
        return self._reference(str(kind), namespace)

    def _fullname(self, schema: Mapping[str, Any], namespace: str) -> str:
        name = str(schema["name"])
        if "." in name:
            return name
        ns = schema.get("namespace", namespace)
        return f"{ns}.{name}" if ns else name

    def _register(self, st: SType) -> SType:
        if st.name:
            self.named[st.name] = st
        return st

    def _reference(self, name: str, namespace: str) -> SType:
        for candidate in (name, f"{namespace}.{name}" if namespace else name):
            if candidate in self.named:
                found = self.named[candidate]
                if found is None:
                    raise DecodeError(f"writer schema type {name!r} is recursive; not supported")
                return found
        raise DecodeError(f"writer schema references unknown type {name!r}")

    def _union(self, schema: list[Any], namespace: str, depth: int) -> SType:
        branches = [self.convert(b, namespace, depth + 1) for b in schema]
        nulls = [i for i, b in enumerate(branches) if b.kind == "null"]
        if len(branches) == 2 and len(nulls) == 1:
            other = branches[1 - nulls[0]]
            return replace(other, optional=True, null_index=nulls[0])
        return SType("union", branches=tuple(branches))

    def _record(self, schema: Mapping[str, Any], namespace: str, depth: int) -> SType:
        full = self._fullname(schema, namespace)
        self.named[full] = None
        ns = full.rpartition(".")[0]
        fields = tuple(
            (str(f["name"]), self.convert(f["type"], ns, depth + 1)) for f in schema["fields"]
        )
        st = SType(
            "struct", semantic=_semantic(schema), params=_params(schema), fields=fields, name=full
        )
        self.named[full] = st
        return st


def _semantic(schema: Mapping[str, Any]) -> str | None:
    name = schema.get("connect.name")
    if isinstance(name, str):
        return name
    logical = schema.get("logicalType")
    return f"avro:{logical}" if isinstance(logical, str) else None


def _params(schema: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    params: dict[str, str] = {}
    raw = schema.get("connect.parameters")
    if isinstance(raw, Mapping):
        params.update((str(k), str(v)) for k, v in raw.items())
    if "scale" in schema and "scale" not in params:
        params["scale"] = str(schema["scale"])
    return tuple(params.items())


def from_connect(schema: Any, depth: int = 0) -> SType:
    """Build the SType of a Kafka Connect JSON schema (JsonConverter ``schemas.enable=true``).

    Type names are JsonConverter's (``CONNECT_TYPE_NAMES``); a map must have string keys.

    Raises DecodeError when ``schema`` is not a Connect schema object.
    """
    if depth > MAX_DEPTH:
        raise DecodeError(f"message schema nests deeper than {MAX_DEPTH} levels")
    if not isinstance(schema, dict) or not isinstance(schema.get("type"), str):
        raise DecodeError("message 'schema' is not a Kafka Connect schema (no 'type')")
    ctype = schema["type"]
    name = schema.get("name") if isinstance(schema.get("name"), str) else None
    raw_params = schema.get("parameters")
    params = (
        tuple((str(k), str(v)) for k, v in raw_params.items())
        if isinstance(raw_params, dict)
        else ()
    )
    optional = bool(schema.get("optional", False))
    if ctype in _CONNECT_KINDS:
        kind, width = _CONNECT_KINDS[ctype]
        return SType(kind, semantic=name, params=params, optional=optional, width=width)
    if ctype == "struct":
        fields = schema.get("fields")
        if not isinstance(fields, list):
            raise DecodeError("message schema has a struct without 'fields'")
        converted = tuple(
            (str(f.get("field")), from_connect(f, depth + 1)) for f in fields if isinstance(f, dict)
        )
        return SType("struct", semantic=name, params=params, fields=converted, optional=optional)
    if ctype == "array":
        items = from_connect(schema.get("items"), depth + 1)
        return SType("array", semantic=name, params=params, items=items, optional=optional)
    if ctype == "map":
        keys = schema.get("keys")
        if isinstance(keys, dict) and keys.get("type") != "string":
            raise DecodeError(
                f"message schema has a map with {keys.get('type')!r} keys (JsonConverter writes "
                "those as arrays of pairs); streamapp reads maps with string keys only"
            )
        values = from_connect(schema.get("values"), depth + 1)
        return SType("map", semantic=name, params=params, items=values, optional=optional)
    raise DecodeError(
        f"message schema has unknown Connect type {ctype!r} (JsonConverter writes one of "
        f"{', '.join(CONNECT_TYPE_NAMES)}); is the value.converter Kafka Connect's JsonConverter?"
    )
