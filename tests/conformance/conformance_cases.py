"""Public conformance fixtures: load the cases, build their decoder, compare decoded events.

Layout (tests/conformance/fixtures/): ``<project>/<name>.jsonl``, one case per line (lines
starting with ``#`` are comments); ``pending/<project>/<name>.jsonl`` holds cases that fail
until a known decoder fault is fixed (see SOURCES.md). A case is a JSON object:

  id             unique within its file
  origin         where the event was published: repo, path, commit and line(s) or test name,
                 or the documentation page
  connector      postgresql | mysql | mongodb | sqlserver | oracle | db2 | connect
  topic          the Kafka topic the event is decoded as coming from
  key, value     the Kafka message key and value as published: a JSON value is sent as its
                 compact JSON text, ``{"$text": "..."}`` as that exact text, null as no bytes;
                 in an Avro case ``{"$avro": "<datum in Avro's JSON encoding>"}``, written in
                 the Confluent wire format with the schema in ``avro``
  avro           Avro cases only: ``key_schema`` and ``value_schema``, the writer schemas
  repairs        optional: what had to be changed to make a documentation example valid JSON
  decoder        optional: ``hints`` (column -> type spec, or ``{"type": spec, "precision":
                 n}`` for a time precision; a record spec is wrapped as ``{"type": {...}}``)
                 and ``handling``: the connector's handling modes by their Debezium property
                 names (``decimal.handling.mode``, ``time.precision.mode``, ...)
  expect         the decoded event as that project states it: any of kind, op, key, before,
                 after, ts_ms, transaction, and source (a subset of SourceInfo's fields);
                 or ``{"error": "<text the DecodeError must contain>"}``
  expected_from  where the project states the expected values and how they were converted
  pending        only in pending/: {"cause": ..., "error": ...} observed with the decoder

Values in ``expect`` are tagged by type: {"$decimal": "1.50"}, {"$datetime": ISO} (aware when
the text has an offset), {"$date": ISO}, {"$time": ISO}, {"$uuid": ...}, {"$bytes": base64},
{"$float": x}, {"$float32": x} (a float that rounds to x in 32 bits), {"$timedelta_us": n},
{"$unchanged": true}. Everything else compares as JSON, with types: 1 is not 1.0 or True.
"""

from __future__ import annotations

import base64
import inspect
import io
import json
import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro

from streamapp.decode import Decoder
from streamapp.records import UNCHANGED, ChangeEvent
from streamapp.types import FieldType, parse_type
from streamapp.wire import frame

FIXTURES = Path(__file__).parent / "fixtures"
PENDING = FIXTURES / "pending"
REQUIRED = ("id", "origin", "connector", "topic", "key", "value", "expect", "expected_from")
EVENT_FIELDS = ("kind", "op", "key", "before", "after", "ts_ms", "transaction", "source")


@dataclass(frozen=True, slots=True)
class Case:
    """One fixture event: ``project`` and ``file`` say where it is stored."""

    project: str
    file: str
    line: int
    data: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.project}/{self.file}/{self.data['id']}"


def load(root: Path) -> list[Case]:
    """Every case under ``root``/<project>/*.jsonl (``pending`` is not a project)."""
    cases = []
    for path in sorted(root.glob("*/*.jsonl")):
        if path.parent.name == "pending" and root == FIXTURES:
            continue
        cases.extend(_read(path))
    return cases


def _read(path: Path) -> Iterator[Case]:
    for number, text in enumerate(path.read_text().splitlines(), 1):
        if text.strip() and not text.lstrip().startswith("#"):
            yield Case(path.parent.name, path.stem, number, json.loads(text))


def message(part: Any) -> bytes | None:
    """The Kafka key or value bytes a case's ``key``/``value`` stands for."""
    if part is None:
        return None
    if isinstance(part, dict) and part.keys() == {"$text"}:
        return str(part["$text"]).encode()
    return json.dumps(part, separators=(",", ":"), ensure_ascii=False).encode()


def _hint(spec: Any) -> FieldType:
    """A hint spec: a type spec, or ``{"type": spec, "precision": n}`` (time precision)."""
    if isinstance(spec, dict) and "type" in spec and set(spec) <= {"type", "precision"}:
        base = parse_type(spec["type"])
        return replace(base, precision=spec["precision"]) if "precision" in spec else base
    return parse_type(spec)


def decoder_for(case: Case, resolver: Any = None) -> Decoder:
    """The Decoder configured as the case says: hints, and the connector's handling modes."""
    options = dict(case.data.get("decoder", {}))
    hints = {name: _hint(spec) for name, spec in options.pop("hints", {}).items()}
    handling: dict[str, str] = options.pop("handling", {})
    assert not options, f"{case.name}: unknown decoder options {sorted(options)}"
    if "handling" in inspect.signature(Decoder).parameters:
        return Decoder(resolver=resolver, hints=hints, **{"handling": handling})
    # Decoders before handling modes were settable take two of them, under other names.
    old: dict[str, str] = {}
    if "decimal.handling.mode" in handling:
        old["decimal_handling"] = handling["decimal.handling.mode"]
    if "time.precision.mode" in handling:
        mode = handling["time.precision.mode"]
        old["time_precision"] = _OLD_TIME_MODES.get(mode, mode)
    return Decoder(resolver=resolver, hints=hints, **old)  # type: ignore[arg-type]


