"""All runtime configuration: one frozen Settings object read from STREAMAPP_* env vars.

Every setting has a default that points at the local stack (``make up``), an env var, and a row
in the README's configuration table (a test keeps the two in step).
"""

from __future__ import annotations

import base64
import logging
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from streamapp.errors import ConfigError
from streamapp.redact import raw_in_password, redact_url

if TYPE_CHECKING:
    from streamapp.dlq.seal import Sealer

__all__ = ["REPO_ROOT", "Settings", "redact_url"]

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DLQ_RETENTION_MS = "604800000"  # 7 days
DEFAULT_ICEBERG_WAREHOUSE = ".stack/data/iceberg"
log = logging.getLogger("streamapp.settings")
_warned: set[str] = set()


def _setting(env: str, default: str, doc: str, *, secret: bool = False) -> str:
    result: str = field(default=default, metadata={"env": env, "doc": doc, "secret": secret})
    return result


FROM_FILE = (
    "STREAMAPP_SOURCE_DSN",
    "STREAMAPP_WAREHOUSE_DSN",
    "STREAMAPP_REDIS_URL",
    "STREAMAPP_CLICKHOUSE_DSN",
    "STREAMAPP_OPENSEARCH_URL",
    "STREAMAPP_ICEBERG_CATALOG_URI",
    "STREAMAPP_ICEBERG_CATALOG_TOKEN",
    "STREAMAPP_ICEBERG_PROPERTIES",
    "STREAMAPP_MASK_SECRET",
)
"""Settings that may carry a password and are also read from ``<NAME>_FILE`` (a mounted
Kubernetes or compose secret) when ``<NAME>`` itself is unset."""


def _from_file(env: str, environ: Mapping[str, str]) -> str:
    """The content of ``<env>_FILE`` (one trailing newline dropped), or "" when unset;
    ConfigError naming ``<env>_FILE`` (never the content) when it cannot be read."""
    path = environ.get(f"{env}_FILE", "").strip()
    if not path:
        return ""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"{env}_FILE={path}: cannot be read ({why})") from None
    value = text[:-1] if text.endswith("\n") else text
    if not value.strip():
        raise ConfigError(f"{env}_FILE={path}: the file is empty")
    return value.strip()


