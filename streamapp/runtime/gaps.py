"""Gap detection: a partition whose next offset to read fell out of the topic's retention.

When a worker's committed offset (or its position while running) is older than a partition's
log start offset, the events in between were deleted before anyone consumed them, and the
consumer resets to the earliest offset (``auto.offset.reset=earliest``) without a word.
:class:`GapWatch` sees every fetch through the batch consumer (``runtime/fastpath.py``):

* ``assigned`` (after an assignment's seek to the committed offsets): each committed offset
  is compared with its partition's log start offset; this finds a gap even when nothing new
  arrives in the partition afterwards;
* ``seen`` (per fetched partition chunk, no I/O): the first fetched offset is compared with the
  offset expected next (the committed one after an assignment, else one past the last fetched
  record); a jump makes the partition a *candidate*;
* ``settle`` (before the batch holding a candidate is prepared): the partition's log start
  offset is read; only when it lies above the expected offset is the jump a gap. Other jumps
  are normal: transaction markers and compacted records also take offsets. A start offset
  that cannot be read counts the first fetched offset as the first available one.

A gap is recorded (``streamapp_gaps_total{topology,partition}``, one WARNING line, the
``recent`` list, and the ``on_gap`` callback: the healing log and the topology's policy).
``on_gap="fail"`` sets ``halted``: the batch consumer then drops what it fetched and hands
nothing more on (so nothing past the gap is committed) while the worker stops (see
``runtime/healing.py``).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamapp.observability.metrics import Metrics

log = logging.getLogger("streamapp.gaps")

# TPs -> their log start offsets (a TP left out: unknown)
LowWatermarks = Callable[[Sequence[Any]], Awaitable[Mapping[Any, int]]]


@dataclass(frozen=True, slots=True)
class Gap:
    """Events lost in one partition: offsets ``committed`` up to ``first_available`` - 1."""

    topology: str
    topic: str
    partition: int
    committed: int  # the offset the topology was to read next
    first_available: int  # the partition's log start offset when the gap was found
    at_ms: int

    @property
    def lost(self) -> int:
        """Events deleted before they were consumed."""
        return self.first_available - self.committed

    @property
    def where(self) -> str:
        """``<topic>[<partition>]``, as the metric's ``partition`` label reads."""
        return f"{self.topic}[{self.partition}]"

    def describe(self) -> str:
        """One line: where, the offsets and how many events were lost."""
        return (
            f"gap in topology {self.topology}: topic {self.topic} partition {self.partition}: "
            f"committed offset {self.committed:,}, first available offset "
            f"{self.first_available:,}: {self.lost:,} event(s) deleted by retention before "
            "they were consumed"
        )


class GapWatch:
    """Finds gaps in the partitions the batch consumer fetches (see the module docstring).

    Guarantees: ``seen`` does no I/O and costs a dict lookup per fetched partition chunk;
    ``settle`` reads a log start offset only for candidates; a gap is recorded once.
    ``policies`` maps a topology (lane) name to its ``on_gap``; unnamed ones use "snapshot".
    """

    def __init__(
        self,
        policies: Mapping[str, str],
        low_watermarks: LowWatermarks,
        *,
        metrics: Metrics | None = None,
        on_gap: Callable[[Gap, str], None] | None = None,
        keep: int = 50,
    ) -> None:
        self.policies = dict(policies)
        self._lows = low_watermarks
        self.metrics = metrics
        self.on_gap = on_gap
        self._next: dict[Any, int] = {}  # TP -> the offset expected next
        self.candidates: dict[Any, tuple[int, int]] = {}  # TP -> (expected, first fetched)
        self.recent: deque[Gap] = deque(maxlen=keep)
        self.halted = False  # a gap in an on_gap="fail" topology: consume nothing more

    def forget(self, tps: Iterable[Any]) -> None:
        """Partitions (re-)assigned: they are read from their committed offsets again."""
        for tp in tps:
            self._next.pop(tp, None)
            self.candidates.pop(tp, None)

    def seen(self, tp: Any, first: int, last: int, committed: int | None) -> None:
        """Records ``first``..``last`` of ``tp`` were fetched; ``committed``: the committed
        offset, used when nothing was fetched for ``tp`` since its assignment."""
        expected = self._next.get(tp, committed)
        self._next[tp] = last + 1
        if expected is not None and first > expected and tp not in self.candidates:
            self.candidates[tp] = (expected, first)

    async def settle(self, topology: str, tps: Iterable[Any]) -> list[Gap]:
        """Confirm the candidates among ``tps`` (a batch of ``topology``); the gaps found."""
        gaps = []
        for tp in [tp for tp in tps if tp in self.candidates]:
            expected, first = self.candidates.pop(tp)
            low = (await self._low_watermarks([tp])).get(tp)
            start = first if low is None else min(low, first)
            if start <= expected:
                continue  # transaction markers or compaction, not retention
            gap = Gap(topology, tp.topic, tp.partition, expected, start, int(time.time() * 1000))
            gaps.append(gap)
            self._record(gap)
        return gaps

    async def assigned(self, topologies: Mapping[Any, str], committed: Mapping[Any, Any]) -> None:
        """Partitions were assigned and seeked to their ``committed`` offsets (``topologies``:
        TP -> its topology): a committed offset below the log start offset is a gap, found
        here even when nothing new arrives to be fetched."""
        tps = [tp for tp in topologies if isinstance(committed.get(tp), int)]
        lows = await self._low_watermarks(tps) if tps else {}
        for tp in tps:
            expected, low = int(committed[tp]), lows.get(tp)
            if low is not None and low > expected:
                self._next[tp] = low  # what the reset fetches next: no second finding there
                self.candidates.pop(tp, None)
                now = int(time.time() * 1000)
                self._record(Gap(topologies[tp], tp.topic, tp.partition, expected, low, now))

    async def _low_watermarks(self, tps: Sequence[Any]) -> Mapping[Any, int]:
        try:
            return await self._lows(tps)
        except Exception as exc:  # noqa: BLE001 - unknown: the fetched offset decides
            log.debug("log start offsets of %s unknown: %s", list(tps), exc)
            return {}

    def _record(self, gap: Gap) -> None:
        policy = self.policies.get(gap.topology, "snapshot")
        self.recent.append(gap)
        if self.metrics is not None:
            self.metrics.gaps.labels(gap.topology, gap.where).inc()
        action = {
            "snapshot": "on_gap='snapshot': an incremental snapshot of its table re-reads it",
            "fail": "on_gap='fail': stopping the worker; the committed offset stays before "
            "the gap (re-read the table with `streamapp snapshot`, or set on_gap='snapshot')",
            "ignore": "on_gap='ignore': recorded only; `streamapp snapshot` re-reads the table",
        }.get(policy, policy)
        if policy == "fail":
            self.halted = True
            log.error("%s; %s", gap.describe(), action)
        else:
            log.warning("%s; %s", gap.describe(), action)
        if self.on_gap is not None:
            self.on_gap(gap, policy)
