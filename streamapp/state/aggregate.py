"""Incremental aggregate state with retractions: per group rows, sums, min/max and a version.

:class:`AggregateState` is pure (no I/O). The table's reader calls ``change(old, new, ts,
version)`` for every change it applies to the base table, with the key's live row before and
after (None: no row) and the change's event version (``OutputRecord.version``, see
``decode.version``), *after* the table has applied it. The change's contribution to the
aggregate is ``(group, values)`` of each row (None when the row is filtered out by ``where`` or
its group has a NULL): when the two are equal nothing happens; otherwise the old contribution is
subtracted from its group and the new one added to its group (so a row whose ``group_by`` value
changes moves from one group to the other), each touched group is marked dirty and its
**version** becomes the largest event version among the changes that altered it (entering,
leaving, or changing values in it; the change that empties it too). ``sum`` is exact for int
and decimal (a 100-digit context; float sums carry float rounding, as any running float sum).
``min``/``max`` are recomputed over the group's live rows (``rows_of``, the base table's
index on the first ``group_by`` column) only when the retracted value was the extreme.
A group without rows is emitted as a delete at its version; the version is kept (a row of the
group applied later, even one with a smaller version read late from another partition, is
emitted at no less than the delete's), so memory grows with the groups ever seen.

Convergence (why every replica's sinks end with the right row; the sinks keep the largest
version per key, an equal version replacing): every worker eventually applies every change,
and emits a group after applying changes that alter it, so each worker's *last* emission of a
group reflects all the group's changes and carries their maximum version. An earlier
(incomplete) emission has a version <= that maximum and precedes, within its worker, that
worker's final complete emission; so the last write at the maximum version is a complete one,
and equal versions replace. The version depends only on the events (each key's changes arrive
in order, on one partition; the order in which partitions are read does not matter), so a
store rebuilt from the topic (an edited base topology changes the store's fingerprint, a new
worker with an in-memory store, a lost state directory) recomputes the same maxima, and a
change made after the sinks' rows has a larger event version than any of them: a rebuilt store
never emits below what the sinks already hold for a group that changes again. From a compacted
or trimmed topic a group that does not change again may be recomputed at a lower version than
a sink holds; that sink keeps its row, written by a store that had applied the same changes.
(A change counter, the former version, restarted from zero there: the sinks ignored every
rebuilt row until the counter passed theirs.)
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable, Iterable, Mapping
from decimal import Context
from typing import Any

from streamapp.records import UNCHANGED, Op, OutputRecord
from streamapp.state.store import Key
from streamapp.transform.aggspec import CompiledAggregate
from streamapp.types import Kind

log = logging.getLogger("streamapp.state")

Row = Mapping[str, Any]
RowsOf = Callable[[Key], Iterable[Row]]
Contribution = tuple[Key, tuple[Any, ...]]
_EXACT = Context(prec=100)  # decimal sums: exact far beyond decimal(38,s)
_COUNT_ROWS, _COUNT, _SUM, _MIN, _MAX = range(5)
_CODES = {"count": _COUNT, "sum": _SUM, "min": _MIN, "max": _MAX}


class Group:
    """One group's state: its rows, per column the non-NULL count and the sum or extreme."""

    __slots__ = ("counts", "rows", "ts", "values", "version")

    def __init__(self, width: int) -> None:
        self.rows = 0
        self.version = 0
        self.ts: int | None = None
        self.values: list[Any] = [None] * width
        self.counts: list[int] = [0] * width