@dataclass(frozen=True, slots=True)
class Settings:
    """Resolved configuration; build it with :meth:`from_env`."""

    profile: str = _setting(
        "STREAMAPP_PROFILE",
        "local",
        "`local` allows development defaults (e.g. a dev mask secret); `production` refuses them",
    )
    kafka_bootstrap: str = _setting(
        "STREAMAPP_KAFKA_BOOTSTRAP", "127.0.0.1:19092", "Kafka bootstrap servers"
    )
    registry_url: str = _setting(
        "STREAMAPP_REGISTRY_URL",
        "http://127.0.0.1:18081/apis/ccompat/v7",
        "Confluent-compatible schema registry URL",
    )
    kafka_security_protocol: str = _setting(
        "STREAMAPP_KAFKA_SECURITY_PROTOCOL",
        "PLAINTEXT",
        "Kafka `security.protocol` of every client: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    )
    kafka_sasl_mechanism: str = _setting(
        "STREAMAPP_KAFKA_SASL_MECHANISM",
        "PLAIN",
        "`sasl.mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols)",
    )
    kafka_sasl_username: str = _setting(
        "STREAMAPP_KAFKA_SASL_USERNAME", "", "`sasl.username` (e.g. a managed Kafka's API key)"
    )
    kafka_sasl_password: str = _setting(
        "STREAMAPP_KAFKA_SASL_PASSWORD", "", "`sasl.password` (or an API secret)", secret=True
    )
    kafka_sasl_password_file: str = _setting(
        "STREAMAPP_KAFKA_SASL_PASSWORD_FILE",
        "",
        "a file holding the SASL password (e.g. a mounted secret); read when that is unset",
    )
    kafka_ssl_ca_file: str = _setting(
        "STREAMAPP_KAFKA_SSL_CA_FILE",
        "",
        "`ssl.ca.location`: PEM CA file that signed the brokers' certificates (unset: system CAs)",
    )
    kafka_ssl_cert_file: str = _setting(
        "STREAMAPP_KAFKA_SSL_CERT_FILE",
        "",
        "`ssl.certificate.location`: PEM client certificate for mTLS (with the key file)",
    )
    kafka_ssl_key_file: str = _setting(
        "STREAMAPP_KAFKA_SSL_KEY_FILE", "", "`ssl.key.location`: PEM key of the client certificate"
    )
    kafka_ssl_key_password: str = _setting(
        "STREAMAPP_KAFKA_SSL_KEY_PASSWORD",
        "",
        "`ssl.key.password` of an encrypted client key",
        secret=True,
    )
    kafka_ssl_key_password_file: str = _setting(
        "STREAMAPP_KAFKA_SSL_KEY_PASSWORD_FILE",
        "",
        "a file holding the client key's password; read when that is unset",
    )
    kafka_ssl_check_hostname: str = _setting(
        "STREAMAPP_KAFKA_SSL_CHECK_HOSTNAME",
        "true",
        "verify that the broker certificate names the host (`ssl.endpoint.identification"
        ".algorithm` https); `false` turns that off (the CA is still checked)",
    )
    kafka_properties: str = _setting(
        "STREAMAPP_KAFKA_PROPERTIES",
        "",
        "other librdkafka properties of the confluent-kafka clients (producer, admin, ops "
        "commands): `key=value` separated by commas, or by newlines when a value holds a comma",
        secret=True,
    )
    registry_user_info: str = _setting(
        "STREAMAPP_REGISTRY_USER_INFO",
        "",
        "schema registry basic auth `<user>:<password>` (or `<api key>:<api secret>`)",
        secret=True,
    )
    registry_user_info_file: str = _setting(
        "STREAMAPP_REGISTRY_USER_INFO_FILE",
        "",
        "a file holding STREAMAPP_REGISTRY_USER_INFO's value; read when that is unset",
    )
    registry_bearer_token: str = _setting(
        "STREAMAPP_REGISTRY_BEARER_TOKEN",
        "",
        "schema registry bearer token (`Authorization: Bearer`)",
        secret=True,
    )
    registry_bearer_token_file: str = _setting(
        "STREAMAPP_REGISTRY_BEARER_TOKEN_FILE",
        "",
        "a file holding the registry bearer token; read when that is unset",
    )
    registry_logical_cluster: str = _setting(
        "STREAMAPP_REGISTRY_LOGICAL_CLUSTER",
        "",
        "with a bearer token: the registry's logical cluster id (`target-sr-cluster`, "
        "Confluent Cloud); other registries ignore it",
    )
    registry_ca_file: str = _setting(
        "STREAMAPP_REGISTRY_CA_FILE",
        "",
        "PEM CA file that signed an https registry's certificate (unset: system CAs)",
    )
    source_dsn: str = _setting(
        "STREAMAPP_SOURCE_DSN",
        "postgresql://streamapp:streamapp@127.0.0.1:15432/source",
        "source PostgreSQL (the database Debezium reads); "
        "`mysql://`/`mariadb://user:password@host:port/database` for a MySQL-family source "
        "(reconcile)",
    )
    source_slots: str = _setting(
        "STREAMAPP_SOURCE_SLOTS",
        "*",
        "replication slots whose lag `status` shows and workers sample into /metrics: names "
        "separated by commas, `*` for every logical slot of the source database, empty: none",
    )
    slot_lag_interval: str = _setting(
        "STREAMAPP_SLOT_LAG_INTERVAL",
        "30",
        "seconds between a worker's samples of the slots' lag (read from STREAMAPP_SOURCE_DSN; "
        "only with its endpoints on); 0: off",
    )
    slot_lag_window: str = _setting(
        "STREAMAPP_SLOT_LAG_WINDOW",
        "300",
        "seconds over which a worker measures the growth of a slot's lag (bytes/s), 10..86400",
    )
    warehouse_dsn: str = _setting(
        "STREAMAPP_WAREHOUSE_DSN",
        "postgresql://streamapp:streamapp@127.0.0.1:15432/warehouse",
        "PostgreSQL sink database; TLS through libpq's parameters, e.g. "
        "`?sslmode=verify-full&sslrootcert=ca.pem` (`sslcert`/`sslkey`: client certificate)",
    )
    redis_url: str = _setting(
        "STREAMAPP_REDIS_URL",
        "redis://127.0.0.1:16379/0",
        "Redis cache sink: `redis://[user:password@]host:port/db`, `rediss://` for TLS",
    )
    redis_ca_file: str = _setting(
        "STREAMAPP_REDIS_CA_FILE",
        "",
        "PEM CA file that signed a `rediss://` server's certificate (unset: system CAs)",
    )
    clickhouse_dsn: str = _setting(
        "STREAMAPP_CLICKHOUSE_DSN",
        "chdb://.stack/data/chdb",
        "ClickHouse sink: `chdb://<dir>` (embedded, relative paths from the repo root) "
        "or `http://user:pass@host:8123/db` (`https://` for TLS)",
    )
    clickhouse_ca_file: str = _setting(
        "STREAMAPP_CLICKHOUSE_CA_FILE",
        "",
        "PEM CA file that signed an `https://` ClickHouse server's certificate (unset: system CAs)",
    )
    opensearch_url: str = _setting(
        "STREAMAPP_OPENSEARCH_URL",
        "http://127.0.0.1:19200",
        "OpenSearch sink: `http://[user:password@]host:9200`, `https://` for TLS",
    )
    opensearch_ca_file: str = _setting(
        "STREAMAPP_OPENSEARCH_CA_FILE",
        "",
        "PEM CA file that signed an `https://` OpenSearch node's certificate (unset: system CAs)",
    )
    opensearch_replicas: str = _setting(
        "STREAMAPP_OPENSEARCH_REPLICAS",
        "0",
        "number_of_replicas of the indices the OpenSearch sink creates (0 suits one node only)",
    )
    opensearch_gc_deletes: str = _setting(
        "STREAMAPP_OPENSEARCH_GC_DELETES",
        "7d",
        "index.gc_deletes of the sink's indices: how long a delete's tombstone keeps an older "
        "write from resurrecting the document (a replay older than this can)",
    )
    iceberg_catalog_uri: str = _setting(
        "STREAMAPP_ICEBERG_CATALOG_URI",
        "",
        "Iceberg sink catalog: `postgresql://...` a SQL catalog (pyiceberg's `iceberg_tables` in "
        "that database), `http(s)://...` a REST catalog; unset: a SQL catalog in "
        "STREAMAPP_WAREHOUSE_DSN's database",
    )
    iceberg_catalog_token: str = _setting(
        "STREAMAPP_ICEBERG_CATALOG_TOKEN",
        "",
        "bearer token of a REST Iceberg catalog (sent as `Authorization: Bearer`)",
        secret=True,
    )
    iceberg_catalog_ca_file: str = _setting(
        "STREAMAPP_ICEBERG_CATALOG_CA_FILE",
        "",
        "PEM CA file that signed an `https://` REST Iceberg catalog's certificate (unset: "
        "system CAs); kept over REQUESTS_CA_BUNDLE",
    )
    iceberg_properties: str = _setting(
        "STREAMAPP_ICEBERG_PROPERTIES",
        "",
        "other pyiceberg catalog properties, e.g. `credential=<id>:<secret>,scope=...` (OAuth2) "
        "or `s3.endpoint=...`: `key=value` separated by commas, or by newlines when a value "
        "holds a comma",
        secret=True,
    )
    iceberg_warehouse: str = _setting(
        "STREAMAPP_ICEBERG_WAREHOUSE",
        DEFAULT_ICEBERG_WAREHOUSE,
        "Iceberg sink warehouse: a directory (relative paths from the repo root) or a "
        "`file://`/`s3://` URI where new tables put their data and metadata; with a REST "
        "catalog, sent as is (a location or the server's warehouse name) and only when set",
    )
    iceberg_commit_interval: str = _setting(
        "STREAMAPP_ICEBERG_COMMIT_INTERVAL",
        "60",
        "least seconds between two Iceberg snapshot commits of one table, 0.1..3600: batches "
        "arriving in between are staged in memory and join the next commit; their offsets are "
        "committed after it",
    )
    iceberg_max_pending_rows: str = _setting(
        "STREAMAPP_ICEBERG_MAX_PENDING_ROWS",
        "200000",
        "most records one Iceberg table stages between two commits, 1000..10000000; a lane "
        "that reaches it waits for the next commit (backpressure bounding the worker's memory)",
    )
    connect_url: str = _setting(
        "STREAMAPP_CONNECT_URL",
        "http://127.0.0.1:18083",
        "Kafka Connect REST API (`streamapp snapshot`; `streamapp check` requires it when set)",
    )
    connect_user_info: str = _setting(
        "STREAMAPP_CONNECT_USER_INFO",
        "",
        "Kafka Connect REST basic auth `<user>:<password>`",
        secret=True,
    )
    connect_user_info_file: str = _setting(
        "STREAMAPP_CONNECT_USER_INFO_FILE",
        "",
        "a file holding STREAMAPP_CONNECT_USER_INFO's value; read when that is unset",
    )
    connect_ca_file: str = _setting(
        "STREAMAPP_CONNECT_CA_FILE",
        "",
        "PEM CA file that signed an https Connect REST API's certificate (unset: system CAs)",
    )
    heal_topic: str = _setting(
        "STREAMAPP_HEAL_TOPIC",
        "",
        "topic where workers note gaps and (re-)snapshots for `streamapp status` (one "
        "partition, created when missing); empty: `<STREAMAPP_GROUP_ID>.heal`",
    )
    gap_snapshot_timeout: str = _setting(
        "STREAMAPP_GAP_SNAPSHOT_TIMEOUT",
        "3600",
        "seconds a worker follows a gap-healing incremental snapshot (on_gap='snapshot') before "
        "that attempt counts as failed (3 attempts, backoff between them), 10..86400",
    )
    topologies_dir: str = _setting(
        "STREAMAPP_TOPOLOGIES_DIR", "topologies", "folder of topology modules"
    )
    schemas_dir: str = _setting("STREAMAPP_SCHEMAS_DIR", "schemas", "folder of output .avsc files")
    state_dir: str = _setting(
        "STREAMAPP_STATE_DIR",
        ".stack/state",
        "folder of the worker's materialised tables (RocksDB, one folder per table; needs "
        "`streamapp[state]`); empty: tables in memory only, re-read from their topics at start",
    )
    mask_secret: str = _setting(
        "STREAMAPP_MASK_SECRET",
        "",
        "key for hmac_sha256/tokenize masks (`STREAMAPP_MASK_SECRET_<NAME>` for named secrets); "
        "unset, the local profile uses the local stack's generated dev key (a warning says so)",
        secret=True,
    )
    mask_dev_key_file: str = _setting(
        "STREAMAPP_MASK_DEV_KEY_FILE",
        ".stack/mask-dev.key",
        "local profile only: the random dev mask key `make up` generates once per stack "
        "(64 hex digits), used when STREAMAPP_MASK_SECRET is unset",
    )
    dlq_key: str = _setting(
        "STREAMAPP_DLQ_KEY",
        "",
        "seal DLQ records at rest (AES-256-GCM): 32 random bytes as 64 hex digits or base64; "
        "comma-separated for rotation (the first seals, every one opens); unset: clear DLQ",
        secret=True,
    )
    dlq_key_file: str = _setting(
        "STREAMAPP_DLQ_KEY_FILE",
        "",
        "a file holding STREAMAPP_DLQ_KEY's value (e.g. a mounted secret); read when that is unset",
    )
    dlq_retention_ms: str = _setting(
        "STREAMAPP_DLQ_RETENTION_MS",
        DEFAULT_DLQ_RETENTION_MS,
        "retention.ms of the DLQ topics streamapp creates (7 days; -1: forever): DLQ records "
        "hold the original, unmasked bytes",
    )
    schema_compatibility: str = _setting(
        "STREAMAPP_SCHEMA_COMPATIBILITY",
        "BACKWARD",
        "compatibility level streamapp pins on the output subjects it creates "
        "(BACKWARD, FORWARD, FULL, their _TRANSITIVE forms, or NONE)",
    )
    group_id: str = _setting(
        "STREAMAPP_GROUP_ID", "streamapp", "Kafka consumer group / Faust app id"
    )
    session_timeout: str = _setting(
        "STREAMAPP_SESSION_TIMEOUT",
        "10",
        "seconds Kafka waits for a silent worker (crashed, kill -9) before its partitions move "
        "on, and a restarted one may wait in '(Re-)joining group' (6..90)",
    )
    group_instance_id: str = _setting(
        "STREAMAPP_GROUP_INSTANCE_ID",
        "",
        "static group membership: an id unique to this worker and kept across its restarts "
        "(e.g. a StatefulSet pod name); a restart then rejoins at once, but a stopped worker's "
        "partitions move only after the session timeout; unset: dynamic membership",
    )
    commit_interval: str = _setting(
        "STREAMAPP_COMMIT_INTERVAL",
        "2.8",
        "seconds between the worker's offset commits (only stored batches are committed; "
        "shorter: less re-delivered after a crash, more commit requests)",
    )
    max_poll_interval: str = _setting(
        "STREAMAPP_MAX_POLL_INTERVAL",
        "300",
        "seconds the consumer may go without polling before the group evicts it (Kafka's "
        "max.poll.interval.ms); the worker keeps polling while sinks hold batches, so an "
        "outage does not hit it",
    )
    gc_threshold: str = _setting(
        "STREAMAPP_GC_THRESHOLD",
        "50000",
        "allocations between the worker's young-generation garbage collections (700..1000000; "
        "CPython's default is 700; the start-up heap is frozen either way: README, Performance)",
    )
    web_port: str = _setting(
        "STREAMAPP_WEB_PORT",
        "6066",
        "worker's /metrics, /healthz, /readyz port (each worker on a host needs its own; 0: off)",
    )
    web_bind: str = _setting(
        "STREAMAPP_WEB_BIND", "127.0.0.1", "address the worker's endpoints listen on"
    )
    freshness_interval: str = _setting(
        "STREAMAPP_FRESHNESS_INTERVAL",
        "5",
        "seconds between a worker's `streamapp_freshness` writes into each SQL sink and its "
        "heartbeat reads (0: no writes; needs STREAMAPP_WEB_PORT on)",
    )
    freshness_heartbeat_topic: str = _setting(
        "STREAMAPP_FRESHNESS_HEARTBEAT_TOPIC",
        "auto",
        "Debezium heartbeat topic that advances an idle, caught-up topology: `auto` "
        "(`__debezium-heartbeat.<prefix>` of the source topic, when it exists), a topic, or `off`",
    )
    freshness_warn_after: str = _setting(
        "STREAMAPP_FRESHNESS_WARN_AFTER",
        "10m",
        "`streamapp dbt sources`: dbt freshness warn_after (minutes, hours or days: 10m, 2h, 1d)",
    )
    freshness_error_after: str = _setting(
        "STREAMAPP_FRESHNESS_ERROR_AFTER",
        "1h",
        "`streamapp dbt sources`: dbt freshness error_after (minutes, hours or days)",
    )
    log_level: str = _setting("STREAMAPP_LOG_LEVEL", "INFO", "log level")
    log_format: str = _setting(
        "STREAMAPP_LOG_FORMAT", "text", "`text`, or `json` for one JSON object per line"
    )

    def _validate_freshness(self) -> None:
        from streamapp.freshness_client import dbt_period

        try:
            interval = float(self.freshness_interval)
        except ValueError:
            interval = -1.0
        if not 0 <= interval <= 3600:
            raise ConfigError(
                f"STREAMAPP_FRESHNESS_INTERVAL={self.freshness_interval!r}: use seconds "
                "between 0 (no writes) and 3600"
            )
        for env, value in (
            ("STREAMAPP_FRESHNESS_WARN_AFTER", self.freshness_warn_after),
            ("STREAMAPP_FRESHNESS_ERROR_AFTER", self.freshness_error_after),
        ):
            try:
                dbt_period(value)
            except ValueError as exc:
                raise ConfigError(f"{env}={value!r}: {exc}") from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from ``environ`` (default: os.environ); ConfigError if invalid."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            env = f.metadata["env"]
            raw = environ.get(env, "").strip()
            if not raw and env in FROM_FILE:
                raw = _from_file(env, environ)
            if raw:
                values[f.name] = raw
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.profile not in ("local", "production"):
            raise ConfigError(f"STREAMAPP_PROFILE={self.profile!r}: use 'local' or 'production'")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"STREAMAPP_LOG_FORMAT={self.log_format!r}: use 'text' or 'json'")
        if not self.web_port.isdigit() or int(self.web_port) > 65535:
            raise ConfigError(f"STREAMAPP_WEB_PORT={self.web_port!r}: use a port number, 0 for off")
        self._validate_freshness()
        try:
            interval = float(self.commit_interval)
        except ValueError:
            interval = -1.0
        if not 0.05 <= interval <= 3600:
            raise ConfigError(
                f"STREAMAPP_COMMIT_INTERVAL={self.commit_interval!r}: use seconds, 0.05 to 3600"
            )
        try:
            session = float(self.session_timeout)
        except ValueError:
            session = -1.0
        if not 6 <= session <= 90:
            raise ConfigError(
                f"STREAMAPP_SESSION_TIMEOUT={self.session_timeout!r}: use seconds, 6 to 90 "
                "(Kafka's default group.min.session.timeout.ms to the worker's request timeout)"
            )
        try:
            poll = float(self.max_poll_interval)
        except ValueError:
            poll = -1.0
        if not 1 <= poll <= 86400:
            raise ConfigError(
                f"STREAMAPP_MAX_POLL_INTERVAL={self.max_poll_interval!r}: use seconds, 1 to 86400"
            )
        if not self.gc_threshold.isdigit() or not 700 <= int(self.gc_threshold) <= 1_000_000:
            raise ConfigError(
                f"STREAMAPP_GC_THRESHOLD={self.gc_threshold!r}: use a count, 700 to 1000000"
            )
        try:
            sample, window = float(self.slot_lag_interval), float(self.slot_lag_window)
        except ValueError:
            sample, window = -1.0, -1.0
        if not (sample == 0 or 1 <= sample <= 3600):
            raise ConfigError(
                f"STREAMAPP_SLOT_LAG_INTERVAL={self.slot_lag_interval!r}: use seconds, 1 to 3600, "
                "or 0 for off"
            )
        if not 10 <= window <= 86400:
            raise ConfigError(
                f"STREAMAPP_SLOT_LAG_WINDOW={self.slot_lag_window!r}: use seconds, 10 to 86400"
            )
        try:
            heal_wait = float(self.gap_snapshot_timeout)
        except ValueError:
            heal_wait = -1.0
        if not 10 <= heal_wait <= 86400:
            raise ConfigError(
                f"STREAMAPP_GAP_SNAPSHOT_TIMEOUT={self.gap_snapshot_timeout!r}: use seconds, "
                "10 to 86400"
            )
        for env, url in (
            ("STREAMAPP_CONNECT_URL", self.connect_url),
            ("STREAMAPP_REGISTRY_URL", self.registry_url),
            ("STREAMAPP_OPENSEARCH_URL", self.opensearch_url),
        ):
            if not url.startswith(("http://", "https://")):
                shown = redact_url(url)
                raise ConfigError(f"{env}={shown!r}: use an http:// or https:// URL")
        self._check_url_passwords()
        self._check_sink_ca_files()
        if not self.opensearch_replicas.isdigit() or int(self.opensearch_replicas) > 16:
            raise ConfigError(
                f"STREAMAPP_OPENSEARCH_REPLICAS={self.opensearch_replicas!r}: use a count, 0 to 16"
            )
        if re.fullmatch(r"[1-9][0-9]*(ms|s|m|h|d)", self.opensearch_gc_deletes) is None:
            raise ConfigError(
                f"STREAMAPP_OPENSEARCH_GC_DELETES={self.opensearch_gc_deletes!r}: use a time "
                "such as 7d, 48h or 3600s"
            )
        if not self.clickhouse_dsn.startswith(("chdb://", "http://", "https://", "clickhouse://")):
            raise ConfigError(
                "STREAMAPP_CLICKHOUSE_DSN must start with chdb://, http://, https:// or clickhouse://"
            )
        retention = self.dlq_retention_ms
        if not (retention == "-1" or (retention.isdigit() and int(retention) >= 1000)):
            raise ConfigError(
                f"STREAMAPP_DLQ_RETENTION_MS={retention!r}: use milliseconds (at least 1000), "
                "or -1 to keep DLQ records forever"
            )
        if self.dlq_key:
            parse_keys(self.dlq_key, "STREAMAPP_DLQ_KEY")
        from streamapp.kafkaconf import KafkaSecurity

        KafkaSecurity.from_settings(self)

    def _check_url_passwords(self) -> None:
        """Refuse a URL whose password holds characters its client would split it at (the
        client would then misread it and quote a part of the password in its errors)."""
        for f in fields(self):
            if f.name in ("source_dsn", "warehouse_dsn"):
                reserved = "@/?#"  # libpq ends the userinfo at the first @
            elif f.name in (
                "registry_url",
                "redis_url",
                "clickhouse_dsn",
                "connect_url",
                "opensearch_url",
            ):
                reserved = "/?#"  # Python's URL parsers end it at the last @
            else:
                continue
            raw = raw_in_password(getattr(self, f.name), reserved)
            if raw:
                shown = redact_url(getattr(self, f.name))
                encoded = ", ".join(f"{c} as %{ord(c):02X}" for c in raw)
                raise ConfigError(
                    f"{f.metadata['env']}={shown!r}: the password holds a raw "
                    f"{' '.join(raw)}; percent-encode it ({encoded})"
                )

    def _check_sink_ca_files(self) -> None:
        """A sink's CA file goes with a TLS URL and holds PEM certificates."""
        for env, ca, url_env, url, scheme in (
            ("STREAMAPP_REDIS_CA_FILE", self.redis_ca_file,
             "STREAMAPP_REDIS_URL", self.redis_url, "rediss://"),
            ("STREAMAPP_CLICKHOUSE_CA_FILE", self.clickhouse_ca_file,
             "STREAMAPP_CLICKHOUSE_DSN", self.clickhouse_dsn, "https://"),
            ("STREAMAPP_OPENSEARCH_CA_FILE", self.opensearch_ca_file,
             "STREAMAPP_OPENSEARCH_URL", self.opensearch_url, "https://"),
        ):  # fmt: skip
            if not ca:
                continue
            if not url.startswith(scheme):
                raise ConfigError(
                    f"{env} is set but {url_env} is no {scheme} URL: use {scheme} for TLS, "
                    f"or unset {env}"
                )
            path = self.path(ca)
            try:
                ssl.create_default_context(cafile=str(path))
            except OSError:  # also ssl.SSLError: no PEM certificate in the file
                raise ConfigError(
                    f"{env}: {path} is no readable PEM certificate; point it at the CA (PEM) "
                    "that signed the server's certificate"
                ) from None

    def path(self, value: str) -> Path:
        """A configured path, relative ones resolved from the repository root."""
        p = Path(value)
        return p if p.is_absolute() else REPO_ROOT / p

    def mask_secrets(self, environ: Mapping[str, str] | None = None) -> dict[str, bytes]:
        """Named mask secrets: ``default`` from STREAMAPP_MASK_SECRET, ``x`` from ..._SECRET_X.

        No key ever comes from the repository: when STREAMAPP_MASK_SECRET is unset, the
        production profile leaves ``default`` missing (a topology that needs it fails
        validation); the local profile uses the random dev key the local stack generated
        (:meth:`dev_mask_key`) and warns, once per process, naming its key id.
        """
        environ = os.environ if environ is None else environ
        secrets: dict[str, bytes] = {}
        prefix = "STREAMAPP_MASK_SECRET_"
        for name, value in environ.items():
            if name.startswith(prefix) and value:
                secrets[name[len(prefix) :].lower()] = value.encode()
        if self.mask_secret:
            secrets["default"] = self.mask_secret.encode()
        elif self.profile == "local":
            dev = self.dev_mask_key()
            path = self.path(self.mask_dev_key_file)
            if dev is not None:
                secrets["default"] = dev
                _warn_once(
                    "mask-dev",
                    f"STREAMAPP_MASK_SECRET is unset: hmac_sha256/tokenize masks use the local "
                    f"stack's dev key {path} (key id {key_id(dev)}); set STREAMAPP_MASK_SECRET "
                    "for anything but development",
                )
            else:
                _warn_once(
                    "mask-none",
                    f"STREAMAPP_MASK_SECRET is unset and there is no local dev key at {path}: "
                    "topologies with hmac_sha256/tokenize masks cannot start; run `make up` "
                    "(it generates the dev key) or set STREAMAPP_MASK_SECRET",
                )
        return secrets

    def dev_mask_key(self) -> bytes | None:
        """The local stack's dev mask key (32 random bytes), None when the file is missing.

        ConfigError when the file exists but does not hold 64 hex digits.
        """
        path = self.path(self.mask_dev_key_file)
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ConfigError(
                f"STREAMAPP_MASK_DEV_KEY_FILE: cannot read {path} ({exc.strerror}); fix its "
                "permissions or set STREAMAPP_MASK_SECRET"
            ) from None
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ConfigError(
                f"STREAMAPP_MASK_DEV_KEY_FILE: {path} does not hold 64 hex digits; delete it and "
                "run `make up` to generate a new dev key (masked values change with it)"
            )
        return key

    def mask_key_ids(self, environ: Mapping[str, str] | None = None) -> dict[str, str]:
        """The key id of every mask secret (name -> id): safe to log, changes with the key."""
        return {name: key_id(key) for name, key in self.mask_secrets(environ).items()}

    def key_summary(self) -> str:
        """One loggable line: the mask key ids and how DLQ records are stored (no key bytes)."""
        ids = ", ".join(f"{n}={i}" for n, i in sorted(self.mask_key_ids().items())) or "none"
        keys = self.dlq_keys()
        dlq = (
            f"DLQ records sealed (AES-256-GCM) with key id {key_id(keys[0])}"
            if keys
            else "DLQ records stored in clear (set STREAMAPP_DLQ_KEY to seal them)"
        )
        return f"mask key ids: {ids}; {dlq}; DLQ retention.ms={self.dlq_retention_ms}"

    def dlq_keys(self) -> list[bytes]:
        """The DLQ sealing keys (first seals, all open); [] when DLQ records stay clear.

        From STREAMAPP_DLQ_KEY, else from the file STREAMAPP_DLQ_KEY_FILE names.
        """
        if self.dlq_key:
            return parse_keys(self.dlq_key, "STREAMAPP_DLQ_KEY")
        if not self.dlq_key_file:
            return []
        path = self.path(self.dlq_key_file)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(
                f"STREAMAPP_DLQ_KEY_FILE: cannot read {path} ({exc.strerror}); point it at the "
                "file holding the DLQ key, or unset it"
            ) from None
        return parse_keys(text, f"STREAMAPP_DLQ_KEY_FILE ({path})")

    def dlq_sealer(self) -> Sealer | None:
        """The sealer of DLQ records, None when no DLQ key is configured."""
        keys = self.dlq_keys()
        if not keys:
            return None
        from streamapp.dlq.seal import Sealer

        return Sealer(keys)

    def clickhouse_chdb_path(self) -> Path | None:
        """The data dir of an embedded chDB DSN, resolved; None for a server DSN."""
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"STREAMAPP_LOG_FORMAT={self.log_format!r}: use 'text' or 'json'")
        if not self.web_port.isdigit() or int(self.web_port) > 65535:
            raise ConfigError(f"STREAMAPP_WEB_PORT={self.web_port!r}: use a port number, 0 for off")
        if not self.clickhouse_dsn.startswith("chdb://"):
            return None
        return self.path(self.clickhouse_dsn[len("chdb://") :])

    def clickhouse_client_dsn(self) -> str:
        """The DSN to hand to clickhouse-connect (chDB paths made absolute: ``chdb:///abs``)."""
        chdb = self.clickhouse_chdb_path()
        if chdb is not None:
            return f"chdb://{chdb}"
        return _with_query(self.clickhouse_dsn, "ca_cert", self.clickhouse_ca_file, self)

    def iceberg_catalog(self) -> tuple[dict[str, Any], float]:
        """pyiceberg catalog properties (type, uri, warehouse: for a REST catalog only when
        set) and the commit interval in seconds; ConfigError for an unknown catalog scheme or an
        interval out of range."""
        from streamapp.sinks.iceberg.catalog import (
            default_token_endpoint,
            extra_properties,
            rest_properties,
            sql_only_problems,
        )

        uri = self.iceberg_catalog_uri or self.warehouse_dsn
        props: dict[str, Any]
        if uri.startswith(("postgresql://", "postgres://")):
            props = {"type": "sql", "uri": "postgresql+psycopg://" + uri.split("://", 1)[1]}
            wrong = sql_only_problems(self)
            if wrong:
                raise ConfigError(
                    f"{wrong[0]} is for a REST catalog; the SQL catalog takes TLS and the "
                    "password from its postgresql:// URI"
                )
        elif uri.startswith(("http://", "https://")):
            props = rest_properties(self, uri)
        else:
            raise ConfigError(
                f"STREAMAPP_ICEBERG_CATALOG_URI={redact_url(uri)!r}: use postgresql://... "
                "(SQL catalog) or http(s)://... (REST catalog)"
            )
        props.update(extra_properties(self.iceberg_properties))
        warehouse = self.iceberg_warehouse
        if props.get("type") != "sql":  # REST: the server places tables; a name stays a name
            default_token_endpoint(props)
            if warehouse != DEFAULT_ICEBERG_WAREHOUSE:
                props["warehouse"] = warehouse
        else:
            props["warehouse"] = warehouse if "://" in warehouse else self.path(warehouse).as_uri()
        try:
            interval = float(self.iceberg_commit_interval)
        except ValueError:
            interval = -1.0
        if not 0.1 <= interval <= 3600:
            raise ConfigError(
                f"STREAMAPP_ICEBERG_COMMIT_INTERVAL={self.iceberg_commit_interval!r}: "
                "use seconds, 0.1 to 3600"
            )
        return props, interval

    def iceberg_max_pending(self) -> int:
        """STREAMAPP_ICEBERG_MAX_PENDING_ROWS as an int; ConfigError when out of range."""
        raw = self.iceberg_max_pending_rows
        value = int(raw) if raw.strip().isdigit() else -1
        if not 1000 <= value <= 10_000_000:
            raise ConfigError(
                f"STREAMAPP_ICEBERG_MAX_PENDING_ROWS={raw!r}: use a whole number of records, "
                "1000 to 10000000"
            )
        return value

    def redis_client_url(self) -> str:
        """The URL to hand to redis-py: STREAMAPP_REDIS_CA_FILE as its ``ssl_ca_certs``."""
        return _with_query(self.redis_url, "ssl_ca_certs", self.redis_ca_file, self)

    def describe(self) -> list[tuple[str, str, str]]:
        """(env var, current value, doc) rows; secrets shown as set/unset only."""
        rows = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata["secret"]:
                value = self._describe_secret(f.name, value)
            value = redact_url(value)
            rows.append((f.metadata["env"], value, f.metadata["doc"]))
        return rows

    def _describe_secret(self, name: str, value: str) -> str:
        """A secret as ``(set, key id ...)`` / ``(unset...)``: never the value itself."""
        if name == "mask_secret":
            if value:
                return f"(set, key id {key_id(value.encode())})"
            dev = self.dev_mask_key() if self.profile == "local" else None
            return "(unset)" if dev is None else f"(unset: local dev key, key id {key_id(dev)})"
        if name == "dlq_key":
            keys = self.dlq_keys()
            if not keys:
                return "(unset: DLQ records are stored in clear)"
            source = "set" if value else "from STREAMAPP_DLQ_KEY_FILE"
            return f"({source}, sealing key id {key_id(keys[0])}, {len(keys)} key(s))"
        if name == "kafka_properties" and value:
            from streamapp.kafkaconf import parse_properties

            names = ", ".join(k for k, _ in parse_properties(value))
            return f"(set: {names})"
        if name == "iceberg_properties" and value:
            from streamapp.sinks.iceberg.catalog import extra_properties

            return f"(set: {', '.join(extra_properties(value))})"
        return "(set)" if value else "(unset)"


