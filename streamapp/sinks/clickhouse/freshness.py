"""ClickHouse's freshness table and view (see ``sinks.freshness``): DDL and insert rows."""

from __future__ import annotations

from typing import Final

from streamapp.sinks.freshness import TABLE, VIEW, FreshnessRow


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
