"""Produce Debezium-style Avro changes of a synthetic table to a real topic (for state tests)."""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
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
