"""The sweep after a gap-healing snapshot: rows deleted during the gap, tombstoned by the worker.

An incremental snapshot re-sends the rows a table has. A row deleted while its delete event
was lost in the gap is in no snapshot and would stay in every sink. So after each completed
gap snapshot (``ops/autosnapshot.py`` calls ``on_done``), the worker compares each topology
that reads the topic with ``on_gap="snapshot"`` with its source the way ``reconcile --repair``
does: a reconcile pass with key logs (``reconcile.run``) names every *stray*, a row a sink
holds that the source does not produce. It runs the pass twice and writes a tombstone for
each stray both passes found with the same stored version (``reconcile.repair
.confirmed_strays``, ``reconcile.tombstones.tombstone_through``), through the worker's own
sink objects: an embedded chDB has one writer, the process that holds it (the passes read it
through a second handle of the worker's own chDB engine). The passes run in a thread, so the
lanes keep flowing; tombstones are written 1,000 per write, between the lanes' batches. One
INFO line per sink (strays found, tombstoned) and one healing-log record per topology
(``sweep``) say what was done; a failure is one ERROR line and never stops the worker.

Changes made while the sweep runs cannot be undone by it (versions, ``decode/version.py``):

- A live insert is never tombstoned. A row inserted after a pass took its source snapshot
  and stored before that pass read the sink looks stray to that pass only: the next pass's
  snapshot has it, so two passes never agree on it. A stray both passes agree on gets a
  tombstone versioned its stored version + 1; a change of that key committed later (a
  re-insert, an update) has a larger version than the stored row, so whichever of the two
  the sink sees first, the sink's version guard keeps the later change.
- A live delete is never resurrected. The sweep writes only deletions, never row values.
  A row the snapshot re-read and the source then deleted has a snapshot version below the
  delete's (the delete committed later), so the snapshot row cannot bring it back either; a
  tombstone arriving after the real delete loses the version guard and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamapp.reconcile.run import Result
    from streamapp.reconcile.tombstones import Stray
    from streamapp.runtime.worker import Runtime
    from streamapp.transform.compile import CompiledTopology

log = logging.getLogger("streamapp.heal")
Note = Callable[[str, str], object]  # (topology, one line) -> the healing log


@dataclass(frozen=True, slots=True)
class SinkSweep:
    """What the sweep did for one sink: strays the second pass found, tombstones written;
    ``state`` ``ok``, or ``busy``/``error`` with ``detail`` when the sink was not swept."""

    sink: str
    found: int = 0
    tombstoned: int = 0
    state: str = "ok"
    detail: str = ""

    def describe(self) -> str:
        if self.state != "ok":
            return f"{self.sink}: not swept ({self.state}: {self.detail})"
        text = f"{self.sink}: {self.found:,} stray row(s) found, {self.tombstoned:,} tombstoned"
        if self.found > self.tombstoned:
            text += (
                f" ({self.found - self.tombstoned:,} not confirmed by two passes: "
                "in flight, left alone)"
            )
        return text


class Sweeper:
    """Sweeps stray rows from the sinks after gap snapshots (see the module docstring).

    Guarantees: :meth:`sweep` never raises; only strays two consecutive passes agree on get
    tombstones, written through the runtime's own sinks; after :meth:`close` no further pass
    starts and no tombstone is written.
    """

    def __init__(self, runtime: Runtime, *, note: Note | None = None) -> None:
        self.runtime = runtime
        self.note = note
        self._closed = False

    def targets(self, topic: str) -> list[Any]:
        """The pipelines of ``on_gap="snapshot"`` topologies that read ``topic``."""
        return [
            p
            for p in self.runtime.pipelines
            if topic in p.topology.source_topics and p.topology.topology.on_gap == "snapshot"
        ]

    async def sweep(self, topology: str, topic: str) -> None:
        """Sweep every topology reading ``topic`` (whose snapshot, asked for ``topology``'s
        gap, just completed); errors are logged and noted, never raised."""
        for pipeline in self.targets(topic):
            if self._closed:
                return
            name = pipeline.topology.name
            try:
                done = await self.sweep_pipeline(pipeline, topic)
            except Exception as exc:  # noqa: BLE001 - the worker goes on; the line says what to do
                why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                log.error(
                    "sweep of topology %s after the gap snapshot of %s failed: %s; run "
                    "`streamapp reconcile %s --repair` to remove rows deleted during the gap",
                    name,
                    topic,
                    why[:300],
                    name,
                )
                self._note(name, f"sweep after the snapshot of {topic} failed: {why[:200]}")
                continue
            if done:
                self._note(
                    name,
                    f"swept after the snapshot of {topic}: "
                    + "; ".join(s.describe() for s in done),
                )

    async def sweep_pipeline(self, pipeline: Any, topic: str) -> list[SinkSweep]:
        """Two passes, then tombstones for the confirmed strays of each sink; one INFO line
        per sink. [] when closed meanwhile."""
        from streamapp.reconcile.repair import confirmed_strays

        topology = self._loaded(pipeline.topology.name)
        first = await asyncio.to_thread(self._pass, topology)
        second: Result | None = None
        try:
            if self._closed:
                return []
            second = await asyncio.to_thread(self._pass, topology)
            strays = await asyncio.to_thread(confirmed_strays, first, second)
            done = []
            for tally in second.tallies:
                if self._closed:
                    return done
                if tally.state != "ok":
                    outcome = SinkSweep(tally.sink, state=tally.state, detail=tally.detail)
                else:
                    mine = strays.get(tally.sink, [])
                    outcome = await self._tombstone(pipeline, tally.sink, tally.extra, mine)
                log.info(
                    "sweep of topology %s after the gap snapshot of %s: %s",
                    topology.name,
                    topic,
                    outcome.describe(),
                )
                done.append(outcome)
            return done
        finally:
            first.close()
            if second is not None:
                second.close()

    def _pass(self, topology: CompiledTopology) -> Result:
        """One reconcile pass over every sink of ``topology``, logging differing keys."""
        from streamapp.reconcile.run import Options, reconcile

        return reconcile(
            self.runtime.settings, topology, Options(diffs=True), self.runtime.topologies
        )

    async def _tombstone(
        self, pipeline: Any, sink: str, found: int, strays: Sequence[Stray]
    ) -> SinkSweep:
        """Tombstones for ``strays`` through the pipeline's writer of ``sink``."""
        from streamapp.errors import StreamappError
        from streamapp.reconcile.tombstones import tombstone_through

        if not strays:
            return SinkSweep(sink, found)
        index = [str(s) for s in pipeline.topology.sinks].index(sink)
        writer = pipeline.writers[index]
        try:
            sent = await tombstone_through(writer.sink, pipeline.topology, writer.table, strays)
        except StreamappError as exc:
            return SinkSweep(sink, found, state="error", detail=str(exc).splitlines()[0][:200])
        return SinkSweep(sink, found, sent)

    def _loaded(self, name: str) -> CompiledTopology:
        """The topology as loaded (reconcile adds propagated columns itself)."""
        return next(t for t in self.runtime.topologies if t.name == name)

    def _note(self, topology: str, text: str) -> None:
        if self.note is not None:
            self.note(topology, text)

    def close(self) -> None:
        """No pass or tombstone after this (a pass already running ends on its own)."""
        self._closed = True
