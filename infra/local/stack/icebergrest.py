"""Iceberg REST catalog: Iceberg 1.10's reference servlet on Jetty, its catalog in PostgreSQL.

Started by ``up`` with the other services (``up iceberg-rest`` starts it alone). Jars are resolved
with Maven from ``infra/local/iceberg/pom.xml`` into ``<cache>/iceberg-rest-<version>/libs-<digest
of the pom>``; the process is ``java -cp <libs>/* org.eclipse.jetty.xml.XmlConfiguration
rest-catalog.xml`` on loopback. The catalog's tables (JdbcCatalog: ``iceberg_tables``,
``iceberg_namespace_properties``) live in the stack PostgreSQL's database ``iceberg_rest``, so
namespaces and tables survive a restart; table metadata (and the data pyiceberg writes, at the
locations the server hands out) lives under ``<stack>/data/iceberg-rest/warehouse``. The same
server runs a second catalog on STREAMAPP_ICEBERG_REST_S3_PORT (default: the first port + 1)
whose warehouse is ``s3://<bucket>/rest`` on the stack's S3 store (the ``s3`` service): it writes
metadata there with S3FileIO and the store's key (passed by the environment, a digest of it in
the restart fingerprint); a client writes data files with its own ``s3.*`` properties.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
import uuid
from typing import Any

from common import (
    REPO,
    Config,
    FingerprintedService,
    ensure_port_free,
    env,
    require_tool,
    spawn,
)
from kafka import pom_digest, resolve_jars
from postgres import Postgres
from s3 import S3

HERE = REPO / "infra/local/iceberg"
POM = HERE / "pom.xml"
XML = HERE / "rest-catalog.xml"
ICEBERG_VERSION = "1.10.0"  # keep in step with iceberg.version in the pom
DATABASE = "iceberg_rest"
READY_PREFIX = "streamapp_stack_ready_"
JAVA_HINT = "install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)"


class IcebergRest(FingerprintedService):
    """The catalog server; ``healthy`` is a real round trip: GET /v1/config, create a namespace
    READY_PREFIX + random hex (written to PostgreSQL), find it in the list, drop it."""

    name = "iceberg-rest"
    stop_grace = 15.0

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.port = cfg.iceberg_rest_port
        self.heap = env("STREAMAPP_ICEBERG_REST_HEAP", "256m")
        self.data = cfg.data(self.name)
        self.warehouse = self.data / "warehouse"
        self.libs = cfg.cache_dir / f"iceberg-rest-{ICEBERG_VERSION}" / f"libs-{pom_digest(POM)}"
        self.s3_port = cfg.iceberg_rest_s3_port
        self.store = S3(cfg)  # the second catalog's warehouse
        self.s3_warehouse = f"s3://{self.store.bucket}/rest"

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.port} (file), http://127.0.0.1:{self.s3_port} (s3)"

    def url(self, port: int) -> str:
        return f"http://127.0.0.1:{port}"

    def prepare(self) -> None:
        resolve_jars(self.cfg, POM, self.libs, f"Iceberg REST catalog {ICEBERG_VERSION}")
        self.warehouse.mkdir(parents=True, exist_ok=True)
        (self.data / "tmp").mkdir(exist_ok=True)

    def fingerprint(self) -> str:
        """What the server runs with, minus secrets: a change restarts it on ``up``."""
        return json.dumps(
            {
                "libs": str(self.libs),
                "xml": XML.read_text(),
                "port": self.port,
                "heap": self.heap,
                "jdbc": self.jdbc_uri(),
                "warehouse": self.warehouse.as_uri(),
                "s3_port": self.s3_port,
                "s3_warehouse": self.s3_warehouse,
                "s3": self.store.endpoint,
                "s3_key": hashlib.sha256(
                    f"{self.store.access_key}:{self.store.secret_key}".encode()
                ).hexdigest(),
            },
            sort_keys=True,
        )

    def jdbc_uri(self) -> str:
        return f"jdbc:postgresql://127.0.0.1:{self.cfg.pg_port}/{DATABASE}"

    def ensure_database(self) -> None:
        """Create DATABASE in the stack's PostgreSQL when missing (StackError when it is down)."""
        pg = Postgres(self.cfg)
        if pg.query(f"select 1 from pg_database where datname = '{DATABASE}'").strip() != "1":
            pg.query(f'create database "{DATABASE}"')

    def start(self) -> None:
        ensure_port_free(self.port, self.name, "STREAMAPP_ICEBERG_REST_PORT")
        ensure_port_free(self.s3_port, self.name, "STREAMAPP_ICEBERG_REST_S3_PORT")
        java = require_tool("java", JAVA_HINT)
        self.ensure_database()
        self.record_start()
        spawn(
            [
                java,
                f"-Xmx{self.heap}",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-Djava.awt.headless=true",
                "-Dfile.encoding=UTF-8",
                f"-Djava.io.tmpdir={self.data / 'tmp'}",
                "-cp",
                f"{self.libs}/*",
                "org.eclipse.jetty.xml.XmlConfiguration",
                str(XML),
            ],
            log=self.log,
            pidfile=self.pidfile,
            # the password goes by the environment, not the command line `ps` shows
            env_=dict(
                os.environ,
                ICEBERG_REST_HOST="127.0.0.1",
                ICEBERG_REST_PORT=str(self.port),
                ICEBERG_REST_JDBC_URI=self.jdbc_uri(),
                ICEBERG_REST_JDBC_USER=self.cfg.pg_user,
                ICEBERG_REST_JDBC_PASSWORD=self.cfg.pg_password,
                ICEBERG_REST_WAREHOUSE=self.warehouse.as_uri(),
                ICEBERG_REST_S3_PORT=str(self.s3_port),
                ICEBERG_REST_S3_WAREHOUSE=self.s3_warehouse,
                ICEBERG_REST_S3_ENDPOINT=self.store.endpoint,
                ICEBERG_REST_S3_ACCESS_KEY=self.store.access_key,
                ICEBERG_REST_S3_SECRET_KEY=self.store.secret_key,
                # the AWS SDK's default CRC trailers in aws-chunked uploads, which S3Proxy (as
                # older MinIO and Ceph) refuses: checksums only where an operation requires them
                AWS_REQUEST_CHECKSUM_CALCULATION="WHEN_REQUIRED",
                AWS_RESPONSE_CHECKSUM_VALIDATION="WHEN_REQUIRED",
            ),
        )

    def rest(self, method: str, path: str, body: Any = None, *, port: int | None = None) -> Any:
        """One call to a catalog's REST API (``port``: the file catalog's by default); the
        parsed JSON answer."""
        request = urllib.request.Request(
            f"{self.url(port or self.port)}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read() or b"null")

    def healthy(self) -> bool:
        return all(self._round_trip(port) for port in (self.port, self.s3_port))

    def _round_trip(self, port: int) -> bool:
        config = self.rest("GET", "/v1/config", port=port)
        if not isinstance(config, dict) or "defaults" not in config:
            return False
        probe = f"{READY_PREFIX}{uuid.uuid4().hex[:12]}"
        self.rest("POST", "/v1/namespaces", {"namespace": [probe], "properties": {}}, port=port)
        try:
            listed = self.rest("GET", "/v1/namespaces", port=port)
        finally:
            self.rest("DELETE", f"/v1/namespaces/{probe}", port=port)
        return [probe] in listed.get("namespaces", [])