def _with_query(url: str, name: str, file: str, settings: Settings) -> str:
    """``url`` with ``name=<file, absolute>`` added to its query; ``url`` when ``file`` is ''."""
    if not file:
        return url
    value = quote(str(settings.path(file)), safe="/")
    return f"{url}{'&' if '?' in url else '?'}{name}={value}"


def key_id(key: bytes) -> str:
    """A short, stable id of a key (see :func:`streamapp.transform.mask.key_id`)."""
    from streamapp.transform.mask import key_id as mask_key_id

    return mask_key_id(key)


def parse_keys(text: str, where: str) -> list[bytes]:
    """Comma-separated 32-byte keys, each 64 hex digits or base64 (standard or URL-safe,
    padding optional); ConfigError naming ``where`` (never the value) otherwise."""
    keys = []
    for part in (p.strip() for p in text.split(",")):
        key = _decode_key(part)
        if key is None:
            raise ConfigError(
                f"{where}: every key must be 32 random bytes written as 64 hex digits or base64 "
                "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        keys.append(key)
    return keys


def _decode_key(text: str) -> bytes | None:
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    padded = text + "=" * (-len(text) % 4)
    try:
        key = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
    except ValueError:
        return None
    return key if len(key) == 32 else None


def _warn_once(what: str, message: str) -> None:
    if what not in _warned:
        _warned.add(what)
        log.warning(message)
