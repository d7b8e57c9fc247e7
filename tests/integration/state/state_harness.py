"""Produce Debezium-style Avro changes of a synthetic table to a real topic (for state tests)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Producer
from confluent_kafka.schema_registry import Schema

from streamapp.settings import Settings
from streamapp.synth import Table
from streamapp.wire import frame


class ChangeTopic:
    """One synthetic source table whose changes go to ``topic`` (schemas registered)."""

    def __init__(
        self, settings: Settings, registry: Any, server: str, table: str, columns: Mapping[str, str]
    ) -> None:
        self.source = Table(table, columns, ["id"], server=server, schema="public")
        self.topic = self.source.topic
        self._producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
        self._value_id = registry.register_schema(
            f"{self.topic}-value", Schema(json.dumps(self.source.value_schema), "AVRO")
        )
        self._key_id = registry.register_schema(
            f"{self.topic}-key", Schema(json.dumps(self.source.key_schema), "AVRO")
        )
        self._value = fastavro.parse_schema(self.source.value_schema)
        self._key = fastavro.parse_schema(self.source.key_schema)

    def key_bytes(self, row: Mapping[str, Any]) -> bytes:
        return _avro(self._key, self._key_id, self.source.key_of(row))

    def send(
        self,
        op: str,
        *,
        lsn: int,
        after: Mapping[str, Any] | None = None,
        before: Mapping[str, Any] | None = None,
        headers: Sequence[tuple[str, bytes]] = (),
        unchanged: Sequence[str] = (),
    ) -> None:
        """One change like Debezium's; ``unchanged`` columns carry the TOAST placeholder."""
        row = after if after is not None else before
        assert row is not None
        event = self.source.event(
            op, after=after, before=before, lsn=lsn, previous_commit_lsn=lsn - 1
        )
        for column in unchanged:
            event["after"][column] = "__debezium_unavailable_value"
        value = _avro(self._value, self._value_id, event)
        self._producer.produce(
            self.topic, key=self.key_bytes(row), value=value, headers=list(headers)
        )

    def flush(self) -> None:
        assert self._producer.flush(30) == 0


def _avro(schema: Any, schema_id: int, record: Mapping[str, Any]) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, record)
    return frame(schema_id, buf.getvalue())


class Worker:
    """A real ``streamapp worker`` on the topology modules under ``<tmp>/topologies``, with its
    own group, embedded chDB, state directory and log (``<tmp>/worker.log``)."""

    def __init__(self, tmp: Path, unique: str) -> None:
        self.tmp, self.unique, self.log = tmp, unique, tmp / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            STREAMAPP_TOPOLOGIES_DIR=str(self.tmp / "topologies"),
            STREAMAPP_SCHEMAS_DIR=str(self.tmp / "schemas"),
            STREAMAPP_GROUP_ID=f"{self.unique}-group",
            STREAMAPP_CLICKHOUSE_DSN=f"chdb://{self.tmp / 'chdb'}",
            STREAMAPP_STATE_DIR=str(self.tmp / "state"),
            STREAMAPP_WEB_PORT="0",
        )

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streamapp", "worker", "--batch-max-wait", "0.05"],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])