_OLD_TIME_MODES = {
    "adaptive_time_microseconds": "adaptive",
    "microseconds": "micro",
    "nanoseconds": "nano",
    "connect": "milli",
}


class _Resolver:
    """In-memory schema registry for Avro cases: key schema id 1, value schema id 2."""

    def __init__(self, schemas: dict[int, Any]) -> None:
        self._schemas = {i: fastavro.parse_schema(s) for i, s in schemas.items()}

    def parsed_schema(self, schema_id: int) -> Any:
        return self._schemas[schema_id]


_AVRO_IDS = {"key_schema": 1, "value_schema": 2}


def _avro(part: Any, schema: Any, schema_id: int) -> bytes | None:
    """An Avro-JSON-encoded datum as the Confluent wire-format message a converter writes."""
    if part is None:
        return None
    parsed = fastavro.parse_schema(schema)
    datum = next(iter(fastavro.json_reader(io.StringIO(part["$avro"]), parsed)))
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, datum)
    return frame(schema_id, out.getvalue())


def decode(case: Case) -> ChangeEvent:
    """Decode the case's key and value with a fresh Decoder (Avro: framed, in-memory registry)."""
    avro = case.data.get("avro")
    if avro is None:
        key, value = message(case.data["key"]), message(case.data["value"])
        return decoder_for(case).decode(key, value, topic=case.data["topic"])
    schemas = {_AVRO_IDS[name]: schema for name, schema in avro.items()}
    key = _avro(case.data["key"], avro["key_schema"], 1)
    value = _avro(case.data["value"], avro["value_schema"], 2)
    return decoder_for(case, _Resolver(schemas)).decode(key, value, topic=case.data["topic"])


def _float32(x: float) -> float:
    result: float = struct.unpack("<f", struct.pack("<f", x))[0]
    return result


class Float32:
    """Expected 32-bit float: equal to any float that rounds to the same 32-bit value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def matches(self, actual: Any) -> bool:
        return type(actual) is float and _float32(actual) == _float32(self.value)

    def __repr__(self) -> str:
        return f"Float32({self.value})"


_TAGS: dict[str, Callable[[Any], Any]] = {
    "$decimal": Decimal,
    "$datetime": datetime.fromisoformat,
    "$date": date.fromisoformat,
    "$time": time.fromisoformat,
    "$uuid": uuid.UUID,
    "$bytes": base64.b64decode,
    "$float": float,
    "$float32": Float32,
    "$timedelta_us": lambda us: timedelta(microseconds=us),
    "$unchanged": lambda _: UNCHANGED,
}


def untag(value: Any) -> Any:
    """Expected values with their type tags resolved (see the module docstring)."""
    if isinstance(value, list):
        return [untag(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, raw),) = value.items()
        if tag in _TAGS:
            return _TAGS[tag](raw)
    return {k: untag(v) for k, v in value.items()}


def render(value: Any) -> Any:
    """A readable JSON rendering of decoded values, tagged as in the fixtures."""
    if value is UNCHANGED:
        return {"$unchanged": True}
    if isinstance(value, dict):
        return {str(k): render(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [render(v) for v in value]
    tags: list[tuple[type, str, Callable[[Any], Any]]] = [
        (Decimal, "$decimal", str),
        (datetime, "$datetime", datetime.isoformat),
        (date, "$date", date.isoformat),
        (time, "$time", time.isoformat),
        (uuid.UUID, "$uuid", str),
        (bytes, "$bytes", lambda b: base64.b64encode(b).decode()),
        (float, "$float", float),
        (timedelta, "$timedelta_us", lambda d: d // timedelta(microseconds=1)),
    ]
    for cls, tag, fn in tags:
        if isinstance(value, cls):
            return {tag: fn(value)}
    return value


def same(actual: Any, expected: Any) -> bool:
    """Equality that also requires the same types, Decimal exponents and UTC offsets."""
    if isinstance(expected, Float32):
        return expected.matches(actual)
    if expected is UNCHANGED or actual is UNCHANGED:
        return actual is expected
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            same(actual[k], expected[k]) for k in expected
        )
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if isinstance(expected, Decimal):
        return bool(actual.as_tuple() == expected.as_tuple())
    if isinstance(expected, (datetime, time)):
        return bool(actual == expected and actual.utcoffset() == expected.utcoffset())
    return bool(actual == expected)


def view(event: ChangeEvent, expect: dict[str, Any]) -> dict[str, Any]:
    """The parts of ``event`` that ``expect`` names, as plain values."""
    out: dict[str, Any] = {}
    for name in EVENT_FIELDS:
        if name not in expect:
            continue
        if name == "kind":
            out[name] = event.kind.value
        elif name == "op":
            out[name] = event.op.value if event.op is not None else None
        elif name == "source":
            src = event.source._asdict() if event.source is not None else None
            out[name] = None if src is None else {k: src[k] for k in expect["source"] or {}}
        else:
            value = getattr(event, name)
            out[name] = dict(value) if name in ("key", "transaction") and value else value
    return out
