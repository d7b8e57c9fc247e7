"""Every Prometheus metric a worker exports, declared once (labels: topology, stage, sink).

Updated per batch, never per record. Served at ``/metrics`` by the worker's web server.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector

BATCH_SIZES = (1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000)
SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    """The worker's metrics in their own registry (tests build as many as they like)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.events_in = Counter(
            "streamapp_events_in", "Change events consumed", ["topology"], registry=r
        )
        self.records_out = Counter(
            "streamapp_records_out", "Output records stored in every sink", ["topology"], registry=r
        )
        self.failed = Counter(
            "streamapp_records_failed",
            "Records that failed, by stage",
            ["topology", "stage"],
            registry=r,
        )
        self.dlq = Counter(
            "streamapp_dlq_records",
            "Records written to the dead-letter topic",
            ["topology"],
            registry=r,
        )
        self.batch_size = Histogram(
            "streamapp_batch_size",
            "Records per batch",
            ["topology"],
            buckets=BATCH_SIZES,
            registry=r,
        )
        self.batch_seconds = Histogram(
            "streamapp_batch_duration_seconds",
            "Time per batch and step (prepare, store)",
            ["topology", "step"],
            buckets=SECONDS,
            registry=r,
        )
        self.sink_seconds = Histogram(
            "streamapp_sink_write_seconds",
            "Time of one sink write of a batch (retries included)",
            ["topology", "sink"],
            buckets=SECONDS,
            registry=r,
        )
        self.sink_errors = Counter(
            "streamapp_sink_errors", "Failed sink write attempts", ["topology", "sink"], registry=r
        )
        # deferred sinks (Iceberg, guarantee 5 of sinks/base.py): a commit makes the batches
        # staged since the previous one durable; their offsets wait for it
        self.sink_commits = Counter(
            "streamapp_sink_commits",
            "Commit attempts of a deferred sink (one Iceberg snapshot each), by outcome: ok, "
            "failed (retried with backoff while the batches wait)",
            ["topology", "sink", "outcome"],
            registry=r,
        )
        self.sink_commit_seconds = Histogram(
            "streamapp_sink_commit_seconds",
            "Time of one commit attempt of a deferred sink",
            ["topology", "sink"],
            buckets=SECONDS,
            registry=r,
        )
        self.sink_pending = Gauge(
            "streamapp_sink_pending_records",
            "Records a deferred sink staged and has not committed yet (their offsets wait)",
            ["topology", "sink"],
            registry=r,
        )
        self.sink_last_commit = Gauge(
            "streamapp_sink_last_commit_timestamp_seconds",
            "Unix time of a deferred sink's last successful commit",
            ["topology", "sink"],
            registry=r,
        )
        self.breaker_state = Gauge(
            "streamapp_circuit_breaker_state",
            "Sink circuit breaker: 0 closed, 1 half-open, 2 open",
            ["topology", "sink"],
            registry=r,
        )
        self.lag = Gauge(
            "streamapp_consumer_lag",
            "Records after the last processed offset (high watermark minus processed + 1)",
            ["topic", "partition"],
            registry=r,
        )
        self.paused = Gauge(
            "streamapp_backpressure_paused",
            "1 while a topology's partitions are paused because its sinks are behind",
            ["topology"],
            registry=r,
        )
        # materialised tables (streamapp/state): one label per table (= its topology's name)
        self.table_rows = Gauge(
            "streamapp_table_rows", "Live rows of a materialised table", ["table"], registry=r
        )
        self.table_restore_seconds = Gauge(
            "streamapp_table_restore_seconds",
            "Seconds the table took at start to load its store and catch up with its topic",
            ["table"],
            registry=r,
        )
        self.table_lag = Gauge(
            "streamapp_table_reader_lag",
            "Records of the table's topic not yet applied (high watermarks minus position)",
            ["table"],
            registry=r,
        )
        self.table_barrier_seconds = Histogram(
            "streamapp_table_barrier_seconds",
            "Time a batch of a topology with lookups (or a materialised topology) waited for its "
            "tables to reflect their topics (Tables.barrier), per batch",
            ["topology"],
            buckets=(0.001, 0.0025, *SECONDS),
            registry=r,
        )
        self.table_skipped = Counter(
            "streamapp_table_records_skipped",
            "Records of a table's topic that could not be decoded or transformed (the table "
            "topology's own lane sends them to its DLQ)",
            ["table"],
            registry=r,
        )
        # incremental aggregates (streamapp/state/aggregate.py): one label per aggregate
        self.aggregate_groups = Gauge(
            "streamapp_aggregate_groups",
            "Groups of an aggregate that have rows",
            ["aggregate"],
            registry=r,
        )
        self.aggregate_emitted = Counter(
            "streamapp_aggregate_rows_emitted",
            "Group rows (upserts and deletes) an aggregate handed to its sinks",
            ["aggregate"],
            registry=r,
        )
        self.aggregate_refused = Counter(
            "streamapp_aggregate_rows_refused",
            "Group rows a sink refused for their content (logged; the sink keeps its old row)",
            ["aggregate", "sink"],
            registry=r,
        )
        self.freshness = Gauge(
            "streamapp_freshness_seconds",
            "Now minus the source ts_ms of the last stored event",
            ["topology"],
            registry=r,
        )
        # the freshness contract (observability/freshness.py): set when /metrics is scraped
        self.complete_through_lag = Gauge(
            "streamapp_complete_through_lag_seconds",
            "Now minus the time through which this worker's partitions of the topology are "
            "complete in every sink (heartbeats move it on an idle source); absent while unknown",
            ["topology"],
            registry=r,
        )
        self.assigned = Gauge(
            "streamapp_partitions_assigned", "Partitions assigned to this worker", registry=r
        )
        # Incremented by gap detection (issue 14): a committed offset found below the topic's
        # retention, the events between them lost. ``partition`` reads ``<topic>[<n>]``.
        self.gaps = Counter(
            "streamapp_gaps",
            "Gaps detected: a committed offset that fell out of the topic's retention",
            ["topology", "partition"],
            registry=r,
        )
        # Sampled by observability/slotwatch.py every STREAMAPP_SLOT_LAG_INTERVAL seconds;
        # absent while the source cannot be read.
        self.slot_lag = Gauge(
            "streamapp_source_slot_lag_bytes",
            "Source WAL bytes after the slot's confirmed_flush_lsn (WAL the source must keep)",
            ["slot"],
            registry=r,
        )
        self.slot_growth = Gauge(
            "streamapp_source_slot_lag_growth_bytes_per_second",
            "Growth of the slot's lag over STREAMAPP_SLOT_LAG_WINDOW (about 0 while it advances)",
            ["slot"],
            registry=r,
        )
        self.slot_active = Gauge(
            "streamapp_source_slot_active",
            "1 while a consumer (the connector) is attached to the slot, else 0",
            ["slot"],
            registry=r,
        )
        # process_start_time_seconds and friends (Linux): restarts show as its changes()
        ProcessCollector(registry=r)
