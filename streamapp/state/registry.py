"""The worker's tables: which topologies are materialised, their readers, the lookup barrier.

A topology is materialised when another one looks it up or it says ``materialize=True``.
``Tables.build`` makes one Table and TableReader per such topology and binds every lookup's
``TableRef`` to its table's live-row getter; ``restore()`` loads the stores and catches every
table up with its topic before the worker's lanes consume anything; ``barrier(topology)`` is
what a lane awaits before its batch's ``process`` runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from streamapp.decode import Decoder
from streamapp.observability.metrics import Metrics
from streamapp.settings import Settings
from streamapp.state.aggemit import Aggregator
from streamapp.state.reader import TableReader
from streamapp.state.store import open_store
from streamapp.state.table import Table
from streamapp.transform.aggspec import CompiledAggregate
from streamapp.transform.compile import CompiledTopology

if TYPE_CHECKING:  # pipeline imports this module
    from streamapp.pipeline import SinkWriter

log = logging.getLogger("streamapp.state")

CATCH_UP_TIMEOUT = 600.0  # seconds a start-up restore may take before the worker gives up


def materialised(
    topologies: Sequence[CompiledTopology], aggregates: Sequence[CompiledAggregate] = ()
) -> list[CompiledTopology]:
    """The topologies that need a table, in the given order: looked up, ``materialize=True``,
    or with an ``as_of="current"`` lookup (its facts are re-emitted from its table), or
    aggregated (``aggregates``)."""
    looked_up = {name for t in topologies for name in t.table_refs}
    looked_up.update(a.table for a in aggregates)
    return [
        t
        for t in topologies
        if t.name in looked_up
        or t.topology.materialize
        or any(ref.joins for ref in t.table_refs.values())
    ]


def fingerprint(topology: CompiledTopology, aggregates: Sequence[CompiledAggregate] = ()) -> str:
    """What makes stored state stale when it changes: the generated code, the topic and the
    definitions of the table's aggregates (their stored groups are derived from the topic's
    changes since its beginning: a new or changed aggregate re-reads the topic)."""
    text = f"{topology.source_topics}\n{topology.source_code}"
    for aggregate in sorted(aggregates, key=lambda a: a.name):
        text += f"\n{aggregate.definition}"
    return hashlib.sha256(text.encode()).hexdigest()


class Tables:
    """Every materialised table of one worker process (see the module docstring)."""

    def __init__(self, readers: dict[str, TableReader], metrics: Metrics | None = None) -> None:
        self.readers = readers
        self.metrics = metrics

    @classmethod
    def build(
        cls,
        topologies: Sequence[CompiledTopology],
        *,
        decoder_for: Callable[[CompiledTopology], Decoder],
        settings: Settings,
        metrics: Metrics | None = None,
        aggregates: Sequence[tuple[CompiledAggregate, Sequence[SinkWriter]]] = (),
    ) -> Tables:
        """Tables and readers for ``topologies`` that need one, lookups bound to them, each
        ``(aggregate, its sink writers)`` kept by its table's reader; stores in
        ``settings.state_dir`` (STREAMAPP_STATE_DIR; empty: in memory)."""
        readers: dict[str, TableReader] = {}
        state_dir = settings.path(settings.state_dir) if settings.state_dir else None
        for topology in materialised(topologies, [a for a, _ in aggregates]):
            mine = [(a, w) for a, w in aggregates if a.table == topology.name]
            store = open_store(
                state_dir, topology.name, fingerprint(topology, [a for a, _ in mine])
            )
            table = Table(topology.name, topology.key_columns, store)
            reader = TableReader(
                topology, table, decoder_for(topology), settings=settings, metrics=metrics
            )
            if mine:
                reader.aggregator = Aggregator(table, mine, metrics)
            readers[topology.name] = reader
        tables = cls(readers, metrics)
        for topology in topologies:
            tables.bind(topology)
        return tables

    def bind(self, topology: CompiledTopology) -> None:
        """Point ``topology``'s lookups at the tables (also after a recompile)."""
        for name, ref in topology.table_refs.items():
            ref.get = self.readers[name].table.get

    def table(self, name: str) -> Table | None:
        """The table of topology ``name``, if it is materialised."""
        reader = self.readers.get(name)
        return None if reader is None else reader.table

    async def restore(self, timeout: float = CATCH_UP_TIMEOUT) -> None:
        """Load every store and catch every table up with its topic (concurrently)."""
        await asyncio.gather(*(r.restore(timeout) for r in self.readers.values()))

    async def barrier(self, topology: CompiledTopology, timeout: float = 30.0) -> None:
        """Wait until the tables ``topology`` reads (its lookups, and its own table for TOAST
        fill) reflect their topics as of now; after ``timeout`` seconds one warning line and
        the batch goes on with the tables as they are. The time it took is observed in
        ``streamapp_table_barrier_seconds``."""
        names = [*topology.table_refs]
        if topology.name in self.readers:
            names.append(topology.name)
        if not names:
            return
        started = time.monotonic()
        deadline = started + timeout
        for name in names:
            if not await self.readers[name].catch_up(deadline):
                log.warning(
                    "table %s did not catch up with its topic within %.0f s; %s goes on with "
                    "the table as it is",
                    name,
                    timeout,
                    topology.name,
                )
        if self.metrics is not None:
            self.metrics.table_barrier_seconds.labels(topology.name).observe(
                time.monotonic() - started
            )

    async def wait_for(self, keys: dict[str, list[tuple[Any, ...]]], deadline: float) -> bool:
        """True once every ``(table, key)`` has a live row, False at ``deadline``."""
        results = [await self.readers[n].wait_for(k, deadline) for n, k in keys.items()]
        return all(results)

    async def close(self) -> None:
        """Stop every reader (checkpointing its table)."""
        for reader in self.readers.values():
            await reader.stop()
