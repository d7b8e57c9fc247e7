"""Sinks: the contract (``base``), one package per sink (``clickhouse``, ``postgres``, ``redis``,
``opensearch``), retry and breaker.

Drivers are imported only by :func:`create_sink` (and the implementation modules), so importing
this package stays cheap.
"""

from __future__ import annotations

from streamapp.errors import ConfigError
from streamapp.settings import Settings
from streamapp.sinks.base import Rejected, Sink, TableSpec
from streamapp.sinks.resilience import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    RetryPolicy,
    retry,
)

SINK_KINDS = ("clickhouse", "postgres", "redis", "opensearch", "iceberg")

__all__ = [
    "SINK_KINDS",
    "BreakerPolicy",
    "BreakerState",
    "CircuitBreaker",
    "Rejected",
    "RetryPolicy",
    "Sink",
    "TableSpec",
    "create_sink",
    "retry",
]


def create_sink(kind: str, settings: Settings) -> Sink:
    """A not-yet-started sink of ``kind`` configured from ``settings``; ConfigError if unknown."""
    if kind == "clickhouse":
        from streamapp.sinks.clickhouse.sink import ClickHouseSink

        return ClickHouseSink(settings.clickhouse_client_dsn())
    if kind == "postgres":
        from streamapp.sinks.postgres.sink import PostgresSink

        return PostgresSink(settings.warehouse_dsn)
    if kind == "redis":
        from streamapp.sinks.redis.sink import RedisSink

        return RedisSink(settings.redis_client_url())
    if kind == "opensearch":
        from streamapp.sinks.opensearch.sink import OpenSearchSink

        return OpenSearchSink(
            settings.opensearch_url,
            ca_file=str(settings.path(settings.opensearch_ca_file))
            if settings.opensearch_ca_file
            else None,
            replicas=int(settings.opensearch_replicas),
            gc_deletes=settings.opensearch_gc_deletes,
        )
    if kind == "iceberg":
        from streamapp.sinks.iceberg import IcebergSink

        properties, interval = settings.iceberg_catalog()
        return IcebergSink(
            properties, commit_interval=interval, max_pending=settings.iceberg_max_pending()
        )
    raise ConfigError(f"unknown sink {kind!r}; use one of {', '.join(SINK_KINDS)}")
