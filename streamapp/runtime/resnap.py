"""Source-side resets made visible: snapshot reads arriving after streamed changes.

A connector re-created with a snapshot mode that re-reads everything (``snapshot.mode=always``,
or ``initial`` on a new slot), a replication slot dropped and re-created, and an incremental
snapshot all show the same way in a topology's stream: rows with ``op=r`` after the topology
has stored streamed changes (``c``/``u``/``d``). The versions make the sinks converge anyway
(a re-read row's version is its snapshot position, above every change it already contains;
see ``decode/version.py``), so nothing is to be done about the rows; what a human wants to know
is that it happened. :class:`ResnapshotWatch` is a pipeline ``after_store`` hook that notes
the start of such an episode (one INFO line, the healing log) and its end with the rows
re-read, at the first batch after ``quiet`` seconds without snapshot reads.

Deletes made while a connector was gone are not in any snapshot: `streamapp reconcile`
shows the rows the sinks still hold (and ``--repair`` removes them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from streamapp.records import Op, OutputRecord

log = logging.getLogger("streamapp.heal")
Note = Callable[[str, str], object]  # (topology, one line) -> the healing log


class ResnapshotWatch:
    """One topology's snapshot-reads-after-streaming detector (an ``after_store`` hook).

    Guarantees: never raises (a hook failure would fail the batch); one pass over the batch's
    outputs (no per-record allocation); an episode is noted once when it starts and once when
    it ends; reads before any streamed change (a new pipeline's initial snapshot) are none.
    """

    def __init__(
        self,
        topology: str,
        *,
        note: Note | None = None,
        quiet: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.topology = topology
        self.note = note
        self.quiet = quiet
        self.clock = clock
        self.streamed = False  # a streamed change was stored since the start
        self.rows = 0  # snapshot reads of the episode in progress (0: none)
        self.last_read = 0.0
        self.started_ms: int | None = None

    async def __call__(
        self, records: Sequence[Any], outputs: Sequence[OutputRecord], positions: Sequence[int]
    ) -> None:
        try:
            self.observe(outputs)
        except Exception as exc:  # noqa: BLE001 - a visibility aid never fails a batch
            log.debug("re-snapshot watch of %s: %s", self.topology, exc)

    def observe(self, outputs: Sequence[OutputRecord]) -> None:
        """Count the batch's snapshot reads; start or end an episode."""
        reads = 0
        for record in outputs:
            if record.op is Op.READ:
                reads += 1
        now = self.clock()
        if reads:
            if self.rows == 0 and self.streamed:
                self.started_ms = int(time.time() * 1000)
                text = (
                    "snapshot reads (op=r) after streamed changes: the source is re-read "
                    "(connector re-created or re-snapshotting, slot reset, or an incremental "
                    "snapshot); versions keep the sinks converging"
                )
                log.info("topology %s: %s", self.topology, text)
                self._note(f"re-snapshot seen: {text}")
            if self.rows or self.streamed:
                self.rows += reads
            self.last_read = now
        if len(outputs) > reads:
            self.streamed = True
        if self.rows and not reads and now - self.last_read >= self.quiet:
            text = f"re-snapshot ended: {self.rows:,} row(s) re-read"
            log.info("topology %s: %s", self.topology, text)
            self._note(text)
            self.rows = 0

    @property
    def in_progress(self) -> bool:
        return self.rows > 0

    def _note(self, text: str) -> None:
        if self.note is not None:
            self.note(self.topology, text)
