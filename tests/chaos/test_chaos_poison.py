"""The poison set is what the chaos run says it is: >= 30 kinds, each one really bad.

Offline (no stack): the writer schemas are Debezium's own, captured from the real connector
(debezium_shop_schemas.json), served by an in-memory resolver. Each kind's valid starting point
goes through decode, the real topologies and the output encoder cleanly; every kind fails one
of those stages, except the ``content.*`` kinds, which only a sink can refuse (PostgreSQL
cannot store a NUL byte) and so must reach the sinks intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastavro
import pytest
from chaos_poison import Poison, PoisonFactory, WriterSchemas

from streamapp.decode import Decoder
from streamapp.encode.avro import RecordEncoder
from streamapp.encode.schema import key_schema_for
from streamapp.errors import StageError
from streamapp.settings import Settings
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.loader import load_topologies
from streamapp.types import parse_type

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
IDS = {"customers-key": 101, "customers-value": 102, "orders-key": 103, "orders-value": 104}
UNUSABLE = 105


class Resolver:
    """The registry's answers for the captured schemas (LookupError: an unknown id)."""

    def __init__(self, schemas: dict[int, Any]) -> None:
        self.parsed = {i: fastavro.parse_schema(s, _write_hint=False) for i, s in schemas.items()}

    def parsed_schema(self, schema_id: int) -> Any:
        try:
            return self.parsed[schema_id]
        except KeyError:
            raise LookupError(schema_id) from None


@pytest.fixture(scope="module")
def factory() -> PoisonFactory:
    captured = json.loads((HERE / "debezium_shop_schemas.json").read_text())
    writers = {
        t: WriterSchemas(
            IDS[f"{t}-key"], captured[f"{t}-key"], IDS[f"{t}-value"], captured[f"{t}-value"]
        )
        for t in ("customers", "orders")
    }
    return PoisonFactory(schema="public", writers=writers, unusable_id=UNUSABLE)


@pytest.fixture(scope="module")
def chain() -> Any:
    """table -> a function running decode, transform and encode over one record."""
    captured = json.loads((HERE / "debezium_shop_schemas.json").read_text())
    schemas: dict[int, Any] = {i: captured[name] for name, i in IDS.items()}
    schemas[UNUSABLE] = "string"
    resolver = Resolver(schemas)
    settings = Settings.from_env()
    topologies = load_topologies(
        REPO / "topologies", secrets=settings.mask_secrets(), schemas_dir=REPO / "schemas"
    )
    runs = {}
    for t in topologies:
        runs[t.name] = _run(t, resolver)
    return runs


def _run(topology: CompiledTopology, resolver: Resolver) -> Any:
    hints = {n: parse_type(s) for n, s in topology.topology.source.columns.items()}
    decoder = Decoder(resolver=resolver, hints=hints, needs_before=topology.reads_before)
    key_schema = key_schema_for(
        topology.output_columns, name="k", namespace="t", key_columns=topology.key_columns
    )
    encoder = RecordEncoder(
        topology.output_avro_schema, key_schema, value_schema_id=1, key_schema_id=2
    )

    def run(p: Poison) -> list[Any]:
        event = decoder.decode(p.key, p.value, topic=f"shop.public.{p.table}")
        outputs = topology.process(event)
        for out in outputs:
            encoder.messages(out)
        return outputs

    return run


def test_the_set_has_at_least_30_distinct_kinds(factory: PoisonFactory) -> None:
    kinds = [p.kind for p in factory.build()]
    assert len(kinds) >= 30
    assert len(set(kinds)) == len(kinds)
    assert {p.table for p in factory.build()} == {"customers", "orders"}


@pytest.mark.parametrize("table", ["customers", "orders"])
def test_the_starting_points_are_valid(factory: PoisonFactory, chain: Any, table: str) -> None:
    for key, value in (factory.valid_avro(table), factory.valid_json(table)):
        assert len(chain[table](Poison("valid", table, key, value, ""))) == 1


def test_every_kind_is_refused_by_a_stage_or_reaches_a_sink_with_a_nul(
    factory: PoisonFactory, chain: Any
) -> None:
    accepted = []
    for p in factory.build():
        try:
            outputs = chain[p.table](p)
        except StageError:
            assert not p.kind.startswith("content."), f"{p.kind} should reach the sinks"
            continue
        if p.kind.startswith("content."):
            values = [v for out in outputs for v in out.value.values() if isinstance(v, str)]
            assert any("\x00" in v for v in values), p.kind
        else:
            accepted.append(p.kind)
    assert accepted == [], f"poison kinds the pipeline accepts: {accepted}"
