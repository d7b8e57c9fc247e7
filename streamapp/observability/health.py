"""Health of the services streamapp talks to, each checked with a real round trip.

Every probe opens a connection of its own and closes it: ``streamapp check`` runs them all, and
a worker's readiness runs the ones behind its sinks (:func:`sink_probe`) without ever touching
a sink's connection or waiting for its writes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from streamapp.errors import ConfigError
from streamapp.observability import protocol
from streamapp.settings import Settings, redact_url
from streamapp.sinks import tlshints


class ProbeError(Exception):
    """A refusal already worded for the user (reason; what to change), shown as it is."""


class Check(NamedTuple):
    """The outcome of one service probe."""

    service: str
    address: str
    ok: bool
    detail: str  # what answered ("3 brokers", "PostgreSQL 15.18") or why it failed
    millis: float
    protocol: str = ""  # what the probe negotiated ("TLSv1.3", "plaintext"); "" when it failed


Probe = Callable[[Settings], tuple[str, str]]  # (detail, protocol), or an exception


def _kafka(settings: Settings) -> tuple[str, str]:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    from streamapp.kafkaconf import kafka_conf, security_of
    from streamapp.kafkaerrors import client_error

    admin = AdminClient(kafka_conf(settings))
    try:
        meta = admin.list_topics(timeout=5)
    except KafkaException as exc:
        text, hint = client_error(exc, admin, security_of(settings))
        raise KafkaException(f"{text}; {hint}" if hint else text) from None
    detail = f"{len(meta.brokers)} broker(s), {len(meta.topics)} topic(s)"
    return detail, protocol.kafka(settings)


def _registry(settings: Settings) -> tuple[str, str]:
    from streamapp.registry import probe  # a refused login or unknown CA names the setting

    detail = probe(settings)
    return detail, protocol.http(settings.registry_url, settings.registry_ca_file, settings)


def _postgres(dsn: str, env: str) -> Probe:
    """The probe of the PostgreSQL at ``dsn``; a refused connection (TLS, password) is one
    line naming ``env``, the setting that holds the DSN."""

    def check(settings: Settings) -> tuple[str, str]:
        import psycopg

        try:
            conn = psycopg.connect(dsn, connect_timeout=5)
        except psycopg.OperationalError as exc:
            reason = tlshints.libpq_reason(exc)
            raise ProbeError(f"{reason}; {tlshints.libpq_hint(reason, env)}") from None
        with conn:
            row = conn.execute("show server_version").fetchone()
            wal = conn.execute("show wal_level").fetchone()
            negotiated = protocol.postgres(conn)
        detail = f"PostgreSQL {row[0] if row else '?'}, wal_level={wal[0] if wal else '?'}"
        return detail, negotiated

    return check


def _redis(settings: Settings) -> tuple[str, str]:
    import redis
    from redis.exceptions import AuthenticationError

    client = redis.Redis.from_url(
        settings.redis_client_url(), socket_timeout=5, socket_connect_timeout=5
    )
    try:
        try:
            client.ping()
        except AuthenticationError as exc:
            hint = "check the user and password in STREAMAPP_REDIS_URL"
            raise ProbeError(f"{tlshints.first_line(exc)}; {hint}") from None
        except redis.ConnectionError as exc:
            if not tlshints.untrusted(exc):
                raise
            hint = "set STREAMAPP_REDIS_CA_FILE to the PEM CA that signed the server's certificate"
            raise ProbeError(f"{tlshints.first_line(exc)}; {hint}") from None
        return f"Redis {client.info('server')['redis_version']}", protocol.redis(client)
    finally:
        client.close()


def _clickhouse(settings: Settings) -> tuple[str, str]:
    from streamapp.sinks.clickhouse.connect import get_client

    try:
        client = get_client(settings.clickhouse_client_dsn())
    except Exception as exc:
        if not tlshints.untrusted(exc):
            raise
        hint = "set STREAMAPP_CLICKHOUSE_CA_FILE to the PEM CA that signed the server's certificate"
        raise ProbeError(f"{tlshints.first_line(exc)}; {hint}") from None
    try:
        return f"ClickHouse {client.command('SELECT version()')}", protocol.clickhouse(settings)
    finally:
        client.close()


def sink_probe(kind: str, settings: Settings) -> Callable[[], str] | None:
    """A blocking round trip to the service behind sink ``kind`` on its own connection (what
    answered, or an exception); None for embedded chDB, which runs in this process (nothing to
    reach; its circuit breaker tells its health) and for an unknown kind."""
    if kind == "postgres":
        probe = _postgres(settings.warehouse_dsn, "STREAMAPP_WAREHOUSE_DSN")
        return lambda: probe(settings)[0]
    if kind == "redis":
        return lambda: _redis(settings)[0]
    if kind == "clickhouse" and not settings.clickhouse_dsn.startswith("chdb:"):
        return lambda: _clickhouse(settings)[0]
    if kind == "iceberg":
        return lambda: _iceberg(settings)
    if kind == "opensearch":
        return lambda: _opensearch(settings)
    return None


SINK_SETTINGS = {
    "postgres": "STREAMAPP_WAREHOUSE_DSN",
    "redis": "STREAMAPP_REDIS_URL",
    "clickhouse": "STREAMAPP_CLICKHOUSE_DSN",
    "iceberg": "STREAMAPP_ICEBERG_CATALOG_URI",
    "opensearch": "STREAMAPP_OPENSEARCH_URL",
}


def _opensearch(settings: Settings) -> str:
    """The node's version and cluster status (opensearch-py imported only here)."""
    from opensearchpy import OpenSearch

    url = settings.opensearch_url
    tls: dict[str, Any] = {}
    if url.startswith("https://"):
        tls = {"use_ssl": True, "verify_certs": True}
        if settings.opensearch_ca_file:
            tls["ca_certs"] = str(settings.path(settings.opensearch_ca_file))
    client = OpenSearch(hosts=[url], timeout=10, max_retries=0, **tls)
    try:
        try:
            version = client.info()["version"]["number"]
            status = client.cluster.health()["status"]
        except Exception as exc:
            if not tlshints.untrusted(exc):
                raise
            hint = "set STREAMAPP_OPENSEARCH_CA_FILE to the PEM CA that signed its certificate"
            raise ProbeError(f"{tlshints.first_line(exc)}; {hint}") from None
        return f"OpenSearch {version}, cluster {status}"
    finally:
        client.close()


