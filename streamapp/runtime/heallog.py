"""The healing log: a small topic where workers note gaps, (re-)snapshots, sweeps for `status`.

A worker appends one JSON record per event worth a human's attention after the fact: a gap
found in a partition (``gap``), an automatic incremental snapshot that started, finished or
gave up (``snapshot``), the stray rows swept from each sink after it (``sweep``: rows deleted
during the gap), and snapshot reads arriving after streamed changes (``resnapshot``: a
connector re-created with a snapshot mode that re-reads everything, a replication slot
re-created, or an incremental snapshot). `streamapp status` reads the newest records back,
so what a worker healed stays visible after the worker moved on, from any host.

The topic is STREAMAPP_HEAL_TOPIC (default ``<group id>.heal``), one partition, created by
the worker with ``retention.ms`` = STREAMAPP_DLQ_RETENTION_MS when missing. Writing is best
effort: a refusal is one warning line and never stops the worker (the metric and the log
line of each event are its primary record).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from streamapp.settings import Settings

log = logging.getLogger("streamapp.heal")
Kind = Literal["gap", "snapshot", "sweep", "resnapshot"]
KINDS = ("gap", "snapshot", "sweep", "resnapshot")


@dataclass(frozen=True, slots=True)
class HealEvent:
    """One healing-log record: who (group, topology), what (``kind``), when, and one line."""

    group: str
    topology: str
    kind: Kind
    text: str
    at_ms: int

    def encode(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def decode(cls, raw: bytes | None) -> HealEvent | None:
        """The event in ``raw``, or None when it is not one (another writer's record)."""
        try:
            doc = json.loads(raw or b"")
            kind = doc["kind"]
            if kind not in KINDS:
                return None
            return cls(
                str(doc["group"]), str(doc["topology"]), kind, str(doc["text"]), int(doc["at_ms"])
            )
        except (ValueError, KeyError, TypeError):
            return None


def heal_topic(settings: Settings) -> str:
    """STREAMAPP_HEAL_TOPIC, or ``<group id>.heal``."""
    return settings.heal_topic or f"{settings.group_id}.heal"


class HealLog:
    """Appends HealEvents to the healing-log topic (created on first use when missing)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = heal_topic(settings)
        self._producer: Any = None
        self._warned = False

    def note(self, topology: str, kind: Kind, text: str) -> HealEvent:
        """Queue one event (never raises, never waits for Kafka); the event."""
        event = HealEvent(self.settings.group_id, topology, kind, text, int(time.time() * 1000))
        try:
            if self._producer is None:
                self._producer = self._open()
            self._producer.produce(self.topic, value=event.encode(), key=topology.encode())
            self._producer.poll(0)
        except Exception as exc:  # noqa: BLE001 - best effort: the log line is the record
            self._warn(f"{type(exc).__name__}: {exc}")
        return event

    def _open(self) -> Any:
        from confluent_kafka import Producer
        from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

        from streamapp.kafkaconf import kafka_conf

        admin = AdminClient(kafka_conf(self.settings))
        if self.topic not in admin.list_topics(timeout=10).topics:
            config = {"retention.ms": self.settings.dlq_retention_ms}
            for future in admin.create_topics(
                [NewTopic(self.topic, 1, -1, config=config)]
            ).values():
                try:
                    future.result(15)
                except Exception as exc:  # noqa: BLE001 - another worker was first, or no ACL
                    if "already exists" not in str(exc).lower():
                        self._warn(f"creating it failed ({exc})")

        def delivered(err: Any, _msg: Any) -> None:
            if err is not None:
                self._warn(err.str() if hasattr(err, "str") else str(err))

        return Producer(kafka_conf(self.settings, {"on_delivery": delivered, "linger.ms": 50}))

    def _warn(self, why: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning(
                "healing log topic %s cannot be written (%s); `streamapp status` will not show "
                "this worker's gaps and snapshots (the log lines and /metrics still do): create "
                "the topic or set STREAMAPP_HEAL_TOPIC",
                self.topic,
                why[:200],
            )

    def close(self) -> None:
        if self._producer is not None:
            self._producer.flush(5)


def recent(
    settings: Settings, topologies: Sequence[str], *, per_topology: int = 5, scan: int = 500
) -> dict[str, list[HealEvent]]:
    """The newest ``per_topology`` events of this group's ``topologies`` (oldest first), from
    the last ``scan`` records of the healing log; {} when the topic does not exist."""
    from streamapp.ops.kafka import Kafka
    from streamapp.ops.reader import RangeReader

    topic = heal_topic(settings)
    kafka = Kafka(settings, timeout=10)
    try:
        ranges = {}
        for p in kafka.partitions(topic, missing_ok=True):
            low, end = kafka.watermarks(topic, p)
            if end > low:
                ranges[(topic, p)] = (max(low, end - scan), end)
    finally:
        kafka.close()
    wanted = set(topologies)
    out: dict[str, list[HealEvent]] = {}
    for batch in RangeReader(settings, ranges, stall_seconds=10).batches():
        for rec in batch:
            event = HealEvent.decode(rec.value)
            if event is not None and event.group == settings.group_id and event.topology in wanted:
                out.setdefault(event.topology, []).append(event)
    return {name: sorted(evs, key=lambda e: e.at_ms)[-per_topology:] for name, evs in out.items()}
