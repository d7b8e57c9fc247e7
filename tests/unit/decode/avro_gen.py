"""Hypothesis strategies for random Avro schemas and values, and an Avro encoder for them.

``rows(semantic=...)`` draws a record schema covering every Avro type (null, boolean, int,
long, float, double, bytes, string, fixed, enum, record, array, map, optional and general
unions), optionally with Debezium/Connect semantic types, together with a strategy for its
values. Values are *tagged*: a union value is a ``Branch(which, value)``. ``encode`` writes a
tagged value in the Avro binary encoding and, driven by a ``random.Random``, splits arrays and
maps into several blocks, some written with a negative count and their byte size, as the Avro
specification allows (fastavro's writer only ever emits one positive-count block).
"""

from __future__ import annotations

import json
import random
import struct
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, NamedTuple

from hypothesis import strategies as st

from streamapp.decode.semantic import PLACEHOLDER

Schema = Any
Node = tuple[Schema, st.SearchStrategy[Any]]

MAX_DEPTH = 3
PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
ENUM_SYMBOLS = ("A", "B", "C", "D")


class Branch(NamedTuple):
    """A value of a general (non-optional) union: which branch, and the branch's value."""

    which: int
    value: Any


_text = st.text(max_size=8) | st.just(PLACEHOLDER)
_int32 = st.integers(-(2**31), 2**31 - 1)
_int64 = st.integers(-(2**63), 2**63 - 1)
_PRIMITIVE_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "boolean": st.booleans(),
    "int": _int32 | st.sampled_from([0, -1, 63, -64, 64, 8191, 8192]),
    "long": _int64 | st.sampled_from([0, -1, 2**63 - 1, -(2**63)]),
    "float": st.floats(width=32, allow_nan=False),
    "double": st.floats(allow_nan=False),
    "bytes": st.binary(max_size=8) | st.binary(min_size=64, max_size=200),
    "string": _text | st.text(min_size=64, max_size=100),
}


def _zoned(dt: datetime) -> str:
    return dt.isoformat().replace("+00:00", "Z")


def _decimal_bytes(n: int) -> bytes:
    return n.to_bytes((n.bit_length() + 8) // 8, "big", signed=True)


_D = "io.debezium."
# (Avro schema, value strategy) of semantic types whose values always convert.
SEMANTIC: tuple[Node, ...] = (
    (
        {"type": "int", "connect.name": _D + "time.Date"},
        st.integers(-700_000, 2_900_000),
    ),
    (
        {"type": "long", "connect.name": _D + "time.MicroTimestamp"},
        st.integers(-(10**16), 10**17),
    ),
    (
        {"type": "string", "connect.name": _D + "time.ZonedTimestamp"},
        st.datetimes(timezones=st.just(UTC)).map(_zoned),
    ),
    (
        {"type": "string", "connect.name": _D + "data.Uuid"},
        st.uuids().map(str) | st.just(str(uuid.UUID(int=0))),
    ),
    (
        {"type": "string", "connect.name": _D + "data.Json"},
        st.recursive(
            st.none() | st.integers() | st.text(max_size=4),
            lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c),
            max_leaves=5,
        ).map(json.dumps),
    ),
    (
        {
            "type": "bytes",
            "connect.name": "org.apache.kafka.connect.data.Decimal",
            "connect.parameters": {"scale": "3"},
        },
        st.integers(-(10**40), 10**40).map(_decimal_bytes) | st.just(PLACEHOLDER.encode()),
    ),
    (
        {"type": "long", "connect.name": _D + "time.MicroDuration"},
        st.integers(-(10**15), 10**15),
    ),
)