class AggregateState:
    """The groups of one aggregate (see the module docstring for the contract)."""

    def __init__(self, compiled: CompiledAggregate, rows_of: RowsOf | None = None) -> None:
        self.compiled = compiled
        self.name = compiled.name
        self.rows_of = rows_of
        self.where = compiled.where
        self.groups: dict[Key, Group] = {}
        self.dirty: set[Key] = set()
        self.live = 0  # groups with rows
        self.where_failures = 0
        self._group_by = compiled.key_columns
        self._sources = tuple(p.column for p in compiled.plans)
        self._codes = tuple(
            _COUNT_ROWS if p.column is None else _CODES[p.func] for p in compiled.plans
        )
        decimal = tuple(p.type.kind is Kind.DECIMAL for p in compiled.plans)
        self._add_ops = tuple(_EXACT.add if d else operator.add for d in decimal)
        self._sub_ops = tuple(_EXACT.subtract if d else operator.sub for d in decimal)

    def contribution(self, row: Row | None) -> Contribution | None:
        """``(group, values)`` of ``row``, or None when it belongs to no group."""
        if row is None:
            return None
        if self.where is not None and not self._passes(row):
            return None
        group = tuple(row.get(c) for c in self._group_by)
        if any(v is None or v is UNCHANGED for v in group):
            return None
        values = tuple(None if s is None else _known(row.get(s)) for s in self._sources)
        return group, values

    def change(self, old: Row | None, new: Row | None, ts: int | None, version: int) -> bool:
        """Account for one applied base change (``old``/``new``: the key's live row before and
        after it, the table already holds ``new``; ``ts``: its source time in ms or None;
        ``version``: its event version); True when a group changed."""
        a = self.contribution(old)
        b = self.contribution(new)
        if a == b:
            return False
        redo: list[int] = []
        if a is not None:
            self._retract(self.groups[a[0]], a[1], redo)
        if b is not None:
            group = self.groups.get(b[0])
            if group is None:
                group = self.groups[b[0]] = Group(len(self._codes))
            self._add(group, b[1])
        for key in {c[0] for c in (a, b) if c is not None}:
            group = self.groups[key]
            if version >= group.version:
                group.version = version
                group.ts = ts if ts is not None else group.ts  # of the change carrying it
            elif group.ts is None:
                group.ts = ts
            self.dirty.add(key)
        if redo and a is not None:
            self._recompute(a[0], redo)
        return True

    def row(self, key: Key) -> dict[str, Any] | None:
        """The output row of group ``key`` (None: no rows, or never seen)."""
        group = self.groups.get(key)
        if group is None or group.rows == 0:
            return None
        out = dict(zip(self._group_by, key, strict=True))
        for plan, code, value, count in zip(
            self.compiled.plans, self._codes, group.values, group.counts, strict=True
        ):
            if code == _COUNT_ROWS:
                out[plan.name] = group.rows
            elif code == _COUNT:
                out[plan.name] = count
            else:
                out[plan.name] = value if count else None
        return out

    def records(self, keys: Iterable[Key]) -> list[OutputRecord]:
        """The output records of groups ``keys``: an upsert, or a delete for an empty group."""
        out = []
        for key in keys:
            group = self.groups[key]
            row = self.row(key)
            deleted = row is None
            out.append(
                OutputRecord(
                    self.name,
                    key,
                    dict(zip(self._group_by, key, strict=True)) if row is None else row,
                    group.version,
                    Op.DELETE if deleted else Op.UPDATE,
                    deleted,
                    frozenset(),
                    group.ts,
                )
            )
        return out

    def load(self, rows: Iterable[Row], versions: Mapping[Key, int]) -> None:
        """Rebuild every group from the base table's live ``rows`` and the stored ``versions``
        (nothing dirty): the sums and extremes are derived, only the versions are stored."""
        self.groups = {}
        self.dirty = set()
        self.live = 0
        width = len(self._codes)
        for row in rows:
            c = self.contribution(row)
            if c is not None:
                group = self.groups.get(c[0])
                if group is None:
                    group = self.groups[c[0]] = Group(width)
                self._add(group, c[1])
        for key, version in versions.items():
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = Group(width)
            group.version = version

    def _passes(self, row: Row) -> bool:
        assert self.where is not None
        try:
            return bool(self.where(row))
        except Exception as exc:  # noqa: BLE001 - user code: the row counts in no group
            self.where_failures += 1
            if self.where_failures == 1:
                log.warning(
                    "aggregate %s: where raised %s; such rows count in no group (further "
                    "failures are only counted)",
                    self.name,
                    type(exc).__name__,
                )
            return False

    def _add(self, group: Group, values: tuple[Any, ...]) -> None:
        group.rows += 1
        if group.rows == 1:
            self.live += 1
        for i, (code, v) in enumerate(zip(self._codes, values, strict=True)):
            if code == _COUNT_ROWS or v is None:
                continue
            group.counts[i] += 1
            current = group.values[i]
            if group.counts[i] == 1:
                group.values[i] = None if code == _COUNT else v
            elif code == _SUM:
                group.values[i] = self._add_ops[i](current, v)
            elif (code == _MIN and v < current) or (code == _MAX and v > current):
                group.values[i] = v

    def _retract(self, group: Group, values: tuple[Any, ...], redo: list[int]) -> None:
        group.rows -= 1
        if group.rows == 0:
            self.live -= 1
        for i, (code, v) in enumerate(zip(self._codes, values, strict=True)):
            if code == _COUNT_ROWS or v is None:
                continue
            group.counts[i] -= 1
            if group.counts[i] == 0:
                group.values[i] = None
            elif code == _SUM:
                group.values[i] = self._sub_ops[i](group.values[i], v)
            elif code in (_MIN, _MAX) and v == group.values[i]:
                redo.append(i)

    def _recompute(self, key: Key, columns: list[int]) -> None:
        """Set the extremes ``columns`` of group ``key`` from its live rows."""
        group = self.groups[key]
        if self.rows_of is None:
            raise RuntimeError(f"aggregate {self.name}: min/max need the table's rows")
        found: list[Any] = [None] * len(self._codes)
        for row in self.rows_of(key):
            c = self.contribution(row)
            if c is None or c[0] != key:
                continue
            for i in columns:
                v = c[1][i]
                if v is None:
                    continue
                best = found[i]
                if best is None or (v < best if self._codes[i] == _MIN else v > best):
                    found[i] = v
        for i in columns:
            group.values[i] = found[i] if group.counts[i] else None


def _known(value: Any) -> Any:
    """UNCHANGED (a TOASTed value never seen) counts as NULL."""
    return None if value is UNCHANGED else value


def recompute(compiled: CompiledAggregate, rows: Iterable[Row]) -> dict[Key, dict[str, Any]]:
    """The aggregate of ``rows`` computed from scratch (tests, ``reconcile``): group -> row."""
    state = AggregateState(compiled)
    state.load(rows, {})
    return {key: row for key in state.groups if (row := state.row(key)) is not None}
