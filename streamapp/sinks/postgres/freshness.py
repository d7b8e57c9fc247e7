"""PostgreSQL's freshness table and view (see ``sinks.freshness``): DDL, upsert and its params."""

from __future__ import annotations

from streamapp.sinks.freshness import TABLE, VIEW, FreshnessRow


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
    """The parameters of :func:`pg_upsert` for ``row``, in its placeholder order."""
    return (
        row.topology,
        row.sink,
        row.source_partition,
        row.partitions_total,
        row.complete_through_ms,
        row.source_position,
        row.updated_ms,
    )
