"""Golden corpus: every case decodes to its expected ChangeEvent, as JSON and (where given) Avro.

Layout (tests/golden/decode/):
  cases/<name>.json     topic, partition, offset, key and value as Kafka Connect JSON messages
                        ({"schema": <file in schemas/ or inline>, "payload": ...}, or a
                        schemaless value), optional "hints" (column -> type spec), "decoder"
                        options, and "avro": the .avsc writer schemas for the key and value
  expected/<name>.json  the ChangeEvent, values tagged by type: {"$decimal": "1.50"},
                        {"$datetime": ISO}, {"$date": ISO}, {"$time": ISO}, {"$uuid": ...},
                        {"$bytes": base64}, {"$float": 1.5}, {"$timedelta_us": n},
                        {"$unchanged": true}
  schemas/              Connect JSON schemas (*.connect.json) and AvroConverter-shaped .avsc
For an Avro case the same payloads are encoded with fastavro against the .avsc (bytes fields
from base64, decimals as Decimal), framed in the wire format and decoded through an in-memory
resolver: JSON and Avro must give the same event.
"""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest

from streamapp.decode import Decoder
from streamapp.records import UNCHANGED, ChangeEvent
from streamapp.types import parse_type
from streamapp.wire import frame

ROOT = Path(__file__).parent
CASES = sorted(p.stem for p in (ROOT / "cases").glob("*.json"))
KEY_ID, VALUE_ID = 1, 2


def _load(path: str | Path) -> Any:
    return json.loads((ROOT / path).read_text())


def _schema(ref: Any) -> Any:
    return _load(Path("schemas") / ref) if isinstance(ref, str) else ref


def _json_bytes(message: Any) -> bytes | None:
    if message is None:
        return None
    if isinstance(message, dict) and message.keys() == {"schema", "payload"}:
        message = {"schema": _schema(message["schema"]), "payload": message["payload"]}
    return json.dumps(message, separators=(",", ":")).encode()


class _Resolver:
    def __init__(self, schemas: dict[int, Any]) -> None:
        self.schemas = schemas

    def parsed_schema(self, schema_id: int) -> Any:
        return self.schemas[schema_id]


def _datum(schema: Any, value: Any, names: dict[str, Any]) -> Any:
    """A Connect JSON payload value -> the Python datum fastavro writes for ``schema``."""
    if value is None:
        return None
    if isinstance(schema, str):
        if schema in names:
            return _datum(names[schema], value, names)
        return base64.b64decode(value) if schema == "bytes" else value
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        return _datum(branches[0], value, names) if len(branches) == 1 else value
    kind = schema["type"]
    if kind == "record":
        return {f["name"]: _datum(f["type"], value.get(f["name"]), names) for f in schema["fields"]}
    if kind == "array":
        return [_datum(schema["items"], v, names) for v in value]
    if kind == "map":
        return {k: _datum(schema["values"], v, names) for k, v in value.items()}
    if kind == "bytes" and schema.get("logicalType") == "decimal":
        unscaled = int.from_bytes(base64.b64decode(value), "big", signed=True)
        return Decimal(unscaled).scaleb(-schema["scale"])
    if kind == "bytes":
        return base64.b64decode(value)
    return value


def _avro_bytes(message: Any, avsc: str, schema_id: int) -> bytes | None:
    if message is None:
        return None
    parsed: Any = fastavro.parse_schema(_load(Path("schemas") / avsc))
    out = io.BytesIO()
    datum = _datum(parsed, message["payload"], parsed["__named_schemas"])
    fastavro.schemaless_writer(out, parsed, datum)
    return frame(schema_id, out.getvalue())


def _untag(value: Any) -> Any:
    if isinstance(value, list):
        return [_untag(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, raw),) = value.items()
        simple: dict[str, Callable[[Any], Any]] = {
            "$decimal": Decimal,
            "$datetime": datetime.fromisoformat,
            "$date": date.fromisoformat,
            "$time": time.fromisoformat,
            "$uuid": uuid.UUID,
            "$bytes": base64.b64decode,
            "$float": float,
            "$timedelta_us": lambda us: timedelta(microseconds=us),
            "$unchanged": lambda _: UNCHANGED,
        }
        if tag in simple:
            return simple[tag](raw)
    return {k: _untag(v) for k, v in value.items()}


