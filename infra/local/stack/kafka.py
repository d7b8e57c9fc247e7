"""Apache Kafka 3.9 in KRaft combined mode (broker + controller) and its command-line tools.

Jars are resolved with Maven into ``<cache>/kafka-<version>/libs-<digest of the pom>``: a changed
pom resolves into a new directory on the next ``up`` (a running broker keeps its own).
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import certs
import kafkasasl
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
)

POM = REPO / "infra/local/kafka/pom.xml"
LOG4J = REPO / "infra/local/kafka/log4j.properties"
TOOLS_LOG4J = REPO / "infra/local/kafka/tools-log4j.properties"
KAFKA_VERSION = "3.9.1"
# Kafka's bin/ script name -> its main class (kafka-tools), run by ``stack <name> ARGS...``.
TOOLS = {"kafka-consumer-groups": "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"}

SERVER_PROPERTIES = """# written by infra/local/stack (streamapp local stack)
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port},\
SASL_SSL://127.0.0.1:{sasl_port},SSL://127.0.0.1:{mtls_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},SASL_SSL://127.0.0.1:{sasl_port},\
SSL://127.0.0.1:{mtls_port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
log.dirs={log_dir}
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
log.retention.hours=168
log.segment.bytes=268435456
"""


def pom_digest(pom: Path) -> str:
    """A short digest of ``pom``'s content, to key a cache directory on it."""
    return hashlib.sha256(pom.read_bytes()).hexdigest()[:12]


def resolve_jars(cfg: Config, pom: Path, dest: Path, what: str) -> Path:
    """Copy the pom's dependencies from Maven Central into ``dest`` once (a cache)."""
    marker = dest / ".complete"
    if marker.exists():
        return dest
    require_tool("java", "install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)")
    mvn = require_tool("mvn", "install Maven (apt-get install -y maven)")
    say(f"resolving {what} with Maven into {dest} (first run only)")
    dest.mkdir(parents=True, exist_ok=True)
    run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={dest}",
            "-DincludeScope=runtime",
        ],
        what=f"mvn resolve {what}",
    )
    marker.write_text("ok\n")
    return dest


