"""Kafka Connect 3.9 (distributed worker) with Debezium's PostgreSQL and MariaDB connectors."""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.error
import urllib.request
from typing import Any

from common import (
    REPO,
    Config,
    SpawnedService,
    StackError,
    ensure_port_free,
    port_open,
    require_tool,
    run,
    say,
    spawn,
    wait_ready,
)
from kafka import KAFKA_VERSION, resolve_jars

HERE = REPO / "infra/local/connect"
SOURCE_SQL = REPO / "infra/local/source/shop.sql"
POSTGRES_CONNECTOR = "io.debezium.connector.postgresql.PostgresConnector"
MARIADB_CONNECTOR = "io.debezium.connector.mariadb.MariaDbConnector"
REQUIRED = (POSTGRES_CONNECTOR, MARIADB_CONNECTOR)
DEBEZIUM_VERSION = "3.0.8.Final"
APICURIO_VERSION = "2.6.13.Final"  # the converter; see plugins/apicurio-converter/pom.xml
# name -> connector configuration file (a flat Connect config map, "name" included)
CONNECTOR_FILES = {
    "shop": HERE / "shop-avro.json",
    "shopjson": HERE / "shop-json.json",
    "mariadb": HERE / "shop-mariadb.json",
}

WORKER_PROPERTIES = """# written by infra/local/stack (streamapp local stack)
bootstrap.servers=127.0.0.1:{kafka_port}
group.id=streamapp-connect
listeners=http://127.0.0.1:{port}
rest.advertised.host.name=127.0.0.1
rest.advertised.port={port}
plugin.path={plugins}
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
config.storage.topic=_streamapp_connect_configs
offset.storage.topic=_streamapp_connect_offsets
status.storage.topic=_streamapp_connect_status
config.storage.replication.factor=1
offset.storage.replication.factor=1
offset.storage.partitions=5
status.storage.replication.factor=1
status.storage.partitions=1
offset.flush.interval.ms=1000
task.shutdown.graceful.timeout.ms=10000
"""