def _iceberg(settings: Settings) -> str:
    """List the namespaces of the Iceberg catalog (pyiceberg imported only here)."""
    from pyiceberg.catalog import load_catalog

    from streamapp.sinks.iceberg.catalog import failure_hint, probe_warehouse, storage_hint

    props, _ = settings.iceberg_catalog()
    try:
        namespaces = load_catalog("streamapp", **props).list_namespaces()
    except Exception as exc:
        hint, retriable = failure_hint(exc)
        if retriable:  # unreachable: the caller names STREAMAPP_ICEBERG_CATALOG_URI
            raise
        raise ProbeError(f"{type(exc).__name__}: {tlshints.first_line(exc)}; {hint}") from None
    kind = props.get("type", "rest")  # a REST catalog with a pinned CA names its class instead
    if kind != "sql":  # a REST server places tables (and may hand out storage credentials)
        return f"Iceberg {kind} catalog, {len(namespaces)} namespace(s)"
    try:
        warehouse = probe_warehouse(props)
    except Exception as exc:  # noqa: BLE001 - any refusal of the store is this one line
        where = redact_url(str(props.get("warehouse", "")))
        raise ProbeError(
            f"warehouse {where} refused a test write ({type(exc).__name__}: "
            f"{tlshints.first_line(exc)[:240]}); {storage_hint(exc)}"
        ) from None
    return (
        f"Iceberg sql catalog, {len(namespaces)} namespace(s), warehouse "
        f"{redact_url(warehouse)} writable"
    )


def sink_preflight(settings: Settings, kinds: Iterable[str]) -> None:
    """Reach the server behind each sink kind in ``kinds`` once, before a worker starts;
    ConfigError, one line naming the setting to fix, when one refuses (a TLS, certificate or
    password problem) or does not answer: a sink that cannot connect at start-up would
    otherwise end the worker with a traceback."""
    for kind in sorted(set(kinds)):
        probe = sink_probe(kind, settings)
        if probe is None:
            continue
        try:
            probe()
        except ProbeError as exc:
            raise ConfigError(f"{kind} sink: {redact_url(str(exc))}") from None
        except Exception as exc:  # noqa: BLE001 - any failure to connect ends the start
            env = SINK_SETTINGS[kind]
            raise ConfigError(
                f"{kind} sink: {type(exc).__name__}: {redact_url(tlshints.first_line(exc))}; "
                "check that "
                f"the server is up and {env} is right"
            ) from None


def _opensearch_check(settings: Settings) -> tuple[str, str]:
    ca = str(settings.path(settings.opensearch_ca_file)) if settings.opensearch_ca_file else ""
    return _opensearch(settings), protocol.http(settings.opensearch_url, ca, settings)


def _iceberg_check(settings: Settings) -> tuple[str, str]:
    uri = settings.iceberg_catalog_uri
    if not uri.startswith(("http://", "https://")):
        return _iceberg(settings), ""
    ca = settings.iceberg_catalog_ca_file
    return _iceberg(settings), protocol.http(uri, str(settings.path(ca)) if ca else "", settings)


# Sinks whose service `check` probes only when a topology declares them (the core services
# above are always probed).
DECLARED_SINKS: dict[str, tuple[Callable[[Settings], str], Probe]] = {
    "opensearch": (lambda s: s.opensearch_url, _opensearch_check),
    "iceberg": (
        lambda s: s.iceberg_catalog_uri or f"SQL catalog in {s.warehouse_dsn}",
        _iceberg_check,
    ),
}


def check_all(settings: Settings, sink_kinds: Iterable[str] = ()) -> list[Check]:
    """Probe every service in turn, and the OpenSearch node and Iceberg catalog when
    ``sink_kinds`` (the topologies' sinks) name them; never raises (a failure is a Check with
    ok=False)."""
    source = _postgres(settings.source_dsn, "STREAMAPP_SOURCE_DSN")
    warehouse = _postgres(settings.warehouse_dsn, "STREAMAPP_WAREHOUSE_DSN")
    probes: list[tuple[str, str, Probe]] = [
        ("kafka", settings.kafka_bootstrap, _kafka),
        ("registry", settings.registry_url, _registry),
        ("postgres source", settings.source_dsn, source),
        ("postgres warehouse", settings.warehouse_dsn, warehouse),
        ("redis", settings.redis_url, _redis),
        ("clickhouse", settings.clickhouse_dsn, _clickhouse),
    ]
    for kind in sorted(set(sink_kinds) & set(DECLARED_SINKS)):
        where, declared = DECLARED_SINKS[kind]
        probes.append((kind, where(settings), declared))
    results = []
    for service, address, probe in probes:
        start = time.perf_counter()
        negotiated = ""
        try:
            (detail, negotiated), ok = probe(settings), True
        except ProbeError as exc:
            detail, ok = str(exc), False
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
                negotiated,
            )
        )
    return results