class _Names:
    """Unique names for the named types of one schema."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> str:
        self.count += 1
        return f"T{self.count}"


def _node(draw: Callable[..., Any], names: _Names, depth: int, semantic: bool) -> Node:
    choices = ["primitive", "fixed", "enum", "optional"]
    if semantic:
        choices.append("semantic")
    if depth < MAX_DEPTH:
        choices += ["record", "array", "map", "union"]
    kind = draw(st.sampled_from(choices))
    if kind == "primitive":
        name = draw(st.sampled_from(PRIMITIVES))
        return name, _PRIMITIVE_VALUES[name]
    if kind == "semantic":
        node: Node = draw(st.sampled_from(SEMANTIC))
        return node
    if kind == "fixed":
        size = draw(st.integers(0, 9))
        schema = {"type": "fixed", "name": names(), "size": size}
        return schema, st.binary(min_size=size, max_size=size)
    if kind == "enum":
        symbols = list(ENUM_SYMBOLS[: draw(st.integers(1, 4))])
        return {"type": "enum", "name": names(), "symbols": symbols}, st.sampled_from(symbols)
    if kind == "record":
        return record(draw, names, depth + 1, semantic)
    if kind in ("array", "map"):
        items, values = _node(draw, names, depth + 1, semantic)
        if kind == "array":
            return {"type": "array", "items": items}, st.lists(values, max_size=5)
        return {"type": "map", "values": items}, st.dictionaries(_text, values, max_size=4)
    if kind == "optional":
        inner, values = _node(draw, names, depth + 1, semantic)
        if isinstance(inner, list) or inner == "null":  # no nested unions
            return inner, values
        if draw(st.booleans()):
            return ["null", inner], st.none().map(lambda v: Branch(0, v)) | values.map(
                lambda v: Branch(1, v)
            )
        return [inner, "null"], values.map(lambda v: Branch(0, v)) | st.none().map(
            lambda v: Branch(1, v)
        )
    return _union(draw, names, depth, semantic)


def _union(draw: Callable[..., Any], names: _Names, depth: int, semantic: bool) -> Node:
    """A general union: distinct primitive kinds, at most one array and map, named types."""
    pool = [*PRIMITIVES, "array", "map", "record", "enum", "fixed"]
    picked = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True))
    branches: list[Node] = []
    for kind in picked:
        if kind in PRIMITIVES:
            branches.append((kind, _PRIMITIVE_VALUES[kind]))
        elif kind == "record":
            branches.append(record(draw, names, depth + 1, semantic))
        elif kind == "enum":
            branches.append(
                ({"type": "enum", "name": names(), "symbols": ["X", "Y"]}, st.just("Y"))
            )
        elif kind == "fixed":
            branches.append(
                ({"type": "fixed", "name": names(), "size": 2}, st.binary(min_size=2, max_size=2))
            )
        else:
            items, values = _node(draw, names, depth + 1, semantic)
            if isinstance(items, list):  # an array/map of unions is fine; keep it simple
                items, values = "long", _PRIMITIVE_VALUES["long"]
            if kind == "array":
                branches.append(({"type": "array", "items": items}, st.lists(values, max_size=3)))
            else:
                branches.append(
                    ({"type": "map", "values": items}, st.dictionaries(_text, values, max_size=3))
                )
    schema = [b[0] for b in branches]
    values = st.one_of(*(v.map(partial(Branch, i)) for i, (_, v) in enumerate(branches)))
    return schema, values


def record(draw: Callable[..., Any], names: _Names, depth: int, semantic: bool) -> Node:
    """A record of 0-4 random fields (nested records at most ``MAX_DEPTH`` deep)."""
    count = draw(st.integers(0, 4))
    fields = [(f"f{i}", _node(draw, names, depth, semantic)) for i in range(count)]
    schema = {
        "type": "record",
        "name": names(),
        "fields": [{"name": n, "type": s} for n, (s, _) in fields],
    }
    values = st.fixed_dictionaries({n: v for n, (_, v) in fields})
    return schema, values


@st.composite
def rows(draw: Callable[..., Any], *, semantic: bool) -> Node:
    """A record schema with 1-6 top-level fields and the strategy for its tagged values."""
    names = _Names()
    count = draw(st.integers(1, 6))
    fields = [(f"c{i}", _node(draw, names, 1, semantic)) for i in range(count)]
    schema = {
        "type": "record",
        "name": "Row",
        "namespace": "db.public.t",
        "fields": [{"name": n, "type": s} for n, (s, _) in fields],
    }
    return schema, st.fixed_dictionaries({n: v for n, (_, v) in fields})


def _long(n: int) -> bytes:
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _blob(data: bytes) -> bytes:
    return _long(len(data)) + data


def _names(schema: Schema, namespace: str, out: dict[str, Any]) -> dict[str, Any]:
    """Every named type defined in ``schema``, by full name."""
    if isinstance(schema, list):
        for branch in schema:
            _names(branch, namespace, out)
    elif isinstance(schema, dict):
        if "name" in schema:
            namespace = schema.get("namespace", namespace)
            out[f"{namespace}.{schema['name']}" if namespace else schema["name"]] = schema
        for f in schema.get("fields", ()):
            _names(f["type"], namespace, out)
        for key in ("items", "values"):
            if key in schema:
                _names(schema[key], namespace, out)
    return out


def encode(schema: Schema, value: Any, rnd: random.Random) -> bytes:
    """The Avro binary encoding of the tagged ``value``; arrays/maps in random block layouts."""
    return _encode(schema, value, rnd, _names(schema, "", {}))


def _encode(schema: Schema, value: Any, rnd: random.Random, names: dict[str, Any]) -> bytes:
    if isinstance(schema, str) and schema in names:
        schema = names[schema]
    if isinstance(schema, list):
        assert isinstance(value, Branch)
        return _long(value.which) + _encode(schema[value.which], value.value, rnd, names)
    kind = schema if isinstance(schema, str) else schema["type"]
    simple: dict[str, Callable[[Any], bytes]] = {
        "null": lambda v: b"",
        "boolean": lambda v: b"\x01" if v else b"\x00",
        "int": _long,
        "long": _long,
        "float": lambda v: struct.pack("<f", v),
        "double": lambda v: struct.pack("<d", v),
        "bytes": _blob,
        "string": lambda v: _blob(v.encode()),
        "fixed": lambda v: bytes(v),
    }
    if kind in simple:
        return simple[kind](value)
    if kind == "enum":
        return _long(schema["symbols"].index(value))
    if kind == "record":
        return b"".join(_encode(f["type"], value[f["name"]], rnd, names) for f in schema["fields"])
    if kind == "array":
        items = [_encode(schema["items"], v, rnd, names) for v in value]
    elif kind == "map":
        items = [
            _blob(k.encode()) + _encode(schema["values"], v, rnd, names) for k, v in value.items()
        ]
    else:
        raise AssertionError(f"unknown Avro type {kind!r}")
    return _blocks(items, rnd)


def _blocks(items: list[bytes], rnd: random.Random) -> bytes:
    out = bytearray()
    i = 0
    while i < len(items):
        n = rnd.randint(1, len(items) - i)
        chunk = b"".join(items[i : i + n])
        if rnd.random() < 0.5:
            out += _long(-n) + _long(len(chunk))
        else:
            out += _long(n)
        out += chunk
        i += n
    return bytes(out + _long(0))
