"""Health of the services streamapp talks to, each checked with a real round trip.

Every probe opens a connection of its own and closes it: ``streamapp check`` runs them all, and
a worker's readiness runs the ones behind its sinks (:func:`sink_probe`) without ever touching
a sink's connection or waiting for its writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from streamapp.settings import Settings, redact_url


class Check(NamedTuple):
    """The outcome of one service probe."""

    service: str
    address: str
    ok: bool
    detail: str  # what answered ("3 brokers", "PostgreSQL 15.18") or why it failed
    millis: float


def _kafka(settings: Settings) -> str:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from streamapp.kafkaconf import kafka_conf
    from streamapp.kafkaerrors import client_error

    admin = AdminClient(kafka_conf(settings.kafka_bootstrap, settings=settings))
    try:
        meta = admin.list_topics(timeout=5)
    except KafkaException as exc:
        text, hint = client_error(exc, admin)
        raise KafkaException(f"{text}; {hint}" if hint else text) from None
    return f"{len(meta.brokers)} broker(s), {len(meta.topics)} topic(s)"


def _registry(settings: Settings) -> str:
    from streamapp.registry import probe  # a refused login or unknown CA names the setting

    return probe(settings)


def _postgres(dsn: str) -> Callable[[Settings], str]:
    def check(settings: Settings) -> str:
        import psycopg

        with psycopg.connect(dsn, connect_timeout=5) as conn:
            row = conn.execute("show server_version").fetchone()
            wal = conn.execute("show wal_level").fetchone()
        return f"PostgreSQL {row[0] if row else '?'}, wal_level={wal[0] if wal else '?'}"

    return check


def _redis(settings: Settings) -> str:
    import redis

    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        client.ping()
        return f"Redis {client.info('server')['redis_version']}"
    finally:
        client.close()


def _clickhouse(settings: Settings) -> str:
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=settings.clickhouse_client_dsn())
    try:
        return f"ClickHouse {client.command('SELECT version()')}"
    finally:
        client.close()


def sink_probe(kind: str, settings: Settings) -> Callable[[], str] | None:
    """A blocking round trip to the service behind sink ``kind`` on its own connection (what
    answered, or an exception); None for embedded chDB, which runs in this process (nothing to
    reach; its circuit breaker tells its health) and for an unknown kind."""
    if kind == "postgres":
        dsn = settings.warehouse_dsn
        return lambda: _postgres(dsn)(settings)
    if kind == "redis":
        return lambda: _redis(settings)
    if kind == "clickhouse" and not settings.clickhouse_dsn.startswith("chdb:"):
        return lambda: _clickhouse(settings)
    return None


def check_all(settings: Settings) -> list[Check]:
    """Probe every service in turn; never raises (a failure is a Check with ok=False)."""
    probes: list[tuple[str, str, Callable[[Settings], str]]] = [
        ("kafka", settings.kafka_bootstrap, _kafka),
        ("registry", settings.registry_url, _registry),
        ("postgres source", settings.source_dsn, _postgres(settings.source_dsn)),
        ("postgres warehouse", settings.warehouse_dsn, _postgres(settings.warehouse_dsn)),
        ("redis", settings.redis_url, _redis),
        ("clickhouse", settings.clickhouse_dsn, _clickhouse),
    ]
    results = []
    for service, address, probe in probes:
        start = time.perf_counter()
        try:
            detail, ok = probe(settings), True
        except Exception as exc:  # noqa: BLE001 - report any failure as unhealthy
            detail, ok = (
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                False,
            )
        results.append(
            Check(
                service,
                redact_url(address),
                ok,
                redact_url(detail),
                (time.perf_counter() - start) * 1000,
            )
        )
    return results
