"""The worker's decoder reads with the source's handling modes and keeps versions strict."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streamapp.decode.version import MissingPosition
from streamapp.runtime.worker import build_runtime
from streamapp.settings import Settings
from streamapp.topology import Output, Sink, Source, Topology
from streamapp.transform.compile import compile_topology


def test_build_runtime_passes_handling_modes_and_strict_versions(
    stack: Settings, unique: str, tmp_path: Path, registry_client: Any
) -> None:
    topology = Topology(
        name=unique,
        source=Source(
            topic=f"{unique}.public.t",
            columns={"id": "int", "price": "decimal(10,2)"},
            handling={"decimal.handling.mode": "string"},
        ),
        key=["id"],
        output=Output(topic=unique),
    )
    compiled = compile_topology(topology, secrets={}, schemas_dir=tmp_path)
    runtime = build_runtime(stack, topologies=[compiled], aggregates=())
    try:
        decoder = runtime.pipelines[0].decoder
        assert decoder.modes.decimal == "string"
        source = {"connector": "postgresql", "db": "d", "ts_ms": 1, "lsn": 9}
        value = {"before": None, "after": {"id": 1, "price": "12.30"}, "source": source, "op": "c"}
        event = decoder.decode(None, json.dumps(value).encode(), topic=topology.source.topic)
        assert event.after == {"id": 1, "price": Decimal("12.30")}
        del source["lsn"]
        with pytest.raises(MissingPosition):
            decoder.decode(None, json.dumps(value).encode(), topic=topology.source.topic)
    finally:
        runtime.producer.close()
        runtime.registry.close()


def test_build_runtime_hands_its_metrics_to_every_sink(
    stack: Settings, unique: str, tmp_path: Path
) -> None:
    """A deferred sink (Iceberg) reports its commits and pending records to the worker's
    /metrics registry (streamapp_sink_commits_total and friends), not to a registry of its own."""
    topology = Topology(
        name=unique,
        source=Source(topic=f"{unique}.public.t", columns={"id": "int"}),
        key=["id"],
        sinks=[Sink.iceberg(f"{unique}.t"), Sink.postgres(unique)],
    )
    compiled = compile_topology(topology, secrets={}, schemas_dir=tmp_path)
    runtime = build_runtime(stack, topologies=[compiled], aggregates=())
    try:
        assert set(runtime.sinks) == {"iceberg", "postgres"}
        assert all(sink.metrics is runtime.metrics for sink in runtime.sinks.values())
    finally:
        runtime.producer.close()
        runtime.registry.close()