def _render(value: Any) -> Any:
    """A readable, JSON-able rendering of decoded values (used in failure messages)."""
    if value is UNCHANGED:
        return {"$unchanged": True}
    if isinstance(value, dict):
        return {k: _render(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_render(v) for v in value]
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


def _same(actual: Any, expected: Any) -> bool:
    """Equality that also requires the same types, Decimal exponents and time zones."""
    if type(actual) is not type(expected) and not (actual is UNCHANGED and expected is UNCHANGED):
        return False
    if isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            _same(actual[k], expected[k]) for k in expected
        )
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(map(_same, actual, expected))
    if isinstance(expected, Decimal):
        return bool(actual.as_tuple() == expected.as_tuple())
    if isinstance(expected, (datetime, time)):
        return bool(actual == expected and actual.utcoffset() == expected.utcoffset())
    return bool(actual == expected)


def _event_dict(ev: ChangeEvent) -> dict[str, Any]:
    return {
        "kind": ev.kind.value,
        "op": ev.op.value if ev.op else None,
        "key": None if ev.key is None else dict(ev.key),
        "before": ev.before,
        "after": ev.after,
        "source": None
        if ev.source is None
        else {**ev.source._asdict(), "raw": dict(ev.source.raw)},
        "ts_ms": ev.ts_ms,
        "transaction": None if ev.transaction is None else dict(ev.transaction),
        "version": ev.version,
    }


def _decoder(case: dict[str, Any], needs_before: bool, resolver: Any = None) -> Decoder:
    hints = {name: parse_type(spec) for name, spec in case.get("hints", {}).items()}
    options = case.get("decoder", {})
    return Decoder(resolver=resolver, hints=hints, needs_before=needs_before, **options)


def _check(ev: ChangeEvent, name: str, needs_before: bool) -> None:
    """Compare with expected/<name>.json; without the before-image only deletes keep one."""
    expected = _load(Path("expected") / f"{name}.json")
    if not needs_before and expected["op"] != "d":
        expected["before"] = None
    actual = _event_dict(ev)
    assert _same(actual, _untag(expected)), (
        f"{name}: decoded event differs from expected/{name}.json\n"
        + json.dumps(_render(actual), indent=2, sort_keys=True)
    )


@pytest.mark.parametrize("needs_before", [True, False], ids=["eager", "lazy"])
@pytest.mark.parametrize("name", CASES)
def test_golden_json(name: str, needs_before: bool) -> None:
    case = _load(Path("cases") / f"{name}.json")
    ev = _decoder(case, needs_before).decode(
        _json_bytes(case["key"]),
        _json_bytes(case["value"]),
        topic=case["topic"],
        partition=case["partition"],
        offset=case["offset"],
    )
    _check(ev, name, needs_before)


AVRO_CASES = [n for n in CASES if "avro" in _load(Path("cases") / f"{n}.json")]


@pytest.mark.parametrize("needs_before", [True, False], ids=["eager", "lazy"])
@pytest.mark.parametrize("name", AVRO_CASES)
def test_golden_avro(name: str, needs_before: bool) -> None:
    case = _load(Path("cases") / f"{name}.json")
    files = case["avro"]
    resolver = _Resolver(
        {
            KEY_ID: fastavro.parse_schema(_load(Path("schemas") / files["key_schema"])),
            VALUE_ID: fastavro.parse_schema(_load(Path("schemas") / files["value_schema"])),
        }
    )
    ev = _decoder(case, needs_before, resolver).decode(
        _avro_bytes(case["key"], files["key_schema"], KEY_ID),
        _avro_bytes(case["value"], files["value_schema"], VALUE_ID),
        topic=case["topic"],
        partition=case["partition"],
        offset=case["offset"],
    )
    _check(ev, name, needs_before)


def test_corpus_covers_the_brief() -> None:
    """The corpus keeps every required scenario; deleting a case fails here, not silently."""
    required = {
        "pg_insert",
        "pg_update",
        "pg_delete",
        "pg_tombstone",
        "pg_snapshot_read",
        "pg_truncate",
        "pg_toast_update",
        "pg_transaction",
        "pg_heartbeat",
        "mysql_insert",
        "mysql_update",
        "mysql_delete",
        "mysql_schema_change",
        "mongo_insert",
        "mongo_update",
        "mongo_delete",
    }
    assert required <= set(CASES)
    assert {n for n in required if n.startswith(("pg_", "mysql_"))} <= set(AVRO_CASES)
    assert all((ROOT / "expected" / f"{n}.json").exists() for n in CASES)
