"""Run a real `streamapp worker` process over a generated topology, and feed it Debezium events.

Everything is named after the test's ``unique`` prefix: source/output/DLQ topics, the consumer
group, the PostgreSQL and ClickHouse tables, the Redis keys. The worker gets its own embedded
chDB directory (one process per chDB path), read back by a short subprocess after it stopped.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema

from streamapp.settings import Settings
from streamapp.synth import Table
from streamapp.wire import frame

COLUMNS = {
    "id": "int",
    "email": "string",
    "amount": "decimal(10,2)",
    "qty": "string",
    "note": "string",
    "updated_at": "timestamp",
    "score": "float",
}

TOPOLOGY = """
from streamapp.topology import Output, Sink, Source, Topology, t

topology = Topology(
    name="{name}",
    source=Source(topic="{topic}", columns={columns!r}),
    key=["id"],
    transforms=[
        t.mask("email", t.hmac_sha256()),
        t.cast(qty="int"),
        t.metadata("__op", "__source_ts_ms"),
    ],
    output=Output(topic="{output}"),
    sinks=[Sink.clickhouse("{table}"), Sink.postgres("{table}"), Sink.redis("{table}:{{id}}")],
)
"""


class WorkerHarness:
    """One topology, one source topic, and a worker process that can be started and killed."""

    def __init__(
        self, settings: Settings, unique: str, tmp: Path, registry: Any, partitions: int = 3
    ) -> None:
        self.settings = settings
        self.unique = unique
        self.tmp = tmp
        self.registry = registry
        self.partitions = partitions
        self.table = unique
        self.source = Table(unique, COLUMNS, ["id"], server="it", schema="public")
        self.topic = self.source.topic
        self.output = f"{unique}.out"
        self.dlq = f"{self.topic}.dlq"
        (tmp / "topologies").mkdir()
        (tmp / "schemas").mkdir()
        (tmp / "topologies" / f"{unique}.py").write_text(
            TOPOLOGY.format(
                name=unique, topic=self.topic, columns=COLUMNS, output=self.output, table=unique
            )
        )
        self.chdb = tmp / "chdb"
        self.log = tmp / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.web_port = 0  # endpoints off unless a test picks a port
        self._producer = Producer(
            {"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True}
        )
        self._value_id = registry.register_schema(
            f"{self.topic}-value", Schema(json.dumps(self.source.value_schema), "AVRO")
        )
        self._key_id = registry.register_schema(
            f"{self.topic}-key", Schema(json.dumps(self.source.key_schema), "AVRO")
        )
        self._value_schema = fastavro.parse_schema(self.source.value_schema)
        self._key_schema = fastavro.parse_schema(self.source.key_schema)

    @property
    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            STREAMAPP_TOPOLOGIES_DIR=str(self.tmp / "topologies"),
            STREAMAPP_SCHEMAS_DIR=str(self.tmp / "schemas"),
            STREAMAPP_GROUP_ID=f"{self.unique}-group",
            STREAMAPP_CLICKHOUSE_DSN=f"chdb://{self.chdb}",
            STREAMAPP_LOG_LEVEL="INFO",
            STREAMAPP_WEB_PORT=str(self.web_port),
        )

    def topics(self) -> list[str]:
        return [self.topic, self.output, self.dlq]

    # -- the worker process -------------------------------------------------------------------
    def start(self, *extra: str) -> None:
        assert self.proc is None or self.proc.poll() is not None, "worker already running"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamapp",
                    "worker",
                    "--batch-max-wait",
                    "0.05",
                    "--batch-size",
                    "200",
                    *extra,
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError(
                f"worker ignored {sig.name} for {timeout}s; log:\n" + self.log_tail()
            ) from None

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def assert_running(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(
                f"worker exited with {self.proc.returncode}; log:\n" + self.log_tail()
            )

    # -- producing ----------------------------------------------------------------------------
    def _avro(self, schema: Any, schema_id: int, record: Mapping[str, Any]) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, schema, record)
        return frame(schema_id, buf.getvalue())

    def send(
        self,
        op: str,
        *,
        lsn: int,
        after: Mapping[str, Any] | None = None,
        before: Mapping[str, Any] | None = None,
        tombstone: bool = True,
    ) -> None:
        """Produce one change like Debezium would (a delete is followed by a tombstone)."""
        row = after if after is not None else before
        assert row is not None
        key = self._avro(self._key_schema, self._key_id, self.source.key_of(row))
        value = self._avro(
            self._value_schema,
            self._value_id,
            self.source.event(op, after=after, before=before, lsn=lsn, previous_commit_lsn=lsn - 1),
        )
        self._producer.produce(self.topic, key=key, value=value)
        if op == "d" and tombstone:
            self._producer.produce(self.topic, key=key, value=None)

    def send_raw(self, key: bytes | None, value: bytes | None) -> None:
        self._producer.produce(self.topic, key=key, value=value)

    def flush(self) -> None:
        assert self._producer.flush(30) == 0

    # -- reading the sinks --------------------------------------------------------------------
    def pg_rows(self, conn: Any) -> dict[int, tuple[Any, ...]]:
        """Live rows (not tombstones) of the PostgreSQL sink: id -> (email, amount, qty, note)."""
        try:
            rows = conn.execute(
                f'SELECT id, email, amount, qty, note FROM "{self.table}" '
                "WHERE NOT __deleted ORDER BY id"
            ).fetchall()
        except Exception:  # noqa: BLE001 - the table may not exist yet
            conn.rollback() if not conn.autocommit else None
            return {}
        return {r[0]: tuple(r[1:]) for r in rows}

    def redis_rows(self, client: Any) -> dict[int, dict[str, Any]]:
        out = {}
        for key in client.scan_iter(match=f"{self.table}:*"):
            if key.endswith(b":__version"):  # the sink's version companion keys
                continue
            raw = client.get(key) if client.type(key) == b"string" else None
            if raw is not None:
                out[int(key.decode().rsplit(":", 1)[1])] = json.loads(raw)
        return out

    def clickhouse_rows(self) -> list[tuple[Any, ...]]:
        """Rows of the ClickHouse sink (FINAL, deletes excluded); the worker must be stopped."""
        script = textwrap.dedent(f"""
            import json, clickhouse_connect
            c = clickhouse_connect.get_client(dsn="chdb://{self.chdb}")
            rows = c.query('SELECT id, email, toString(amount), qty, note FROM `{self.table}` '
                           'FINAL WHERE __is_deleted = 0 ORDER BY id').result_rows
            print(json.dumps([list(r) for r in rows]))
        """)
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return [tuple(r) for r in json.loads(done.stdout.strip().splitlines()[-1])]


def wait_until(
    condition: Callable[[], bool],
    *,
    what: str,
    timeout: float = 90.0,
    harness: WorkerHarness | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if harness is not None:
            harness.assert_running()
        if time.monotonic() > deadline:
            tail = f"\nworker log:\n{harness.log_tail()}" if harness is not None else ""
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
        time.sleep(0.2)


def consume_all(settings: Settings, topic: str, *, expect: int, timeout: float = 60) -> list[Any]:
    """Read ``expect`` records of ``topic`` from the beginning (confluent-kafka Messages)."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"reader-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    got: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expect and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                got.append(msg)
    finally:
        consumer.close()
    return got


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_get(port: int, path: str) -> tuple[int, str]:
    """(status, body) of GET http://127.0.0.1:port/path; (0, error) when nothing answers."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def committed_lag(harness: WorkerHarness) -> int:
    """Records of the source topic past the worker group's committed offsets."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {
            "bootstrap.servers": harness.settings.kafka_bootstrap,
            "group.id": harness.env["STREAMAPP_GROUP_ID"],
            "enable.auto.commit": False,
        }
    )
    try:
        tps = [TopicPartition(harness.topic, p) for p in range(harness.partitions)]
        lag = 0
        for tp in consumer.committed(tps, timeout=10):
            _low, high = consumer.get_watermark_offsets(tp, timeout=10)
            lag += high - max(tp.offset, 0)
        return lag
    finally:
        consumer.close()


