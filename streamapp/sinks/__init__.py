"""Sinks: the contract, ClickHouse / PostgreSQL / Redis implementations, retry and breaker.

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

SINK_KINDS = ("clickhouse", "postgres", "redis", "iceberg")

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
        from streamapp.sinks.clickhouse import ClickHouseSink

        return ClickHouseSink(settings.clickhouse_client_dsn())
    if kind == "postgres":
        from streamapp.sinks.postgres import PostgresSink

        return PostgresSink(settings.warehouse_dsn)
    if kind == "redis":
        from streamapp.sinks.redis import RedisSink

        return RedisSink(settings.redis_client_url())
    if kind == "iceberg":
        from streamapp.sinks.iceberg import IcebergSink

        properties, interval = settings.iceberg_catalog()
        return IcebergSink(properties, commit_interval=interval)
    raise ConfigError(f"unknown sink {kind!r}; use one of {', '.join(SINK_KINDS)}")
