"""The sink contract (TableSpec, Rejected, Sink) and the batch helpers every sink shares.

Design note: one small contract, one adapter per destination
-------------------------------------------------------------
What every sink guarantees (the pipeline, the DLQ, replay and ``reconcile`` rely on nothing else):

1. **Idempotent versioned upsert.** Every stored row carries the ``version`` of the event that
   wrote it (an int in ``[0, 2**63)``); a write lands when its version is greater than *or equal
   to* the stored one (equal versions replace: partition order decides ties, and a retry of the
   same batch re-applies the same rows). Replays, duplicates and out-of-order redelivery
   therefore converge to the state of the highest version per key. A column listed in a
   record's ``unchanged`` keeps its stored value.
2. **Deletes are tombstones.** A delete stores its version (``__deleted`` rows in SQL sinks, a
   ``K:__version`` key in Redis), so an older event redelivered later cannot resurrect the key.
3. **Content refusals are returned by position**, never raised: ``precheck`` (no I/O, the sink's
   own rules) and ``write`` (what only the server finds) return :class:`Rejected` with indexes
   into the records they received; those records go to the DLQ and every other record is stored.
4. **Transient failures are raised** as ``SinkError(retriable=True)`` after storing nothing a
   retry of the same batch cannot redo idempotently; the caller (``SinkWriter`` with
   ``resilience.retry`` and the circuit breaker) retries. ``retriable=False``: retrying cannot help.
5. **Durable now, or durable later.** ``write`` returns once its records are durable. A sink
   whose commits are costly and must be rare (Iceberg: one snapshot per commit) says
   ``deferred = True`` and offers ``stage`` (content checks and refusals as ``write``, the
   records accepted into memory) and ``barrier`` (an awaitable done once everything staged so
   far is durable). The pipeline then stages each batch, lets the lane go on to the next one
   and marks the batch's offsets processed only when its barrier resolves, in lane order: the
   offsets still never run ahead of the sink, and the lane is not held for a commit interval.
   ``flush`` commits what is staged now (revocation, stop). A deferred sink retries a failed
   commit of staged records itself; a barrier raises only when it cannot (the worker stops,
   and the batches behind it are re-delivered).

What each adapter owns, in its own package (``sinks/postgres/``, ``sinks/clickhouse/``,
``sinks/redis/``), so nothing about a destination is written twice:

- its **type mapping** (``FieldType`` -> column or field type, Python value -> stored form), on top
  of the destination-neutral value checks and canonical JSON/text forms of ``sinks.values``;
- its **key encoding**, injective: distinct keys never render alike (SQL key columns, Redis key
  templates in ``sinks.redis.keys``);
- its **DDL or mapping** (``ensure_table``: create, add nullable columns, idempotent);
- the **versioned write** and tombstone write (``write``), and the freshness rows
  (``write_freshness``);
- its **reconcile reader** (``reader.py``), which reads back through the same key encoding and
  type mapping the write used; ``reconcile`` imports it from the sink package.

A new sink is a package with a ``Sink`` subclass, a reader, a ``kind`` in ``SINK_KINDS`` and a
branch of ``create_sink``; it reuses ``check_keys``, ``collapse`` and ``bisect`` below.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import is_
from typing import TYPE_CHECKING, Any, ClassVar, Final, TypeVar

from streamapp.errors import ConfigError, SinkError
from streamapp.records import UNCHANGED, OutputRecord
from streamapp.sinks.freshness import FreshnessRow
from streamapp.types import FieldType

if TYPE_CHECKING:
    from streamapp.observability.metrics import Metrics

MAX_VERSION: Final = 1 << 63
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TableSpec:
    """What one topology asks of one sink: a target, its key columns and its typed columns.

    ``columns`` lists the output columns in order, key columns included; ``target`` is a table
    name (ClickHouse, PostgreSQL) or a key template such as ``"orders:{id}"`` (Redis).
    ``options`` holds sink-specific settings, e.g. ``{"schema": "public"}`` or
    ``{"ttl_seconds": 3600, "format": "json"}``. Construction raises ConfigError when the key
    columns are empty, repeated or not among ``columns``.
    """

    topology: str
    target: str
    key_columns: tuple[str, ...]
    columns: Mapping[str, FieldType]
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"topology {self.topology!r}, target {self.target!r}"
        if not self.target:
            raise ConfigError(f"{where}: the sink target is empty; name a table or key template")
        if not self.key_columns:
            raise ConfigError(f"{where}: no key columns; sinks upsert by key, declare one")
        if len(set(self.key_columns)) != len(self.key_columns):
            raise ConfigError(f"{where}: key columns repeat a name; list each once")
        missing = [k for k in self.key_columns if k not in self.columns]
        if missing:
            raise ConfigError(f"{where}: key column(s) {missing} are not output columns")

    @property
    def signature(self) -> tuple[Any, ...]:
        """A hashable identity of target, keys and columns (options excluded), for plan caches."""
        return (self.target, self.key_columns, tuple(self.columns.items()))

    @property
    def where(self) -> str:
        """``topology 'x', target 'y'``: the location prefix of every message about this table."""
        return f"topology {self.topology!r}, target {self.target!r}"


@dataclass(frozen=True, slots=True)
class Rejected:
    """Records the sink refused for their content (they go to the DLQ); ``error`` names no value.

    ``positions`` are indexes into the ``records`` that ``Sink.write`` received: one, or several
    when the batch merged records of one key into the row that was refused (``collapse``), so
    every origin of a refused row reaches the DLQ. Never an identity: sinks refuse copies.
    """

    positions: tuple[int, ...]
    error: SinkError


class Sink(abc.ABC):
    """One destination. Every method is a coroutine; none blocks the event loop.

    Guarantees: ``write`` returns only once every record it did not return as ``Rejected`` is
    durably stored; for one key the highest version always wins, whatever the order or number
    of deliveries; a column listed in a record's ``unchanged`` keeps its stored value. Transient
    failures raise ``SinkError(retriable=True)`` after storing nothing that a retry of the same
    batch cannot redo idempotently; ``retriable=False`` means retrying cannot help.
    """

    kind: ClassVar[str]

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect; SinkError(retriable=True) when the service cannot be reached."""

    @abc.abstractmethod
    async def ensure_table(self, table: TableSpec) -> None:
        """Create the target if missing and add new (nullable) columns; idempotent."""

    @abc.abstractmethod
    async def write(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        """Store ``records``; return the ones refused for their content (by position in
        ``records``, each position at most once), store all others."""

    def precheck(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        """The records ``write`` would refuse for their content by this sink's own rules (a NUL
        in PostgreSQL text, a lone surrogate for Redis), by position, found without I/O and
        without changing anything. The pipeline keeps such records from every sink, so a record
        in the DLQ is not half-stored. Refusals only the server can find still come from
        ``write``. Default: none."""
        return []

    async def write_freshness(self, table: TableSpec, rows: Sequence[FreshnessRow]) -> None:
        """Store the freshness contract's ``rows`` next to ``table`` (the SQL sinks' tables
        in ``sinks/freshness.py``); SinkError when it fails. Default: nothing to store."""
        return None

    deferred: ClassVar[bool] = False  # True: stage/barrier/flush below (guarantee 5)
    # the worker's metrics (set by Runtime): a deferred sink reports its commits and the
    # records waiting for one under labels(table), as SinkWriter labels its writes
    metrics: Metrics | None = None

    def labels(self, table: TableSpec) -> tuple[str, str]:
        """The (topology, sink) metric labels of ``table`` in this sink."""
        return table.topology, f"{self.kind}:{table.target}"

    async def stage(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        """A deferred sink: accept ``records`` for a later commit, returning the ones refused
        for their content as ``write`` would; durable once ``barrier(table)`` resolves."""
        raise NotImplementedError(f"{self.kind} sink writes durably now; call write")

    def barrier(self, table: TableSpec) -> Awaitable[Any]:
        """A deferred sink: done once every record staged for ``table`` so far is durable;
        raises when the sink cannot make them durable."""
        raise NotImplementedError(f"{self.kind} sink writes durably now; call write")

    async def flush(self) -> None:
        """A deferred sink: commit what is staged now (not waiting for its interval) and
        return once it is durable. Default: nothing is ever staged."""
        return None

    @abc.abstractmethod
    async def healthy(self) -> bool:
        """True when a real round trip to the service succeeds now; never raises."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections; idempotent."""


def check_keys(
    table: TableSpec, records: Sequence[OutputRecord]
) -> tuple[list[OutputRecord], list[int], list[Rejected]]:
    """Split off records no sink can store: a key of the wrong arity or with a null, a bad version.

    Returns the storable records, their positions in ``records``, and the refusals (by
    position). Also normalises ``unchanged``: a value that *is* the UNCHANGED sentinel counts as
    unchanged even when the record forgot to list it, so the sentinel can never be written over
    a value.
    """
    arity = len(table.key_columns)
    if _all_storable(records, arity):
        return list(records), list(range(len(records))), []
    good: list[OutputRecord] = []
    positions: list[int] = []
    bad: list[Rejected] = []
    for i, r in enumerate(records):
        if len(r.key) != arity or None in r.key:
            msg = (
                f"{table.where}: the record key must hold {arity} non-null value(s) "
                f"for {table.key_columns}; fix the topology's key columns"
            )
            bad.append(Rejected((i,), SinkError(msg)))
            continue
        if type(r.version) is not int or not 0 <= r.version < MAX_VERSION:
            msg = (
                f"{table.where}: the record version must be an int in [0, 2**63), "
                f"got {type(r.version).__name__}; this is a decode bug, report it"
            )
            bad.append(Rejected((i,), SinkError(msg)))
            continue
        # by identity: `UNCHANGED in values()` would call __eq__ of every value (twice as slow)
        if not r.deleted and any(v is UNCHANGED for v in r.value.values()):
            missed = frozenset(c for c, v in r.value.items() if v is UNCHANGED)
            if not missed <= r.unchanged:
                r = r._replace(unchanged=r.unchanged | missed)
        good.append(r)
        positions.append(i)
    return good, positions, bad


def _all_storable(records: Sequence[OutputRecord], arity: int) -> bool:
    """True when ``check_keys`` would keep every record as it is: the same tests, run per test
    over the whole batch in C-level loops (a third of the per-record loop's cost)."""
    if not records:
        return True
    keys = [r.key for r in records]
    if set(map(len, keys)) != {arity} or any(map(is_, chain.from_iterable(keys), repeat(None))):
        return False
    versions = [r.version for r in records]
    if set(map(type, versions)) != {int} or min(versions) < 0 or max(versions) >= MAX_VERSION:
        return False
    values = chain.from_iterable(r.value.values() for r in records if not r.deleted)
    return not any(map(is_, values, repeat(UNCHANGED)))


def _merge(prev: OutputRecord, nxt: OutputRecord) -> OutputRecord:
    """``nxt`` applied on top of ``prev`` (older): its unchanged columns take ``prev``'s values."""
    if nxt.deleted or not nxt.unchanged:
        return nxt
    value = dict(nxt.value)
    still: set[str] = set()
    for name in nxt.unchanged:
        if prev.deleted:
            value[name] = None  # a tombstone has no values left to keep
        elif name in prev.unchanged:
            still.add(name)
            value[name] = UNCHANGED
        else:
            value[name] = prev.value.get(name)
    return nxt._replace(value=value, unchanged=frozenset(still))


def collapse(
    records: Sequence[OutputRecord], positions: Sequence[int] | None = None
) -> tuple[list[OutputRecord], list[tuple[int, ...]]]:
    """One record per key: the highest version, with unchanged columns filled from older ones.

    Records of a key are applied in version order (ties: the later in the batch wins), so a
    column the winner left unchanged takes the latest value an older record of the batch set;
    it stays in ``unchanged`` only when no record of the batch set it (the sink then keeps the
    stored value). A delete clears the values (nothing left to keep). Keys keep first-seen order.

    Returns the records and, for each, the positions of every record merged into it (from
    ``positions``, or indexes into ``records``), in batch order: a refusal of the merged row is
    a refusal of each of them.
    """
    where = range(len(records)) if positions is None else positions
    first: dict[tuple[Any, ...], int] = {}  # key -> index of its first record
    more: dict[tuple[Any, ...], list[int]] = {}
    for j, r in enumerate(records):
        seen = first.setdefault(r.key, j)
        if seen != j:
            more.setdefault(r.key, [seen]).append(j)
    if not more:
        return list(records), [(p,) for p in where]
    out: list[OutputRecord] = []
    origins: list[tuple[int, ...]] = []
    for key, j in first.items():
        group = more.get(key)
        if group is None:
            out.append(records[j])
            origins.append((where[j],))
            continue
        ordered = sorted(group, key=lambda g: records[g].version)  # stable: ties keep batch order
        state = records[ordered[0]]
        for g in ordered[1:]:
            state = _merge(state, records[g])
        out.append(state)
        origins.append(tuple(where[g] for g in group))
    return out, origins


async def bisect(
    items: Sequence[T],
    attempt: Callable[[Sequence[T]], Awaitable[None]],
    is_content: Callable[[BaseException], bool],
) -> list[tuple[T, BaseException]]:
    """Run ``attempt`` on ``items``; on a content error split in halves until the culprits remain.

    Returns (item, error) for each item that fails on its own; every other item has been passed
    to a successful ``attempt``. An error ``is_content`` rejects propagates unchanged. Costs
    about ``2 * k * log2(n)`` attempts for ``k`` culprits among ``n`` items.
    """
    try:
        await attempt(items)
        return []
    except Exception as exc:
        if not is_content(exc):
            raise
        if len(items) == 1:
            return [(items[0], exc)]
        mid = len(items) // 2
        failed = await bisect(items[:mid], attempt, is_content)
        return failed + await bisect(items[mid:], attempt, is_content)
