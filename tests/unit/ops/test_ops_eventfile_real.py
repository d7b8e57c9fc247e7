"""`topology test` over real Debezium JsonConverter output, and events without a log position."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamapp.ops.eventfile import offline_encoder, run_lines
from streamapp.ops.render import decoder_for
from streamapp.topology import Source, Topology
from streamapp.transform.compile import CompiledTopology, compile_topology

REAL = json.loads(
    (Path(__file__).parents[2] / "golden" / "decode" / "real" / "pg_fidelity.json").read_text()
)
COLUMNS = {
    "id": "int",
    "r": "float",
    "d": "float",
    "s": "int",
    "b": "bool",
    "n": "decimal(10,2)",
    "ts3": "timestamp(3)",
    "ts6": "timestamp",
    "tstz": "timestamptz",
    "t3": "time(3)",
    "t6": "time",
    "ttz": "time",
    "dt": "date",
    "iv": "duration",
}


def topology(tmp_path: Path, topic: str) -> CompiledTopology:
    top = Topology(name="fidelity", source=Source(topic, COLUMNS), key="id")
    return compile_topology(top, secrets={}, schemas_dir=tmp_path)


def run(top: CompiledTopology, lines: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    out: list[str] = []
    err: list[str] = []
    run_lines(
        top,
        decoder_for(top, strict_versions=False),
        lines,
        out=out.append,
        err=err.append,
        encoder=offline_encoder(top),
    )
    return [json.loads(x) for x in out], err


def test_real_json_with_schema_lines_run_through_the_topology(tmp_path: Path) -> None:
    for kind, topic in (
        ("with_schema", "h11capschema.h11cap.fidelity"),
        ("schemaless", "h11capplain.h11cap.fidelity"),
    ):
        top = topology(tmp_path, topic)
        lines = [json.dumps({"key": m["key"], "value": m["value"]}) for m in REAL[kind]]
        records, err = run(top, lines)
        assert err == [], (kind, err)
        assert [r["key"] for r in records] == [{"id": 1}, {"id": 2}, {"id": 3}]
        first = records[0]["value"]
        assert first["ts3"].startswith("2026-03-01T12:34:56.789"), (kind, first["ts3"])
        assert first["ttz"].startswith("10:34:56"), (kind, first["ttz"])
        assert first["d"] == 2.25 and first["r"] == 1.5


def test_an_event_without_lsn_is_decoded_with_a_note(tmp_path: Path) -> None:
    top = topology(tmp_path, "db.public.t")
    event = {
        "before": None,
        "after": {"id": 7},
        "op": "c",
        "ts_ms": 5,
        "source": {"connector": "postgresql", "db": "d", "ts_ms": 5},
    }
    records, err = run(top, [json.dumps(event)])
    assert [r["key"] for r in records] == [{"id": 7}]
    assert err == [
        "line 1: note: PostgreSQL event has no source.lsn; its version is derived from ts_ms "
        "and the Kafka offset (the worker refuses it)"
    ]
