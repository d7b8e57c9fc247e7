"""The protocol streamapp speaks with each service, as `streamapp check` prints it.

``plaintext``/``http`` without TLS; with TLS, the version the server negotiated (``TLSv1.3``).
PostgreSQL and Redis report it for the probe's own connection (``pg_stat_ssl``, the socket of
redis-py's connection). Kafka (librdkafka does not expose it) and https services get one TLS
handshake of their own with the same CA, client certificate and host name as their clients.
A protocol is reported after a probe passed; finding it never fails the probe.
"""

from __future__ import annotations

import socket
import ssl
from typing import Any
from urllib.parse import parse_qs, urlparse

from streamapp.settings import Settings

TIMEOUT = 5.0


def tls_version(host: str, port: int, context: ssl.SSLContext) -> str:
    """The TLS version ``host:port`` negotiates with ``context`` (one handshake); raises
    OSError (ssl.SSLError included) when the handshake fails."""
    with (
        socket.create_connection((host, port), timeout=TIMEOUT) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return tls.version() or "TLS"


def _host_port(address: str, default_port: int) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``, an optional ``scheme://``) split; ``default_port`` if none."""
    address = address.split("://", 1)[-1]
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or (host.startswith("[") != host.endswith("]")):
        return address.strip("[]"), default_port
    return host.strip("[]"), int(port)


def kafka(settings: Settings) -> str:
    """``PLAINTEXT``, ``SASL_SSL/SCRAM-SHA-512 TLSv1.3``, ``SSL TLSv1.3``, ..."""
    from streamapp.kafkaconf import KafkaSecurity

    security = KafkaSecurity.from_settings(settings)
    label = security.protocol
    if security.protocol.startswith("SASL"):
        label += f"/{security.mechanism}"
    if not security.uses_tls:
        return label
    context = security.ssl_context()
    assert context is not None  # uses_tls
    host, port = _host_port(settings.kafka_bootstrap.split(",")[0].strip(), 9092)
    return label + _version(host, port, context)


def http(url: str, ca_file: str = "", settings: Settings | None = None) -> str:
    """``http``, or ``https TLSv1.3`` (the server's certificate checked against ``ca_file``,
    default: the system CAs)."""
    parsed = urlparse(url)
    if parsed.scheme != "https":
        return "http"
    cafile = str(settings.path(ca_file)) if ca_file and settings is not None else ca_file
    try:
        context = ssl.create_default_context(cafile=cafile or None)
    except OSError:
        return "https"
    verify = parse_qs(parsed.query).get("verify", ["true"])[0].lower()
    if verify in ("false", "0", "no"):
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return "https" + _version(parsed.hostname or "localhost", parsed.port or 443, context)


def clickhouse(settings: Settings) -> str:
    """``embedded`` for chDB, else what :func:`http` says about the server (``clickhouse://``
    is clickhouse-connect's http)."""
    dsn = settings.clickhouse_client_dsn()
    if dsn.startswith("chdb:"):
        return "embedded"
    ca = parse_qs(urlparse(dsn).query).get("ca_cert", [""])[0]
    return http(dsn, ca, settings)


def postgres(conn: Any) -> str:
    """The TLS version of psycopg connection ``conn``, ``plaintext`` without TLS."""
    row = conn.execute("SELECT version FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    return str(row[0]) if row and row[0] else "plaintext"


def redis(client: Any) -> str:
    """The TLS version of a connection of redis-py ``client``, ``plaintext`` without TLS."""
    pool = client.connection_pool
    conn = pool.get_connection()
    try:
        conn.connect()  # a no-op on a connected one
        sock = getattr(conn, "_sock", None)
        version = sock.version() if isinstance(sock, ssl.SSLSocket) else None
    finally:
        pool.release(conn)
    return version or "plaintext"


def _version(host: str, port: int, context: ssl.SSLContext) -> str:
    """`` TLSv1.3``; '' when our handshake fails (the client's own call passed: TLS it is,
    its version unknown)."""
    try:
        return " " + tls_version(host, port, context)
    except OSError:
        return ""
