"""The aggregates of one base table: kept with the table by its reader, emitted to their sinks.

An :class:`Aggregator` belongs to the ``TableReader`` of the aggregated topology. Its
``apply`` replaces ``Table.apply``: each change is applied to the table, then every aggregate
accounts for the key's row before and after, with the change's event version
(``AggregateState.change``; a group's version is the largest of its changes'). At each reader
checkpoint, ``emit`` writes the dirty groups to each aggregate's sinks (``SinkWriter``: the
sinks' own versioned upserts, retry, breaker; it waits while a sink is unavailable), and
only then does the reader write its checkpoint: rows, offsets and the groups' versions
(``extra``) in one atomic store write. A crash in between re-reads the changes after the old
checkpoint and emits the same (version, row) again: idempotent. Sums and extremes are not
stored: ``load`` derives them from the table's live rows, with the stored versions. The
versions are stored because the table's entries do not hold them: a row that moved to
another group (and changed again there) leaves no trace in the table of the version with which
it left the old group, yet that group's version must not fall below it after a restart (a
change of the group read late from another partition would then be emitted below what the
sinks hold).

A sink's refusal of a group row for its content (there is no source record to send to a
DLQ) is one warning line per emission and ``streamapp_aggregate_rows_refused``; that sink
keeps its old row of the group until the group changes again. Other failures propagate: the
reader stops, and the checkpoint is not written.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from streamapp.observability.metrics import Metrics
from streamapp.records import OutputRecord
from streamapp.state.aggregate import AggregateState, Row
from streamapp.state.store import Key
from streamapp.state.table import Table
from streamapp.transform.aggspec import CompiledAggregate

if TYPE_CHECKING:  # pipeline imports state.registry, which imports this module
    from streamapp.pipeline import SinkWriter

log = logging.getLogger("streamapp.state")


class Aggregator:
    """Every aggregate of one table with its sink writers (see the module docstring)."""

    def __init__(
        self,
        table: Table,
        aggregates: Sequence[tuple[CompiledAggregate, Sequence[SinkWriter]]],
        metrics: Metrics | None = None,
    ) -> None:
        self.table = table
        self.metrics = metrics
        self.stopping = asyncio.Event()  # set at stop: an unavailable sink then fails the emit
        self.states: list[AggregateState] = []
        self.writers: dict[str, list[SinkWriter]] = {}
        self._unsaved: dict[str, set[Key]] = {}
        for compiled, writers in aggregates:
            column = compiled.key_columns[0]
            if any(p.func in ("min", "max") for p in compiled.plans):
                table.index(column)
            self.states.append(AggregateState(compiled, self._rows_of(column)))
            self.writers[compiled.name] = list(writers)
            self._unsaved[compiled.name] = set()
            for writer in writers:
                writer.metrics = metrics

    def _rows_of(self, column: str) -> Any:
        table = self.table

        def rows_of(key: Key) -> Iterator[Row]:
            for k in table.referencing(column, key[0]):
                row = table.get(k)
                if row is not None:
                    yield row

        return rows_of

    def apply(self, outputs: Iterable[OutputRecord]) -> int:
        """Apply ``outputs`` to the table in order, and each change to every aggregate;
        returns how many changed the table (like ``Table.apply``)."""
        table, get, states = self.table, self.table.get, self.states
        changed = 0
        for out in outputs:
            old = get(out.key)
            changed += table.apply((out,))
            new = get(out.key)
            if new is not old:
                for state in states:
                    state.change(old, new, out.source_ts_ms, out.version)
        return changed

    def load(self) -> None:
        """Rebuild every aggregate from the table's live rows and the stored versions (after
        ``Table.load``)."""
        versions: dict[str, dict[Key, int]] = {s.name: {} for s in self.states}
        for raw, value in self.table.store.load_extra():
            name, key = pickle.loads(raw)
            if name in versions:
                versions[name][key] = int.from_bytes(value, "big")
        for state in self.states:
            state.load((row for _, row in self.table.rows()), versions[state.name])
            self._gauge(state)

    @property
    def dirty(self) -> bool:
        return any(state.dirty for state in self.states)

    async def emit(self) -> int:
        """Write every dirty group to its aggregate's sinks; returns the rows written. The
        groups stay dirty when a sink fails (the exception propagates)."""
        total = 0
        for state in self.states:
            if not state.dirty:
                continue
            keys = list(state.dirty)
            records = state.records(keys)
            writers = self.writers[state.name]
            await asyncio.gather(*(self._write(state.name, w, records) for w in writers))
            state.dirty.difference_update(keys)
            self._unsaved[state.name].update(keys)
            total += len(records)
            if self.metrics is not None:
                self.metrics.aggregate_emitted.labels(state.name).inc(len(records))
            self._gauge(state)
        return total

    def extra(self) -> dict[bytes, bytes]:
        """The versions of the groups emitted since the last ``saved()``, for the checkpoint."""
        out: dict[bytes, bytes] = {}
        for state in self.states:
            groups = state.groups
            for key in self._unsaved[state.name]:
                raw = pickle.dumps((state.name, key), 5)
                out[raw] = groups[key].version.to_bytes(8, "big")
        return out

    def saved(self) -> None:
        """The checkpoint holding ``extra()`` is written."""
        for keys in self._unsaved.values():
            keys.clear()

    async def _write(self, name: str, writer: SinkWriter, records: list[OutputRecord]) -> None:
        refused = {p: item.error for item in writer.precheck(records) for p in item.positions}
        kept = [r for i, r in enumerate(records) if i not in refused]
        if kept:
            positions = [i for i in range(len(records)) if i not in refused]
            for item in await writer.write(kept, self.stopping):
                for p in item.positions:
                    refused.setdefault(positions[p], item.error)
        if not refused:
            return
        if self.metrics is not None:
            self.metrics.aggregate_refused.labels(name, writer.name).inc(len(refused))
        first = refused[min(refused)]
        log.warning(
            "aggregate %s: %s refused %d group row(s) for their content (first: %s); it keeps "
            "its old row of those groups until they change again",
            name,
            writer.name,
            len(refused),
            first,
        )

    def _gauge(self, state: AggregateState) -> None:
        if self.metrics is not None:
            self.metrics.aggregate_groups.labels(state.name).set(state.live)


def versions(extra: Mapping[bytes, bytes]) -> dict[tuple[str, Key], int]:
    """``extra`` decoded: (aggregate, group) -> version (tests, diagnostics)."""
    return {pickle.loads(k): int.from_bytes(v, "big") for k, v in extra.items()}
