"""as_of="current" lookups: the fact lane's version rule; facts re-emitted on a dimension change.

A fact topology F with ``t.lookup(D, on=..., as_of="current")`` is materialised too (a global
table of F's output rows, indexed on the ``on`` output column). Two paths write F's rows:

* **F's lane** processes a fact event as any lookup does (the tables caught up with their
  topics as of the batch), and stamps each output ``version = max(fact version, clock)``, where
  ``clock`` is the largest version any of F's current-looked-up tables has applied
  (``Table.clock``; the dimension row's own version is at most that);
* **D's lane**, after D's batch is stored and before its offsets are committed, catches D's and
  F's tables up with their topics (as of that moment), takes every live fact row referencing a
  changed dimension key (F's table index), replaces its looked-up columns with the current
  dimension values (null when the row is missing or deleted), stamps ``version = max(stored
  fact version, clock)`` and stores the rows through F's pipeline (F's sinks, output topic,
  encoder and error routing), in chunks of ``CHUNK`` facts. Then it catches F's table up again
  and re-emits, the same way, every fact whose row changed meanwhile (a fact update that raced
  the re-emission), until none did. A failure fails D's batch: it is re-delivered, and the
  versioned writes make the repeat harmless.

Why the clock and not the dimension row's version: a fact that moves from dimension row A to
row B must win over the row emitted for A. Processed late (a replay, a restart after downtime),
the fact's old event is joined with A's newest change, say version 100, while the move itself
(version 20) is joined with B (version 6): with ``max(fact, row)`` the move gets 20 and the
sinks keep the stale row of version 100. The clock gives the move 100 or more.

Convergence (the sinks end with F ⋈ D of the current tables, for every fact key k):

1. every emission is computed synchronously from tables caught up with their topics as of a
   moment t (the barrier), so its clock is at least the version of every dimension change that
   was in its topic at t, on any worker: a later emission never carries a smaller clock than
   what an earlier one could have seen, and the clock never decreases on one worker;
2. the last change relevant to k is either a fact event (processed by F's lane after every
   earlier event of k, with a clock no smaller than the earlier emissions'; equal versions are
   replaced in order) or a change of the dimension row k references (re-emitted after it is in
   D's table, with the fact row as it then stands and a version above every emission made
   before the change reached its topic);
3. a re-emission may have read a fact row that F's lane replaced while the re-emission was
   being written, at the same version; the check after the write finds such keys (their
   events are in F's topic by then) and re-emits them with the new fact row, while a fact event
   that reaches the topic after the check is processed by F's lane after the write, so its
   emission replaces the re-emitted row.

So the emission made after the last relevant change carries the largest version and the
complete content. Caveats: versions tie when the clock dominates both rows; ties are settled by
write order as above. A topology that is both a fact with a current lookup and itself looked up
``as_of="current"`` re-emits its own rows, but its table keeps the looked-up values its reader
computed, not the re-emitted ones.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from streamapp.errors import ConfigError
from streamapp.records import UNCHANGED, Op, OutputRecord
from streamapp.state.registry import Tables
from streamapp.state.store import Key
from streamapp.state.table import Table
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.lookup import CurrentJoin

if TYPE_CHECKING:
    from streamapp.pipeline import Pipeline

log = logging.getLogger("streamapp.state")

CHUNK = 5000  # facts re-emitted per store (memory: one chunk of rows and messages)
ROUNDS = 20  # re-checks of facts that changed while being re-emitted, at most
BARRIER_TIMEOUT = 60.0  # seconds the tables may take to catch up before the batch fails


def current_joins(topology: CompiledTopology) -> list[CurrentJoin]:
    """The topology's ``as_of="current"`` lookups, as compiled (see ``lookup.CurrentJoin``)."""
    return [join for ref in topology.table_refs.values() for join in ref.joins.values()]


