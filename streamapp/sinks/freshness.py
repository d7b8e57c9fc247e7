"""The ``streamapp_freshness`` tables of the SQL sinks: one row per topology, sink and partition.

Each SQL sink keeps, next to the tables it writes (same PostgreSQL schema, same ClickHouse
database), ``streamapp_freshness_partitions`` with one row per (topology, sink, source
partition), written by the worker that owns the partition, and the view ``streamapp_freshness``
(topology, sink, complete_through_ts, source_position, updated_at) that a warehouse job reads:
the minimum over the partitions, NULL while a partition has no time or has no row yet (fewer
rows than ``partitions_total``). See ``observability/freshness.py`` for what the times mean.
Each SQL sink package writes them in its own dialect (``postgres/freshness.py``,
``clickhouse/freshness.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

TABLE: Final = "streamapp_freshness_partitions"
VIEW: Final = "streamapp_freshness"


@dataclass(frozen=True, slots=True)
class FreshnessRow:
    """One partition's freshness as one sink stores it."""

    topology: str
    sink: str  # "postgres:public.orders", "clickhouse:default.orders"
    source_partition: str  # "topic/partition"
    partitions_total: int
    complete_through_ms: int | None
    source_position: str  # "topic/partition@next-offset"
    updated_ms: int