def provision(h: WorkerHarness, kafka_admin: Any) -> None:
    """Create the harness's source, output and DLQ topics."""
    from confluent_kafka.admin import NewTopic

    futures = kafka_admin.create_topics(
        [
            NewTopic(h.topic, h.partitions, 1),
            NewTopic(h.output, h.partitions, 1),
            NewTopic(h.dlq, 1, 1),
        ]
    )
    for fut in futures.values():
        fut.result(30)


def teardown(
    h: WorkerHarness,
    *,
    kafka_admin: Any,
    pg_warehouse: Any,
    redis_client: Any,
    registry_client: Any,
    groups: tuple[str, ...] = (),
) -> None:
    """Kill a worker left running, then remove the harness's tables, keys, topics, consumer
    groups (its own and ``groups``) and registry subjects."""
    import contextlib

    if h.proc is not None and h.proc.poll() is None:
        h.stop(signal.SIGKILL)
    pg_warehouse.execute(f'DROP VIEW IF EXISTS "{h.table}_current"')
    pg_warehouse.execute(f'DROP TABLE IF EXISTS "{h.table}"')
    for key in redis_client.scan_iter(match=f"{h.table}:*"):
        redis_client.delete(key)
    from confluent_kafka import KafkaError, KafkaException

    for fut in kafka_admin.delete_topics(h.topics()).values():
        try:
            fut.result(30)
        except KafkaException as exc:  # a topic the test's worker never got to create
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
    group = h.env["STREAMAPP_GROUP_ID"]
    for fut in kafka_admin.delete_consumer_groups([group, *groups]).values():
        with contextlib.suppress(Exception):  # a group that never committed does not exist
            fut.result(30)
    for subject in registry_client.get_subjects():
        if subject.startswith((h.topic, h.output)):
            registry_client.delete_subject(subject, permanent=False)
            registry_client.delete_subject(subject, permanent=True)
