"""Writes infra/grafana/streamapp-dashboard.json (run it after changing the panels below)."""

from __future__ import annotations

import json
from pathlib import Path

PANELS = [
    ("Events in / s", "sum by (topology) (rate(streamapp_events_in_total[1m]))", "ops"),
    ("Records out / s", "sum by (topology) (rate(streamapp_records_out_total[1m]))", "ops"),
    (
        "Failed records / s by stage",
        "sum by (topology, stage) (rate(streamapp_records_failed_total[5m]))",
        "ops",
    ),
    ("DLQ records / s", "sum by (topology) (rate(streamapp_dlq_records_total[5m]))", "ops"),
    ("Consumer lag", "sum by (topic) (streamapp_consumer_lag)", "short"),
    ("Freshness (now - source ts)", "max by (topology) (streamapp_freshness_seconds)", "s"),
    (
        "Complete through: lag of the freshness contract",
        "max by (topology) (streamapp_complete_through_lag_seconds)",
        "s",
    ),
    (
        "Batch size p50",
        "histogram_quantile(0.5, sum by (le, topology) (rate(streamapp_batch_size_bucket[5m])))",
        "short",
    ),
    (
        "Batch duration p99 by step",
        "histogram_quantile(0.99, sum by (le, topology, step) "
        "(rate(streamapp_batch_duration_seconds_bucket[5m])))",
        "s",
    ),
    (
        "Sink write p99",
        "histogram_quantile(0.99, sum by (le, topology, sink) "
        "(rate(streamapp_sink_write_seconds_bucket[5m])))",
        "s",
    ),
    ("Sink errors / s", "sum by (topology, sink) (rate(streamapp_sink_errors_total[5m]))", "ops"),
    (
        "Circuit breakers (0 closed, 1 half-open, 2 open)",
        "max by (topology, sink) (streamapp_circuit_breaker_state)",
        "short",
    ),
    # deferred sinks (Iceberg): staged batches wait for a commit
    (
        "Deferred sinks: records waiting for a commit",
        "sum by (topology, sink) (streamapp_sink_pending_records)",
        "short",
    ),
    (
        "Deferred sinks: commits / min by outcome",
        "sum by (topology, sink, outcome) (rate(streamapp_sink_commits_total[5m])) * 60",
        "short",
    ),
    (
        "Deferred sinks: commit p99",
        "histogram_quantile(0.99, sum by (le, topology, sink) "
        "(rate(streamapp_sink_commit_seconds_bucket[5m])))",
        "s",
    ),
    (
        "Deferred sinks: time since the last commit",
        "time() - max by (topology, sink) (streamapp_sink_last_commit_timestamp_seconds)",
        "s",
    ),
    ("Partitions assigned per worker", "streamapp_partitions_assigned", "short"),
    (
        "Backpressure: topologies paused (sinks behind)",
        "max by (topology) (streamapp_backpressure_paused)",
        "short",
    ),
    # replicas sample the same slots: one line per slot (alerts: infra/prometheus/alerts.yml)
    ("Source slot lag (WAL kept)", "max by (slot) (streamapp_source_slot_lag_bytes)", "bytes"),
    (
        "Source slot lag growth",
        "max by (slot) (streamapp_source_slot_lag_growth_bytes_per_second)",
        "Bps",
    ),
    (
        "Source slot attached (1: a connector reads it)",
        "min by (slot) (streamapp_source_slot_active)",
        "short",
    ),
    (
        "Gaps detected (events lost to retention), last hour",
        "sum by (topology, partition) (increase(streamapp_gaps_total[1h]))",
        "short",
    ),
    # materialised tables (streamapp/state), labelled by table
    ("Materialised tables: rows", "max by (table) (streamapp_table_rows)", "short"),
    ("Materialised tables: reader lag", "max by (table) (streamapp_table_reader_lag)", "short"),
    (
        "Materialised tables: restore time at start",
        "max by (table) (streamapp_table_restore_seconds)",
        "s",
    ),
    (
        "Table barrier p99 per batch (lookups wait for their tables)",
        "histogram_quantile(0.99, sum by (topology, le) "
        "(rate(streamapp_table_barrier_seconds_bucket[5m])))",
        "s",
    ),
    (
        "Materialised tables: records skipped / s",
        "sum by (table) (rate(streamapp_table_records_skipped_total[5m]))",
        "ops",
    ),
    # incremental aggregates (streamapp/state/aggregate.py), labelled by aggregate
    ("Aggregates: groups with rows", "max by (aggregate) (streamapp_aggregate_groups)", "short"),
    (
        "Aggregates: group rows emitted / s",
        "sum by (aggregate) (rate(streamapp_aggregate_rows_emitted_total[5m]))",
        "ops",
    ),
    (
        "Aggregates: group rows refused by a sink / s",
        "sum by (aggregate, sink) (rate(streamapp_aggregate_rows_refused_total[5m]))",
        "ops",
    ),
]


def dashboard() -> dict[str, object]:
    panels = []
    for i, (title, expr, unit) in enumerate(PANELS):
        panels.append(
            {
                "id": i + 1,
                "type": "timeseries",
                "title": title,
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [{"refId": "A", "expr": expr, "legendFormat": "__auto"}],
            }
        )
    return {
        "title": "streamapp",
        "uid": "streamapp",
        "schemaVersion": 39,
        "version": 1,
        "tags": ["streamapp", "cdc"],
        "time": {"from": "now-1h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus"}]
        },
        "panels": panels,
    }


if __name__ == "__main__":
    out = Path(__file__).with_name("streamapp-dashboard.json")
    out.write_text(json.dumps(dashboard(), indent=2) + "\n")
    print(f"wrote {out}")
