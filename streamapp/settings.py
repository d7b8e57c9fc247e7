"""All runtime configuration: one frozen Settings object read from STREAMAPP_* env vars.

Every setting has a default that points at the local stack (``make up``), an env var, and a row
in the README's configuration table (a test keeps the two in step).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from streamapp.errors import ConfigError
from streamapp.redact import raw_in_password, redact_url

__all__ = ["REPO_ROOT", "Settings", "redact_url"]

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCAL_MASK_SECRET = "local-dev-secret-not-for-production"


def _setting(env: str, default: str, doc: str) -> str:
    result: str = field(default=default, metadata={"env": env, "doc": doc})
    return result


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
    source_dsn: str = _setting(
        "STREAMAPP_SOURCE_DSN",
        "postgresql://streamapp:streamapp@127.0.0.1:15432/source",
        "source PostgreSQL (the database Debezium reads)",
    )
    warehouse_dsn: str = _setting(
        "STREAMAPP_WAREHOUSE_DSN",
        "postgresql://streamapp:streamapp@127.0.0.1:15432/warehouse",
        "PostgreSQL sink database",
    )
    redis_url: str = _setting(
        "STREAMAPP_REDIS_URL", "redis://127.0.0.1:16379/0", "Redis cache sink"
    )
    clickhouse_dsn: str = _setting(
        "STREAMAPP_CLICKHOUSE_DSN",
        "chdb://.stack/data/chdb",
        "ClickHouse sink: `chdb://<dir>` (embedded, relative paths from the repo root) "
        "or `http://user:pass@host:8123/db`",
    )
    connect_url: str = _setting(
        "STREAMAPP_CONNECT_URL",
        "http://127.0.0.1:18083",
        "Kafka Connect REST API (`streamapp snapshot`; `streamapp check` requires it when set)",
    )
    topologies_dir: str = _setting(
        "STREAMAPP_TOPOLOGIES_DIR", "topologies", "folder of topology modules"
    )
    schemas_dir: str = _setting("STREAMAPP_SCHEMAS_DIR", "schemas", "folder of output .avsc files")
    mask_secret: str = _setting(
        "STREAMAPP_MASK_SECRET",
        "",
        "key for hmac_sha256/tokenize masks (`STREAMAPP_MASK_SECRET_<NAME>` for named secrets); "
        "the local profile falls back to a fixed dev key",
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
    log_level: str = _setting("STREAMAPP_LOG_LEVEL", "INFO", "log level")
    log_format: str = _setting(
        "STREAMAPP_LOG_FORMAT", "text", "`text`, or `json` for one JSON object per line"
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every setting from ``environ`` (default: os.environ); ConfigError if invalid."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"], "").strip()
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
        if not self.gc_threshold.isdigit() or not 700 <= int(self.gc_threshold) <= 1_000_000:
            raise ConfigError(
                f"STREAMAPP_GC_THRESHOLD={self.gc_threshold!r}: use a count, 700 to 1000000"
            )
        for env, url in (
            ("STREAMAPP_CONNECT_URL", self.connect_url),
            ("STREAMAPP_REGISTRY_URL", self.registry_url),
        ):
            if not url.startswith(("http://", "https://")):
                shown = redact_url(url)
                raise ConfigError(f"{env}={shown!r}: use an http:// or https:// URL")
        self._check_url_passwords()
        if not self.clickhouse_dsn.startswith(("chdb://", "http://", "https://", "clickhouse://")):
            raise ConfigError(
                "STREAMAPP_CLICKHOUSE_DSN must start with chdb://, http://, https:// or clickhouse://"
            )

    def _check_url_passwords(self) -> None:
        """Refuse a URL whose password holds characters its client would split it at (the
        client would then misread it and quote a part of the password in its errors)."""
        for f in fields(self):
            if f.name in ("source_dsn", "warehouse_dsn"):
                reserved = "@/?#"  # libpq ends the userinfo at the first @
            elif f.name in ("registry_url", "redis_url", "clickhouse_dsn", "connect_url"):
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

    def path(self, value: str) -> Path:
        """A configured path, relative ones resolved from the repository root."""
        p = Path(value)
        return p if p.is_absolute() else REPO_ROOT / p

    def mask_secrets(self, environ: Mapping[str, str] | None = None) -> dict[str, bytes]:
        """Named mask secrets: ``default`` from STREAMAPP_MASK_SECRET, ``x`` from ..._SECRET_X.

        In the production profile a missing default secret stays missing, so a topology that needs
        it fails validation; the local profile uses a fixed development key.
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
            secrets["default"] = LOCAL_MASK_SECRET.encode()
        return secrets

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
        return self.clickhouse_dsn if chdb is None else f"chdb://{chdb}"

    def describe(self) -> list[tuple[str, str, str]]:
        """(env var, current value, doc) rows; secrets shown as set/unset only."""
        rows = []
        for f in fields(self):
            value = getattr(self, f.name)
            if "secret" in f.name:
                value = "(set)" if value else "(unset)"
            value = redact_url(value)
            rows.append((f.metadata["env"], value, f.metadata["doc"]))
        return rows
