"""Connecting to ClickHouse: a clickhouse-connect client (https as TLS), who holds a chDB dir."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from streamapp.errors import ConfigError, SinkError
from streamapp.settings import redact_url
from streamapp.sinks import tlshints

_OPENED_HERE: set[Path] = set()  # chDB directories this process opened (its flock is ours)


def get_client(dsn: str, **options: Any) -> Any:
    """``clickhouse_connect.get_client`` for ``dsn``, over TLS when its scheme is ``https://``.

    clickhouse-connect takes TLS from the port (443/8443) or ``interface``, never from the DSN's
    scheme: ``https://host:8123/db`` would be plain HTTP. Query parameters of the DSN are client
    options (``ca_cert=<PEM file>``, ``verify=false``, ``client_cert``/``client_cert_key``).
    """
    import clickhouse_connect

    scheme = urlparse(dsn).scheme
    if scheme in ("http", "https"):
        options.setdefault("interface", scheme)
    client = clickhouse_connect.get_client(dsn=dsn, **options)
    chdb_dir = chdb_dir_of(dsn)
    if chdb_dir is not None:
        _OPENED_HERE.add(chdb_dir.resolve())
    return client


def connect(dsn: str) -> Any:
    """A clickhouse-connect client; a chDB directory held by another process is a ConfigError."""
    try:
        return get_client(dsn)
    except Exception as exc:
        chdb_dir = chdb_dir_of(dsn)
        if chdb_dir is not None and _held_elsewhere(chdb_dir / "status"):
            raise ConfigError(
                f"embedded ClickHouse data dir {chdb_dir} is in use by another process: chDB data "
                "belongs to one process; point STREAMAPP_CLICKHOUSE_DSN at a ClickHouse server "
                "(http://host:8123/db) for multi-replica deployments"
            ) from exc
        from clickhouse_connect.driver.exceptions import OperationalError

        untrusted = tlshints.untrusted(exc)
        transient = isinstance(exc, OperationalError | OSError)
        hint = (
            "the server's certificate is not trusted: set STREAMAPP_CLICKHOUSE_CA_FILE to the "
            "PEM CA that signed it"
            if untrusted
            else "check that the server is up and STREAMAPP_CLICKHOUSE_DSN is right"
        )
        raise SinkError(
            f"clickhouse sink: cannot connect to {redact_url(dsn)} ({type(exc).__name__}); {hint}",
            retriable=transient,
        ) from exc


def chdb_dir_of(dsn: str) -> Path | None:
    """The directory of a ``chdb://`` DSN; None for a server DSN or an in-memory chDB."""
    if not dsn.startswith("chdb:"):
        return None
    parsed = urlparse(dsn)
    location = parsed.path if not parsed.netloc else parsed.netloc
    return Path(location) if location not in ("", "memory", ":memory:") else None


def chdb_held(chdb_dir: Path) -> bool:
    """True when another process has the embedded chDB directory open (its ``status`` lock).

    False when this process opened it (a worker reading its own chDB, e.g. the sweep after a
    gap snapshot): chDB hosts one engine per process and hands out any number of handles to it.
    """
    if chdb_dir.resolve() in _OPENED_HERE:
        return False
    return _held_elsewhere(chdb_dir / "status")


def _held_elsewhere(status: Path) -> bool:
    """True when another process holds the flock chDB takes on ``<dir>/status``."""
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