class Joiner:
    """One fact topology's current joins over the worker's tables: the version rule, a fact
    row patched with the current dimension values, the facts referencing a dimension key."""

    def __init__(self, topology: CompiledTopology, tables: Tables) -> None:
        self.name = topology.name
        self.joins = current_joins(topology)
        facts = tables.table(topology.name)
        if facts is None:
            raise ConfigError(f"topology {topology.name}: its table is not materialised")
        self.facts: Table = facts
        dims = {join.table: tables.table(join.table) for join in self.joins}
        self.dims: dict[str, Table] = {n: t for n, t in dims.items() if t is not None}

    def clock(self) -> int:
        """The largest version applied to any current-looked-up table."""
        return max((t.clock for t in self.dims.values()), default=0)

    def stamp(self, outputs: list[OutputRecord]) -> list[OutputRecord]:
        """The fact lane's outputs with ``version = max(own version, clock)``."""
        clock = self.clock()
        return [o if o.version >= clock else o._replace(version=clock) for o in outputs]

    def patch(self, row: dict[str, Any]) -> dict[str, Any]:
        """``row`` (a fact output row) with every current join's columns replaced by the
        current dimension values (null for a null reference or a missing row)."""
        value = dict(row)
        for join in self.joins:
            on = tuple(row.get(c) for c in join.on)
            if any(v is UNCHANGED for v in on):
                continue  # a reference not known yet: the sinks keep what they have
            dim = None if None in on else self.dims[join.table].get(on)
            for src, dest in join.columns:
                value[dest] = None if dim is None else dim.get(src)
        return value

    def current(self, key: Key, clock: int) -> OutputRecord | None:
        """The fact row ``key`` as it stands in the fact table, joined with the current
        dimension rows, version ``max(fact version, clock)``; a deleted fact gives its delete
        (last image), a key never seen None."""
        version = self.facts.version(key)
        image = self.facts.last_image(key)
        if version is None or image is None:
            return None
        live = self.facts.get(key)
        value = self.patch(dict(image))
        unchanged = frozenset(c for c, v in value.items() if v is UNCHANGED)
        op = Op.UPDATE if live is not None else Op.DELETE
        return OutputRecord(
            self.name, key, value, max(version, clock), op, live is None, unchanged, None
        )

    def referencing(self, table: str, dim_key: Key) -> Iterable[Key]:
        """Keys of the live facts whose current join on ``table`` references ``dim_key``."""
        for join in self.joins:
            if join.table != table:
                continue
            rest = list(zip(join.on[1:], dim_key[1:], strict=True))
            for key in self.facts.referencing(join.on[0], dim_key[0]):
                row = self.facts.get(key)
                if row is not None and all(row.get(c) == v for c, v in rest):
                    yield key


class Reemitter:
    """Called by dimension ``table``'s pipeline once a batch is stored (before its commit):
    re-emits the facts referencing the batch's changed keys through ``facts`` (see the module
    docstring)."""

    def __init__(self, facts: Pipeline, joiner: Joiner, tables: Tables, table: str) -> None:
        self.facts = facts
        self.joiner = joiner
        self.tables = tables
        self.table = table
        self.chunk = CHUNK
        self.reemitted = 0  # facts stored by re-emission (rounds included)

    async def __call__(
        self, records: Sequence[Any], outputs: Sequence[OutputRecord], origins: Sequence[int]
    ) -> None:
        changed: dict[Key, int] = {}  # dimension key -> the input position of its last change
        for out, position in zip(outputs, origins, strict=True):
            changed[out.key] = position
        if not changed:
            return
        await self._barrier()
        facts: dict[Key, int] = {}  # fact key -> the dimension change that re-emits it
        for dim_key, position in changed.items():
            for key in self.joiner.referencing(self.table, dim_key):
                facts.setdefault(key, position)
        items = list(facts.items())
        for start in range(0, len(items), self.chunk):
            await self._emit(records, items[start : start + self.chunk])

    async def _emit(self, records: Sequence[Any], items: list[tuple[Key, int]]) -> None:
        """Store ``items``' facts, then again those whose fact row changed meanwhile."""
        facts = self.joiner.facts
        for _ in range(ROUNDS):
            clock = self.joiner.clock()
            seen = {key: (facts.version(key), facts.last_image(key)) for key, _ in items}
            outputs, origins = [], []
            for key, position in items:
                out = self.joiner.current(key, clock)
                if out is not None:
                    outputs.append(out)
                    origins.append(position)
            if not outputs:
                return
            await self.facts.reemit(records, outputs, origins)
            self.reemitted += len(outputs)
            await self._barrier()
            items = [(key, pos) for key, pos in items if self._changed(key, *seen[key])]
            if not items:
                return
        log.warning(
            "%s: %d fact(s) kept changing while %s's change was re-emitted %d times; their "
            "newest events reach the sinks through %s's own lane",
            self.joiner.name,
            len(items),
            self.table,
            ROUNDS,
            self.joiner.name,
        )

    def _changed(self, key: Key, version: int | None, image: Any) -> bool:
        facts = self.joiner.facts
        return facts.version(key) != version or facts.last_image(key) is not image

    async def _barrier(self) -> None:
        deadline = time.monotonic() + BARRIER_TIMEOUT
        for name in (self.table, self.joiner.name):
            if not await self.tables.readers[name].catch_up(deadline):
                raise TimeoutError(
                    f"table {name} did not catch up with its topic within "
                    f"{BARRIER_TIMEOUT:.0f} s; the change of {self.table} that re-emits "
                    f"{self.joiner.name}'s facts is retried"
                )


def wire(pipelines: Sequence[Pipeline], tables: Tables | None) -> None:
    """Hook the ``as_of="current"`` lookups of ``pipelines`` up (before the tables restore):
    index each fact table on its ``on`` columns, stamp its lane's versions, and give each
    dimension's pipeline a :class:`Reemitter` (when that pipeline runs here)."""
    if tables is None:
        return
    by_name = {p.topology.name: p for p in pipelines}
    for pipeline in pipelines:
        joins = current_joins(pipeline.topology)
        if not joins:
            continue
        joiner = Joiner(pipeline.topology, tables)
        for join in joins:
            joiner.facts.index(join.on[0])
        pipeline.stamp = joiner.stamp
        for name in sorted({join.table for join in joins}):
            dimension = by_name.get(name)
            if dimension is not None:
                dimension.after_store.append(Reemitter(pipeline, joiner, tables, name))
