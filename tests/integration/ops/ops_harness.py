"""The worker harness of tests/integration/runtime, plus what operations tests need.

``OpsHarness`` reuses ``WorkerHarness`` (topics, Avro events, a real worker process, sink
readers) and adds: a topology module whose transforms a test can rewrite, the `streamapp` CLI
run as a subprocess in the harness's environment, and the group's committed offsets.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime"))

from worker_harness import COLUMNS, WorkerHarness

from streamapp.settings import Settings

ORIGINAL = """[
        t.mask("email", t.hmac_sha256()),
        t.cast(qty="int"),
        t.metadata("__op", "__source_ts_ms"),
    ]"""

FIXED = """[
        t.mask("email", t.hmac_sha256()),
        t.derive("qty_n", units, type="int"),
        t.drop("qty"),
        t.rename(qty_n="qty"),
        t.metadata("__op", "__source_ts_ms"),
    ]"""
"""The fix for quantities sent as "7 units": parse them; anything else still fails."""

MODULE = """
from streamapp.topology import Output, Sink, Source, Topology, t


def units(row):
    qty = row["qty"]
    return None if qty is None else int(qty.removesuffix(" units"))


topology = Topology(
    name="{name}",
    source=Source(topic="{topic}", columns={columns!r}),
    key=["id"],
    transforms={transforms},
    output=Output(topic="{output}"),
    sinks=[Sink.clickhouse("{table}"), Sink.postgres("{table}"), Sink.redis("{table}:{{id}}")],
)
"""


def row(i: int, v: int = 0, **over: Any) -> dict[str, Any]:
    """Row ``i`` at version ``v`` (the email is PII that the topology masks)."""
    base = {
        "id": i,
        "email": f"person{i}@example.com",
        "amount": Decimal(v * 100 + i) / 10,
        "qty": str(v),
        "note": f"v{v}",
        "updated_at": None,
    }
    return {**base, **over}


class OpsHarness(WorkerHarness):
    """A WorkerHarness whose topology module can be rewritten, with the CLI at hand."""

    def __init__(self, settings: Settings, unique: str, tmp: Path, registry: Any) -> None:
        super().__init__(settings, unique, tmp, registry)
        self.module = tmp / "topologies" / f"{unique}.py"
        self.write_topology(ORIGINAL)

    def write_topology(self, transforms: str) -> None:
        """(Re)write the topology module with these transforms (a Python list literal)."""
        self.module.write_text(
            MODULE.format(
                name=self.unique,
                topic=self.topic,
                columns=COLUMNS,
                output=self.output,
                table=self.table,
                transforms=transforms,
            )
        )

    def cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        """Run ``streamapp <args>`` in the harness's environment (the worker's group/chDB).

        Output is decoded without newline translation, so a progress bar's ``\\r`` stays."""
        done = subprocess.run(
            [sys.executable, "-m", "streamapp", *args],
            env=self.env,
            capture_output=True,
            timeout=timeout,
        )
        return subprocess.CompletedProcess(
            done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
        )

    def committed(self) -> dict[int, int | None]:
        """The worker group's committed offset per source partition (None: none)."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.kafka_bootstrap,
                "group.id": self.env["STREAMAPP_GROUP_ID"],
                "enable.auto.commit": False,
            }
        )
        try:
            tps = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            return {
                tp.partition: (tp.offset if tp.offset >= 0 else None)
                for tp in consumer.committed(tps, timeout=10)
            }
        finally:
            consumer.close()

    def ends(self, topic: str | None = None) -> dict[int, int]:
        """End offset per partition of ``topic`` (default: the source topic)."""
        from confluent_kafka import Consumer, TopicPartition

        consumer = Consumer(
            {"bootstrap.servers": self.settings.kafka_bootstrap, "group.id": "ops-ends"}
        )
        topic = topic or self.topic
        try:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            return {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in meta.partitions
            }
        finally:
            consumer.close()

    def clickhouse_drop(self) -> None:
        """Drop the ClickHouse sink table (the worker must be stopped: chDB is one process)."""
        script = textwrap.dedent(f"""
            import clickhouse_connect
            c = clickhouse_connect.get_client(dsn="chdb://{self.chdb}")
            c.command('DROP TABLE IF EXISTS `{self.table}` SYNC')
        """)
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr[-2000:]