class Kafka(SpawnedService):
    name = "kafka"
    stop_grace = 60.0

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.data = cfg.data(self.name)
        self.libs = cfg.cache_dir / f"kafka-{KAFKA_VERSION}" / f"libs-{pom_digest(POM)}"
        self.props = self.data / "server.properties"
        # the properties the running broker was started with (see outdated())
        self.started_props = self.data / "server.properties.started"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.cfg.kafka_port}"

    def _java(self, main: str, *args: str, heap: str = "256m") -> list[str]:
        java = require_tool(
            "java", "install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)"
        )
        return [
            java,
            f"-Xmx{heap}",
            f"-Xms{heap}" if heap != "256m" else "-Xms64m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{LOG4J}",
            f"-Dstreamapp.log.file={self.log}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def prepare(self) -> None:
        resolve_jars(self.cfg, POM, self.libs, f"Kafka {KAFKA_VERSION}")
        self.data.mkdir(parents=True, exist_ok=True)
        log_dir = self.data / "logs"
        self.props.write_text(
            SERVER_PROPERTIES.format(
                port=self.cfg.kafka_port,
                controller_port=self.cfg.kafka_controller_port,
                sasl_port=self.cfg.kafka_sasl_port,
                mtls_port=self.cfg.kafka_mtls_port,
                log_dir=log_dir,
            )
            + kafkasasl.listener_properties(self.cfg)
        )
        # the mTLS listener's client certificate, for tests and users of the stack
        certs.issue(self.cfg, kafkasasl.MTLS_CLIENT, common_name=kafkasasl.MTLS_CLIENT)
        if (log_dir / "meta.properties").exists():
            return
        say("formatting Kafka KRaft storage")
        self.log.parent.mkdir(parents=True, exist_ok=True)
        cluster_id = kafka_cluster_id()
        run(
            self._java(
                "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.props)
            ),
            what="kafka StorageTool format",
        )

    def start(self) -> None:
        ensure_port_free(self.cfg.kafka_port, self.name, "STREAMAPP_KAFKA_PORT")
        ensure_port_free(
            self.cfg.kafka_controller_port, "kafka controller", "STREAMAPP_KAFKA_CONTROLLER_PORT"
        )
        ensure_port_free(self.cfg.kafka_sasl_port, "kafka SASL_SSL", "STREAMAPP_KAFKA_SASL_PORT")
        ensure_port_free(self.cfg.kafka_mtls_port, "kafka mTLS", "STREAMAPP_KAFKA_MTLS_PORT")
        self.started_props.write_text(self.props.read_text())
        spawn(
            self._java("kafka.Kafka", str(self.props), heap=self.cfg.kafka_heap),
            log=self.cfg.state_dir / "logs" / "kafka.stdout.log",
            pidfile=self.pidfile,
        )

    def healthy(self) -> bool:
        return metadata_brokers("127.0.0.1", self.cfg.kafka_port) >= 1

    def outdated(self) -> str | None:
        """Why the running broker must be restarted ('up' does it): it was started with other
        properties than ``prepare`` wrote (e.g. before the mTLS listener existed), else None."""
        started = self.started_props.read_text() if self.started_props.exists() else ""
        if started != self.props.read_text():
            return "runs with older server.properties (e.g. without the SASL_SSL or mTLS listener)"
        return None

    def wait(self) -> float:
        """Wait until the broker answers, then make sure its SASL_SSL users and ACLs exist."""
        took = super().wait()
        ports = (self.cfg.kafka_sasl_port, self.cfg.kafka_mtls_port)
        deadline = time.monotonic() + 10  # listeners open together; allow for a slow machine
        while not all(map(port_open, ports)) and time.monotonic() < deadline:
            time.sleep(0.5)
        closed = [p for p in ports if not port_open(p)]
        if closed:
            say(
                f"kafka has no SASL_SSL/mTLS listener on {closed[0]}: see {self.log} "
                "(make down, make up restarts it)"
            )
            return took
        java = require_tool(
            "java", "install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)"
        )
        tools = [java, "-Xmx256m", f"-Dlog4j.configuration=file:{TOOLS_LOG4J}"]
        kafkasasl.ensure_users(self.cfg, [*tools, "-cp", f"{self.libs}/*"], self.address)
        return took

    def tool(self, name: str, args: list[str]) -> int:
        """Run Kafka's ``name`` tool (see TOOLS) with ``args``; its exit code.

        ``--bootstrap-server`` defaults to this stack's broker, which must then be running.
        """
        given = any(a.split("=", 1)[0] == "--bootstrap-server" for a in args)
        if not given and not port_open(self.cfg.kafka_port):
            raise StackError(f"kafka is not running at {self.address}; start it with `make up`")
        resolve_jars(self.cfg, POM, self.libs, f"Kafka {KAFKA_VERSION}")
        java = require_tool(
            "java", "install OpenJDK 17 (apt-get install -y openjdk-17-jre-headless)"
        )
        server = [] if given else ["--bootstrap-server", self.address]
        return subprocess.call(
            [
                java,
                "-Xmx256m",
                f"-Dlog4j.configuration=file:{TOOLS_LOG4J}",
                "-cp",
                f"{self.libs}/*",
                TOOLS[name],
                *server,
                *args,
            ]
        )


def kafka_cluster_id(random_bytes: Callable[[], bytes] = lambda: uuid.uuid4().bytes) -> str:
    """A random cluster id as Kafka's ``Uuid.randomUuid()`` makes it: 16 random bytes in URL-safe
    base64 without padding, drawn again while the text starts with ``-`` (StorageTool's argument
    parser would read such an id as an option: one fresh stack in 64 failed to format)."""
    while True:
        text = base64.urlsafe_b64encode(random_bytes()).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def metadata_brokers(host: str, port: int) -> int:
    """A real round trip: a Metadata v1 request; returns how many brokers the cluster reports."""
    client = b"streamapp-stack"
    body = struct.pack(">hhih", 3, 1, 7, len(client)) + client + struct.pack(">i", 0)
    with socket.create_connection((host, port), timeout=3) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        header = _recv_exact(sock, 4)
        payload = _recv_exact(sock, struct.unpack(">i", header)[0])
    correlation, brokers = struct.unpack(">ii", payload[:8])
    if correlation != 7:
        raise StackError("kafka answered a different request")
    return brokers


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            raise OSError("connection closed")
        chunks += chunk
    return bytes(chunks)
