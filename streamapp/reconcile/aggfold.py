"""The expected rows of an Aggregate: a batch GROUP BY over its table's rows, as a plain fold.

Written apart from the incremental runtime (``state.aggregate``): no retractions, no change
counters, no recomputation of extremes, just one pass that adds every row to its group, so a
retraction bug in the runtime cannot hide behind shared code. The semantics are the
declaration's (``transform.aggspec``), those of SQL's GROUP BY:

* a row counts when ``where`` (if any) is truthy for it; ``where`` raising counts it nowhere
  (as the runtime does); a row whose ``group_by`` value is NULL (or unknown, UNCHANGED)
  belongs to no group;
* ``count()`` counts the group's rows, ``count(c)`` its non-NULL ``c``; ``sum``/``min``/``max``
  skip NULLs (and UNCHANGED) and are NULL when the group has no value;
* ``sum`` is exact for int and decimal (100-digit context); a float sum carries float rounding,
  which depends on the order of addition (the runtime adds and subtracts in stream order);
* a group without rows has no row (the sinks hold a delete for it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Context, localcontext
from typing import Any

from streamapp.records import UNCHANGED
from streamapp.transform.aggspec import CompiledAggregate

Key = tuple[Any, ...]
_EXACT = Context(prec=100)


class _Group:
    """Running values of one group: rows, and per column the non-NULL count and result."""

    __slots__ = ("counts", "rows", "values")

    def __init__(self, width: int) -> None:
        self.rows = 0
        self.counts = [0] * width
        self.values: list[Any] = [None] * width


def fold(
    aggregate: CompiledAggregate, rows: Iterable[Mapping[str, Any]]
) -> tuple[dict[Key, dict[str, Any]], int]:
    """``(group key -> output row, rows in no group)`` of ``aggregate`` over ``rows`` (the
    aggregated topology's rows; see the module docstring)."""
    plans = aggregate.plans
    group_by = aggregate.key_columns
    where = aggregate.where
    groups: dict[Key, _Group] = {}
    outside = 0
    with localcontext(_EXACT):
        for row in rows:
            if where is not None and not _passes(where, row):
                outside += 1
                continue
            key = tuple(row.get(c) for c in group_by)
            if any(v is None or v is UNCHANGED for v in key):
                outside += 1
                continue
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(len(plans))
            group.rows += 1
            for i, plan in enumerate(plans):
                if plan.column is None:
                    continue
                value = row.get(plan.column)
                if value is None or value is UNCHANGED:
                    continue
                group.counts[i] += 1
                best = group.values[i]
                if group.counts[i] == 1:
                    group.values[i] = value
                elif plan.func == "sum":
                    group.values[i] = best + value
                elif plan.func == "min":
                    group.values[i] = min(best, value)
                elif plan.func == "max":
                    group.values[i] = max(best, value)
    return {key: _row(aggregate, key, group) for key, group in groups.items()}, outside


def _row(aggregate: CompiledAggregate, key: Key, group: _Group) -> dict[str, Any]:
    out: dict[str, Any] = dict(zip(aggregate.key_columns, key, strict=True))
    for i, plan in enumerate(aggregate.plans):
        if plan.func == "count":
            out[plan.name] = group.rows if plan.column is None else group.counts[i]
        else:
            out[plan.name] = group.values[i] if group.counts[i] else None
    return out


def _passes(where: Any, row: Mapping[str, Any]) -> bool:
    try:
        return bool(where(row))
    except Exception:  # noqa: BLE001 - user code: the row counts in no group, as at run time
        return False
