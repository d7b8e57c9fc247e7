"""Wire self-healing into a worker: gap watch, gap-healing snapshots, re-snapshot watch, log.

One call from ``runtime/worker.py`` (:func:`install_healing`) after the app is built: the batch
consumer gets a :class:`~streamapp.runtime.gaps.GapWatch` (each topology's ``on_gap``), every
pipeline a :class:`~streamapp.runtime.resnap.ResnapshotWatch` after its stores, gaps of
``on_gap="snapshot"`` topologies go to an :class:`~streamapp.ops.autosnapshot.AutoSnapshot`
whose completed snapshots are followed by a :class:`~streamapp.runtime.sweep.Sweeper` (rows
deleted during the gap get tombstones), and everything worth seeing later is noted in the
healing log (``runtime/heallog.py``).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Mapping, Sequence
from typing import Any

from streamapp.ops.autosnapshot import AutoSnapshot
from streamapp.runtime.gaps import Gap, GapWatch
from streamapp.runtime.heallog import HealLog
from streamapp.runtime.resnap import ResnapshotWatch
from streamapp.runtime.sweep import Sweeper

EXIT_GAP = 3  # a worker stopped by a gap in an on_gap="fail" topology


class Healing:
    """The worker's self-healing parts; ``close`` runs before the runtime closes."""

    def __init__(self, runtime: Any, consumer: Any) -> None:
        settings = runtime.settings
        self.exit_code = 0  # the worker's exit code when a gap stopped it (on_gap="fail")
        self.log = HealLog(settings)
        self.sweeper = Sweeper(
            runtime, note=lambda topology, text: self.log.note(topology, "sweep", text)
        )
        self.snapshots = AutoSnapshot(
            settings,
            note=lambda topology, text: self.log.note(topology, "snapshot", text),
            timeout=float(settings.gap_snapshot_timeout),
            on_done=self.sweeper.sweep,
        )

        async def low_watermarks(tps: Sequence[Any]) -> Mapping[Any, int]:
            offsets = await consumer.earliest_offsets(*tps)
            return {tp: int(v) for tp, v in offsets.items() if v is not None}

        self.gaps = GapWatch(
            {p.topology.name: p.topology.topology.on_gap for p in runtime.pipelines},
            low_watermarks,
            metrics=runtime.metrics,
            on_gap=self._on_gap,
        )
        self.resnapshots = [
            ResnapshotWatch(
                p.topology.name,
                note=lambda topology, text: self.log.note(topology, "resnapshot", text),
            )
            for p in runtime.pipelines
        ]
        for pipeline, watch in zip(runtime.pipelines, self.resnapshots, strict=True):
            pipeline.after_store.append(watch)

    def _on_gap(self, gap: Gap, policy: str) -> None:
        self.log.note(gap.topology, "gap", f"{gap.describe()} (on_gap={policy})")
        if policy == "snapshot":
            self.snapshots.request(gap.topology, gap.topic)
        elif policy == "fail" and not self.exit_code:
            self.exit_code = EXIT_GAP
            # the graceful stop a user's Ctrl-C takes: nothing past the gap was processed
            asyncio.get_running_loop().call_soon(os.kill, os.getpid(), signal.SIGTERM)

    async def close(self) -> None:
        self.sweeper.close()
        await self.snapshots.close()
        self.log.close()


def install_healing(app: Any, consumer: Any, runtime: Any) -> Healing:
    """Give ``consumer`` its gap watch and ``runtime``'s pipelines their re-snapshot watches;
    closed on the app's shutdown, before what shut down there before."""
    healing = Healing(runtime, consumer)
    consumer.gaps = healing.gaps
    previous = app.shutdown_hook

    async def shutdown() -> None:
        try:
            await healing.close()
        finally:
            if previous is not None:
                await previous()

    app.shutdown_hook = shutdown
    return healing