class Connect(SpawnedService):
    """The Connect worker: jars from Maven, Debezium on ``plugin.path``, connectors by REST.

    ``healthy`` is a real round trip (``GET /connector-plugins`` lists the PostgreSQL and
    MariaDB connectors);
    ``wait`` then applies the sample schema to the ``source`` database and registers the
    connectors named in ``STREAMAPP_CONNECT_CONNECTORS`` (``PUT /connectors/<name>/config``,
    idempotent) and waits until each one and its task are RUNNING.
    """

    name = "connect"
    stop_grace = 45.0

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.data = cfg.data(self.name)
        home = cfg.cache_dir / f"connect-{KAFKA_VERSION}"
        self.libs = home / "libs"
        # plugin.path: one directory per plugin inside a root named after both versions, so
        # plugins left by other versions are never loaded next to these.
        self.plugins = home / f"plugins-debezium-{DEBEZIUM_VERSION}-apicurio-{APICURIO_VERSION}"
        self.props = self.data / "connect-distributed.properties"

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.cfg.connect_port}"

    def prepare(self) -> None:
        resolve_jars(self.cfg, HERE / "pom.xml", self.libs, f"Kafka Connect {KAFKA_VERSION}")
        resolve_jars(
            self.cfg,
            HERE / "plugins/debezium-postgres/pom.xml",
            self.plugins / "debezium-postgres",
            f"Debezium PostgreSQL connector {DEBEZIUM_VERSION}",
        )
        resolve_jars(
            self.cfg,
            HERE / "plugins/debezium-mariadb/pom.xml",
            self.plugins / "debezium-mariadb",
            "Debezium MariaDB connector (see plugins/debezium-mariadb/pom.xml)",
        )
        resolve_jars(
            self.cfg,
            HERE / "plugins/apicurio-converter/pom.xml",
            self.plugins / "apicurio-converter",
            f"Apicurio converter {APICURIO_VERSION}",
        )
        self.data.mkdir(parents=True, exist_ok=True)
        self.props.write_text(
            WORKER_PROPERTIES.format(
                kafka_port=self.cfg.kafka_port,
                port=self.cfg.connect_port,
                plugins=self.plugins,
            )
        )
        for name in self.cfg.connectors:
            if name not in CONNECTOR_FILES:
                raise StackError(
                    f"STREAMAPP_CONNECT_CONNECTORS names {name!r}; known connectors: "
                    f"{', '.join(CONNECTOR_FILES)}"
                )

    def start(self) -> None:
        ensure_port_free(self.cfg.connect_port, self.name, "STREAMAPP_CONNECT_PORT")
        if not port_open(self.cfg.kafka_port):
            raise StackError(
                f"connect needs Kafka at 127.0.0.1:{self.cfg.kafka_port}, which is not "
                "answering; start it first (`python3 infra/local/stack up kafka`)"
            )
        java = require_tool(
            "java", "install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)"
        )
        heap = self.cfg.connect_heap
        spawn(
            [
                java,
                f"-Xmx{heap}",
                "-Xms128m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{HERE / 'log4j.properties'}",
                f"-Dstreamapp.log.file={self.log}",
                "-cp",
                f"{self.libs}/*",
                "org.apache.kafka.connect.cli.ConnectDistributed",
                str(self.props),
            ],
            log=self.cfg.state_dir / "logs" / "connect.stdout.log",
            pidfile=self.pidfile,
        )

    # -- REST -------------------------------------------------------------------------------
    def rest(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        """One call to the Connect REST API; the parsed JSON answer (None when empty).

        HTTP 409 (the worker group is rebalancing) is retried for up to 30 s.
        """
        request = urllib.request.Request(
            f"{self.address}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(request, timeout=timeout) as resp:
                    raw = resp.read()
                return json.loads(raw) if raw else None
            except urllib.error.HTTPError as exc:
                if exc.code != 409 or time.monotonic() > deadline:
                    raise
            time.sleep(1)

    def healthy(self) -> bool:
        return not self.missing_plugins()

    def missing_plugins(self) -> list[str]:
        """The connector classes of REQUIRED that the worker does not list."""
        plugins = self.rest("GET", "/connector-plugins", timeout=3)
        have = {p.get("class") for p in plugins}
        return [c for c in REQUIRED if c not in have]

    def outdated(self) -> str | None:
        """Why a running worker must be restarted (it predates a plugin), or None."""
        try:
            missing = self.missing_plugins()
        except (OSError, ValueError):
            return None  # not answering (yet): nothing to tell
        return f"runs without {', '.join(missing)}" if missing else None

    def _answers(self) -> bool:
        return isinstance(self.rest("GET", "/connector-plugins", timeout=3), list)

    def connector_states(self) -> dict[str, tuple[str, list[str]]]:
        """name -> (connector state, [task states]) for every connector on the worker."""
        answer = self.rest("GET", "/connectors?expand=status", timeout=5)
        out = {}
        for name, info in sorted(answer.items()):
            status = info.get("status", {})
            tasks = [t.get("state", "?") for t in status.get("tasks", [])]
            out[name] = (status.get("connector", {}).get("state", "?"), tasks)
        return out

    def details(self) -> list[tuple[str, bool]]:
        """One (line, ok) per connector for `status`: ok when it and all its tasks run."""
        lines = []
        for name, (state, tasks) in self.connector_states().items():
            ok = state == "RUNNING" and bool(tasks) and all(t == "RUNNING" for t in tasks)
            shown = state if ok else f"{state} (tasks: {', '.join(tasks) or 'none'})"
            lines.append((f"  connector {name}: {shown}", ok))
        return lines

    # -- after start-up: schema and connectors ------------------------------------------------
    def wait(self) -> float:
        # Connect scans plugin.path before its REST server starts, so once it answers, a
        # missing connector plugin will not appear later: fail at once, saying where to look.
        took = wait_ready(
            self.name,
            self._answers,
            timeout=self.cfg.ready_timeout,
            log=self.log,
            alive=lambda: self.pid() is not None,
        )
        missing = self.missing_plugins()
        if missing:
            raise StackError(
                f"Kafka Connect runs but does not list {', '.join(missing)}; check the jars in "
                f"{self.plugins} (delete the folder to resolve them again) and {self.log}"
            )
        if self.cfg.connectors:
            self.apply_source_schema()
            for name in self.cfg.connectors:
                self.register(name)
            for name in self.cfg.connectors:
                self.wait_running(name)
        return took

    def apply_source_schema(self) -> None:
        """Apply infra/local/source/shop.sql to the ``source`` database (idempotent)."""
        psql = self.cfg.pg_bin / "psql"
        env = dict(os.environ, PGPASSWORD=self.cfg.pg_password, PGCONNECT_TIMEOUT="5")
        run(
            [
                str(psql),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.cfg.pg_port),
                "-U",
                self.cfg.pg_user,
                "-d",
                "source",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                str(SOURCE_SQL),
            ],
            what=f"apply {SOURCE_SQL.relative_to(REPO)} to the source database",
            env_=env,
        )

    def connector_config(self, name: str) -> dict[str, str]:
        """The connector's file with this stack's ports, credentials and registry URL."""
        config: dict[str, str] = json.loads(CONNECTOR_FILES[name].read_text())
        return localize(config, self.cfg)

    def register(self, name: str) -> None:
        try:
            self.rest("PUT", f"/connectors/{name}/config", self.connector_config(name), 30)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            with contextlib.suppress(ValueError, KeyError, TypeError):
                detail = str(json.loads(detail)["message"])
            detail = " ".join(detail.split())[:400]
            raise StackError(
                f"Connect refused connector {name!r} (HTTP {exc.code}: {detail}); "
                f"check {CONNECTOR_FILES[name].relative_to(REPO)}"
            ) from None
        say(f"connector {name} registered ({CONNECTOR_FILES[name].name})")

    def wait_running(self, name: str) -> None:
        """Wait until the connector and its tasks run; a FAILED one is restarted once (its
        status may also be stale, from before this worker started)."""
        deadline = time.monotonic() + self.cfg.ready_timeout
        restarted: float | None = None
        state, tasks = "?", list[str]()
        while time.monotonic() < deadline:
            state, tasks = self.connector_states().get(name, ("UNASSIGNED", []))
            if state == "RUNNING" and tasks and all(t == "RUNNING" for t in tasks):
                return
            if state == "FAILED" or "FAILED" in tasks:
                if restarted is None:
                    self.rest(
                        "POST", f"/connectors/{name}/restart?includeTasks=true&onlyFailed=true"
                    )
                    restarted = time.monotonic()
                elif time.monotonic() - restarted > 30:
                    break
            time.sleep(0.5)
        shown = f"{state} (tasks: {', '.join(tasks) or 'none'})"
        raise StackError(
            f"connector {name!r} is {shown}{self._trace(name)}; see "
            f"`curl {self.address}/connectors/{name}/status` and {self.log}"
        )

    def _trace(self, name: str) -> str:
        """``: <first line of the failure>`` of a failed connector or task, or ''."""
        try:
            status = self.rest("GET", f"/connectors/{name}/status", timeout=5)
        except (OSError, ValueError):
            return ""
        for part in (status.get("connector", {}), *status.get("tasks", [])):
            if part.get("trace"):
                return ": " + str(part["trace"]).splitlines()[0][:300]
        return ""


def localize(config: dict[str, str], cfg: Config) -> dict[str, str]:
    """Point a connector config at this stack: database port/credentials, Kafka, registry URL."""
    out = dict(config)
    if out.get("connector.class") == MARIADB_CONNECTOR:
        out["database.port"] = str(cfg.mariadb_port)
        out["database.user"] = cfg.mariadb_user
        out["database.password"] = cfg.mariadb_password
        out["schema.history.internal.kafka.bootstrap.servers"] = f"127.0.0.1:{cfg.kafka_port}"
    else:
        out["database.port"] = str(cfg.pg_port)
        out["database.user"] = cfg.pg_user
        out["database.password"] = cfg.pg_password
    registry = f"http://127.0.0.1:{cfg.registry_port}/apis/registry/v2"
    for key in list(out):
        if key.endswith("apicurio.registry.url"):
            out[key] = registry
    return out
