"""The freshness contract: per topology, the source time through which its sinks are complete.

Definition. A sink is *complete through T* when every change committed at the source before T
is stored in it. Debezium emits a connector's changes in commit order, and Kafka keeps the order
within a partition, so for one source partition ``p`` of a topology:

* ``ts(p)`` is the source commit time (``source.ts_ms``) of the newest event of ``p`` whose
  batch was stored in every sink (and then marked for commit): every change of ``p``
  committed before it sat at a smaller offset and was stored first. Records without output
  (tombstones, filtered or dead-lettered records) advance the position, not ``ts(p)``.
* when ``p`` is *caught up* (its next offset reached the high watermark the consumer last
  fetched, and it is not paused), nothing more of ``p`` has been published, so ``p`` is
  complete through the *connector clock* instead, if that is later: the newest source time
  this worker stored on any partition of the topology (the connector emitted that event after
  everything committed before it), or the newest Debezium heartbeat of the connector (its
  ``__debezium-heartbeat.<prefix>`` topic, read every ``STREAMAPP_FRESHNESS_INTERVAL``
  seconds; heartbeats do not reach the worker otherwise), capped at ``HW_SLACK`` seconds ago
  so that a high watermark one fetch old is covered. Without heartbeats an idle source keeps
  the clock at its last change: the sink then looks stale although it is complete.

The topology is complete through the minimum over its partitions, and *unknown* while any
owned partition has no time yet (nothing stored since the worker started, and no clock).
Every sink of a topology is written before a batch counts, so its sinks share that value.
A worker knows only the partitions it owns: ``partitions_total`` says how many the topics
have, and the per-partition rows in each SQL sink's ``streamapp_freshness_partitions``
(whose ``streamapp_freshness`` view takes the minimum) combine the workers of a group.
Limits: the heartbeat and the cross-partition clock trust the connector to be caught up with
the source log (a connector far behind its replication slot overstates; the slot-lag alert
covers that), and an initial snapshot's events carry the snapshot's read time.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HW_SLACK = 2.0  # seconds a caught-up partition's high watermark may be old (one fetch)

# tp -> (next offset to read or None, high watermark or None, paused)
Progress = Callable[[Any], tuple[int | None, int | None, bool]]


@dataclass(frozen=True, slots=True)
class PartitionFreshness:
    """One source partition: where the worker is, and through when it is complete."""

    topic: str
    partition: int
    next_offset: int | None
    high_watermark: int | None
    caught_up: bool
    complete_through_ms: int | None


@dataclass(frozen=True, slots=True)
class TopologyFreshness:
    """One topology as one worker sees it (see the module docstring)."""

    topology: str
    sinks: tuple[str, ...]
    complete_through_ms: int | None
    partitions: tuple[PartitionFreshness, ...]
    partitions_total: int
    heartbeat_ms: int | None

    @property
    def owns_all(self) -> bool:
        return 0 < len(self.partitions) >= self.partitions_total

    @property
    def source_position(self) -> str:
        """``topic/partition@next-offset`` per owned partition, comma-separated."""
        return ",".join(f"{p.topic}/{p.partition}@{p.next_offset}" for p in self.partitions)

    def as_json(self, now_ms: int) -> dict[str, Any]:
        ct = self.complete_through_ms
        return {
            "complete_through": iso(ct),
            "complete_through_ms": ct,
            "lag_seconds": None if ct is None else max(0.0, (now_ms - ct) / 1000),
            "source_position": self.source_position,
            "partitions_owned": len(self.partitions),
            "partitions_total": self.partitions_total,
            "heartbeat": iso(self.heartbeat_ms),
            "sinks": list(self.sinks),
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "next_offset": p.next_offset,
                    "high_watermark": p.high_watermark,
                    "caught_up": p.caught_up,
                    "complete_through": iso(p.complete_through_ms),
                }
                for p in self.partitions
            ],
        }


def iso(ms: int | None) -> str | None:
    """``2026-01-02T03:04:05.678Z`` for epoch milliseconds; None stays None."""
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class FreshnessTracker:
    """Per topology and source partition, the newest source time stored in every sink.

    ``stored`` runs on the commit path of every batch: a few dictionary updates per partition
    of the batch, never per record. ``snapshot`` evaluates the contract on demand.
    """

    def __init__(
        self,
        topics: Mapping[str, Sequence[str]],
        sinks: Mapping[str, Sequence[str]],
        partition_counts: Callable[[str], int] | None = None,
    ) -> None:
        self.topics = {name: tuple(t) for name, t in topics.items()}
        self.sinks = {name: tuple(sinks.get(name, ())) for name in self.topics}
        self._counts = partition_counts
        self._ts: dict[tuple[str, int], int] = {}  # (topic, partition) -> newest stored ts
        self._heartbeat: dict[str, int] = {}  # topology -> newest heartbeat time (ms)

    def stored(self, batch: Mapping[Any, Sequence[Any]], prepared: Any) -> None:
        """A batch is in every sink: remember each partition's newest stored source time.

        ``prepared`` is the pipeline's Prepared batch: ``records`` (every partition's input
        records, in ``batch`` order), ``outputs`` (each with ``source_ts_ms``) and ``origins``
        (per output, its input position, non-decreasing). One binary search per partition."""
        outputs = getattr(prepared, "outputs", None)
        origins = getattr(prepared, "origins", None)
        if not outputs or origins is None:
            return
        end = 0
        for tp, records in batch.items():
            begin, end = end, end + len(records)
            i = bisect_left(origins, end) - 1
            while i >= 0 and origins[i] >= begin:
                ts = outputs[i].source_ts_ms
                if ts is not None:
                    key = (tp.topic, tp.partition)
                    if ts > self._ts.get(key, -1):
                        self._ts[key] = ts
                    break
                i -= 1

    def heartbeat(self, topology: str, ts_ms: int) -> None:
        """The connector of ``topology`` sent a heartbeat at ``ts_ms``."""
        if ts_ms > self._heartbeat.get(topology, -1):
            self._heartbeat[topology] = ts_ms

    def snapshot(
        self, assigned: Iterable[Any], progress: Progress, now: float | None = None
    ) -> list[TopologyFreshness]:
        """The contract per topology for the partitions in ``assigned`` (see module doc)."""
        now = time.time() if now is None else now
        owned = sorted(assigned, key=lambda tp: (tp.topic, tp.partition))
        result = []
        for name, topics in self.topics.items():
            tps = [tp for tp in owned if tp.topic in topics]
            stamps = [self._ts[k] for tp in tps if (k := (tp.topic, tp.partition)) in self._ts]
            clock = max(stamps, default=None)
            beat = self._heartbeat.get(name)
            if beat is not None:
                capped = min(beat, int((now - HW_SLACK) * 1000))
                clock = capped if clock is None else max(clock, capped)
            parts = []
            for tp in tps:
                nxt, high, paused = progress(tp)
                caught = nxt is not None and high is not None and nxt >= high and not paused
                ts = self._ts.get((tp.topic, tp.partition))
                if caught and clock is not None and (ts is None or clock > ts):
                    ts = clock
                parts.append(PartitionFreshness(tp.topic, tp.partition, nxt, high, caught, ts))
            times = [p.complete_through_ms for p in parts]
            through = None if not times or None in times else min(t for t in times if t is not None)
            total = sum(self._counts(t) for t in topics) if self._counts else len(parts)
            result.append(
                TopologyFreshness(
                    name, self.sinks[name], through, tuple(parts), max(total, len(parts)), beat
                )
            )
        return result

    def forget(self, keep: Iterable[Any]) -> None:
        """Drop the times of partitions not in ``keep`` (revoked: another worker owns them)."""
        kept = {(tp.topic, tp.partition) for tp in keep}
        self._ts = {k: v for k, v in self._ts.items() if k in kept}
