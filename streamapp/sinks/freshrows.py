"""The ``streamapp_freshness`` tables of the SQL sinks: one row per topology, sink and partition.

Each SQL sink keeps, next to the tables it writes (same PostgreSQL schema, same ClickHouse
database), ``streamapp_freshness_partitions`` with one row per (topology, sink, source
partition), written by the worker that owns the partition, and the view ``streamapp_freshness``
(topology, sink, complete_through_ts, source_position, updated_at) that a warehouse job reads:
the minimum over the partitions, NULL while a partition has no time or has no row yet (fewer
rows than ``partitions_total``). See ``observability/freshness.py`` for what the times mean.
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


def pg_ddl(schema: str) -> list[str]:
    """Statements creating the table and the view in ``schema`` (an identifier, quoted)."""
    table, view = f"{schema}.{TABLE}", f"{schema}.{VIEW}"
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (topology text NOT NULL, sink text NOT NULL, "
        "source_partition text NOT NULL, partitions_total integer NOT NULL, "
        "complete_through_ts timestamptz, source_position text NOT NULL, "
        "updated_at timestamptz NOT NULL, PRIMARY KEY (topology, sink, source_partition))",
        f"CREATE OR REPLACE VIEW {view} AS SELECT topology, sink, CASE WHEN count(*) >= "
        "max(partitions_total) AND count(complete_through_ts) = count(*) THEN "
        "min(complete_through_ts) END AS complete_through_ts, "
        "string_agg(source_position, ',' ORDER BY source_partition) AS source_position, "
        f"min(updated_at) AS updated_at FROM {table} GROUP BY topology, sink",
    ]


def pg_upsert(schema: str) -> str:
    """One row's upsert (``executemany``): complete_through_ts never moves back (a new owner
    that knows no time yet keeps the previous owner's; what was stored stays stored)."""
    return (
        f"INSERT INTO {schema}.{TABLE} AS t (topology, sink, source_partition, partitions_total, "
        "complete_through_ts, source_position, updated_at) VALUES (%s, %s, %s, %s, "
        "to_timestamp(%s / 1000.0), %s, to_timestamp(%s / 1000.0)) "
        "ON CONFLICT (topology, sink, source_partition) DO UPDATE SET "
        "partitions_total = EXCLUDED.partitions_total, complete_through_ts = "
        "GREATEST(t.complete_through_ts, EXCLUDED.complete_through_ts), "
        "source_position = EXCLUDED.source_position, updated_at = EXCLUDED.updated_at"
    )


def pg_params(row: FreshnessRow) -> tuple[object, ...]:
    return (
        row.topology,
        row.sink,
        row.source_partition,
        row.partitions_total,
        row.complete_through_ms,
        row.source_position,
        row.updated_ms,
    )


def ch_ddl(database: str) -> list[str]:
    """Statements creating the table (ReplacingMergeTree by updated_at) and the view in
    ``database`` (an identifier, quoted)."""
    table, view = f"{database}.{TABLE}", f"{database}.{VIEW}"
    return [
        f"CREATE TABLE IF NOT EXISTS {table} (topology String, sink String, "
        "source_partition String, partitions_total UInt32, "
        "complete_through_ts Nullable(DateTime64(3, 'UTC')), source_position String, "
        "updated_at DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree(updated_at) "
        "ORDER BY (topology, sink, source_partition)",
        f"CREATE OR REPLACE VIEW {view} AS SELECT topology, sink, if(count() >= "
        "max(partitions_total) AND count(complete_through_ts) = count(), "
        "min(complete_through_ts), NULL) AS complete_through_ts, "
        "arrayStringConcat(arraySort(groupArray(source_position)), ',') AS source_position, "
        f"min(updated_at) AS updated_at FROM {table} FINAL GROUP BY topology, sink",
    ]


CH_COLUMNS: Final = (
    "topology",
    "sink",
    "source_partition",
    "partitions_total",
    "complete_through_ts",
    "source_position",
    "updated_at",
)


def ch_values(row: FreshnessRow) -> list[object]:
    """A row for clickhouse-connect's ``insert`` (DateTime64 from datetimes in UTC)."""
    from datetime import UTC, datetime

    def at(ms: int | None) -> datetime | None:
        return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)

    return [
        row.topology,
        row.sink,
        row.source_partition,
        row.partitions_total,
        at(row.complete_through_ms),
        row.source_position,
        at(row.updated_ms),
    ]
