"""Shared helpers of the aggregate unit tests: an orders-like base topology and its changes."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streamapp.records import Op, OutputRecord
from streamapp.topology import Aggregate, Source, Topology, agg
from streamapp.transform.aggspec import AggColumn, CompiledAggregate, compile_aggregate
from streamapp.transform.compile import CompiledTopology, compile_with_problems

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "transform"))
from transform_fixtures import SCHEMAS, SECRETS

ORDER_COLUMNS = {
    "id": "int",
    "customer_id": "int",
    "region": "string",
    "total": "decimal(12,2)",
    "qty": "int",
    "placed_at": "timestamp",
    "status": "string",
    "doc": "json",
}
STATS: dict[str, AggColumn] = {
    "order_count": agg.count(),
    "total_spent": agg.sum("total"),
    "items": agg.sum("qty"),
    "first_order_at": agg.min("placed_at"),
    "last_order_at": agg.max("placed_at"),
    "with_qty": agg.count("qty"),
}


def orders_topology() -> CompiledTopology:
    compiled, problems = compile_with_problems(
        Topology("orders", Source("shop.public.orders", ORDER_COLUMNS), key="id"),
        secrets=SECRETS,
        schemas_dir=SCHEMAS,
    )
    assert compiled is not None, problems
    return compiled


def aggregate(
    columns: Mapping[str, AggColumn] | None = None,
    group_by: str | tuple[str, ...] = "customer_id",
    **kw: Any,
) -> CompiledAggregate:
    spec = Aggregate(
        name="customer_order_stats",
        table="orders",
        group_by=group_by,
        columns=STATS if columns is None else columns,
        **kw,
    )
    compiled, problems = compile_aggregate(spec, {"orders": orders_topology()})
    assert compiled is not None, problems
    return compiled


def order(key: int, version: int, deleted: bool = False, **row: Any) -> OutputRecord:
    """An output record of the orders topology (``deleted``: its delete)."""
    value = {"id": key, **row}
    op = Op.DELETE if deleted else Op.UPDATE
    return OutputRecord("orders", (key,), value, version, op, deleted, frozenset(), 1000 + version)
