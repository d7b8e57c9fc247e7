"""`streamapp status`: per topology, lag, DLQ depth, sink health and last applied time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from streamapp.errors import ConfigError, StreamappError
from streamapp.ops import OpsError
from streamapp.ops.dlqstore import DlqState, load_state, progress_group
from streamapp.ops.kafka import GroupInfo, Kafka
from streamapp.ops.reader import RangeReader
from streamapp.runtime.heallog import HealEvent, recent
from streamapp.settings import Settings
from streamapp.transform.compile import CompiledTopology


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """One source partition: committed offset (None: nothing yet), watermarks, lag."""

    topic: str
    partition: int
    low: int
    end: int
    committed: int | None

    @property
    def lag(self) -> int:
        """Records the group has not processed yet (from ``low`` when nothing is committed)."""
        start = self.low if self.committed is None else max(self.committed, self.low)
        return max(self.end - start, 0)

    @property
    def gap(self) -> int:
        """Events deleted by retention before the group consumed them: the committed offset
        is below the log start offset (a worker heals this at its start, see ``on_gap``)."""
        return 0 if self.committed is None else max(self.low - self.committed, 0)


@dataclass(frozen=True, slots=True)
class SinkHealth:
    """A real round trip to one sink kind: ``state`` is ``ok``, ``FAIL`` or ``busy``."""

    kind: str
    state: str
    detail: str
    millis: float


@dataclass(frozen=True, slots=True)
class SinkCommit:
    """A durable-later sink's newest commit (Iceberg: its table's current snapshot):
    ``at_ms`` None when nothing was committed yet, ``problem`` when it could not be read."""

    target: str
    at_ms: int | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class TopologyStatus:
    """Everything `streamapp status` shows for one topology (``problem``: why data is missing)."""

    topology: CompiledTopology
    partitions: tuple[PartitionLag, ...]
    dlq: DlqState
    last_applied_ms: int | None
    problem: str | None = None
    healing: tuple[HealEvent, ...] = ()  # the newest gaps and (re-)snapshots workers noted
    commits: tuple[SinkCommit, ...] = ()  # its Iceberg sinks' newest snapshots


def _chdb_held(settings: Settings) -> bool:
    """True when the embedded chDB directory is locked by another process (a worker)."""
    from streamapp.sinks.clickhouse.connect import chdb_held

    path = settings.clickhouse_chdb_path()
    return path is not None and chdb_held(Path(path))


async def _probe(kind: str, settings: Settings) -> SinkHealth:
    from streamapp.sinks import create_sink

    started = time.perf_counter()
    if kind == "clickhouse" and _chdb_held(settings):  # opening it would only fail, noisily
        return SinkHealth(kind, "busy", "embedded chDB held by a running worker", 0.0)
    sink = create_sink(kind, settings)
    try:
        await asyncio.wait_for(sink.start(), 15)
        ok = await asyncio.wait_for(sink.healthy(), 15)
        state, detail = ("ok", "round trip ok") if ok else ("FAIL", "round trip failed")
    except ConfigError as exc:  # an embedded chDB directory that a running worker holds
        busy = "in use by another process" in str(exc)
        state = "busy" if busy else "FAIL"
        detail = "embedded chDB held by a running worker" if busy else str(exc)
    except (StreamappError, OSError, TimeoutError) as exc:
        state, detail = (
            "FAIL",
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
        )
    finally:
        # closing a failed sink must not hide its state
        with contextlib.suppress(Exception):
            await sink.close()
    return SinkHealth(kind, state, detail, (time.perf_counter() - started) * 1000)


def sink_health(settings: Settings, kinds: Sequence[str]) -> dict[str, SinkHealth]:
    """Probe each sink kind once (start, one round trip, close)."""

    async def probe_all() -> list[SinkHealth]:
        return [await _probe(kind, settings) for kind in kinds]

    return {h.kind: h for h in asyncio.run(probe_all())}


def last_output_time(kafka: Kafka, topic: str) -> int | None:
    """The newest record time (ms) on ``topic``: when a worker last applied a batch."""
    ranges = {}
    for p in kafka.partitions(topic, missing_ok=True):
        low, end = kafka.watermarks(topic, p)
        if end > low:
            ranges[(topic, p)] = (end - 1, end)
    stamps = [
        rec.timestamp
        for batch in RangeReader(kafka.settings, ranges, stall_seconds=10).batches()
        for rec in batch
        if rec.timestamp is not None
    ]
    return max(stamps) if stamps else None


def topology_status(kafka: Kafka, settings: Settings, topology: CompiledTopology) -> TopologyStatus:
    """Offsets, lag, DLQ and last applied time of ``topology`` (``problem`` set on failure)."""
    dlq = DlqState(topology.dlq_topic)
    try:
        lags = []
        for topic in topology.source_topics:
            partitions = kafka.partitions(topic)
            committed = kafka.committed(settings.group_id, [(topic, p) for p in partitions])
            for p in partitions:
                low, end = kafka.watermarks(topic, p)
                lags.append(PartitionLag(topic, p, low, end, committed[(topic, p)][0]))
        dlq = load_state(kafka, topology.dlq_topic, progress_group(settings.group_id))
        output = topology.output_topic
        last = last_output_time(kafka, output) if output is not None else None
    except OpsError as exc:
        return TopologyStatus(topology, (), dlq, None, str(exc))
    return TopologyStatus(topology, tuple(lags), dlq, last)


def gather(
    settings: Settings, topologies: Sequence[CompiledTopology]
) -> tuple[GroupInfo | None, list[TopologyStatus], dict[str, SinkHealth]]:
    """The group, every topology's status and the health of every sink kind in use."""
    kinds = sorted({s.kind for t in topologies for s in t.sinks})
    kafka = Kafka(settings, timeout=10)
    try:
        try:
            group: GroupInfo | None = kafka.group(settings.group_id)
        except OpsError:
            group = None
        statuses = [topology_status(kafka, settings, t) for t in topologies]
    finally:
        kafka.close()
    try:
        noted = recent(settings, [t.name for t in topologies])
    except StreamappError:
        noted = {}  # no healing log to read: the rest of the screen still stands
    statuses = [
        replace(st, healing=tuple(noted.get(st.topology.name, ())), commits=commits(settings, st))
        for st in statuses
    ]
    return group, statuses, sink_health(settings, kinds)


def commits(settings: Settings, st: TopologyStatus) -> tuple[SinkCommit, ...]:
    """The newest commit of each Iceberg sink of ``st``'s topology: its rows (and the offsets
    of the batches it holds) are durable up to then, whatever the output topic shows."""
    from streamapp.sinks.iceberg.reader import last_commit_ms
    from streamapp.transform.spec import IcebergSink

    found = []
    for sink in st.topology.sinks:
        if not isinstance(sink, IcebergSink):
            continue
        try:
            found.append(SinkCommit(str(sink), last_commit_ms(settings, sink.table)))
        except (OpsError, ConfigError) as exc:
            found.append(SinkCommit(str(sink), None, str(exc)))
    return tuple(found)
