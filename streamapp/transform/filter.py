"""``t.filter_ops`` and ``t.filter``: decide per event whether it produces a record at all.

Both read only the ChangeEvent, so wherever they appear in the chain they run first, before
any column work; a filtered-out event yields ``[]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from streamapp.records import ChangeEvent, Op
from streamapp.transform.chain import ROW_OPS, Chain, call_repr, describe_callable

Predicate = Callable[[ChangeEvent], bool]


@dataclass(frozen=True, slots=True)
class FilterOps:
    """Keep only events whose op is one of ``ops`` (``"c"``, ``"u"``, ``"d"``, ``"r"``)."""

    ops: tuple[str | Op, ...]

    def describe(self) -> str:
        return call_repr("filter_ops", *(o.value if isinstance(o, Op) else o for o in self.ops))

    def compile(self, chain: Chain) -> None:
        where = self.describe()
        if not self.ops:
            chain.problem(where, "name at least one op: c, u, d or r")
            return
        keep: set[Op] = set()
        for raw in self.ops:
            try:
                op = raw if isinstance(raw, Op) else Op(raw)
            except ValueError:
                chain.problem(where, f"{raw!r} is not a Debezium op; use c, u, d or r")
                continue
            if op not in ROW_OPS:
                chain.problem(where, f"op {op.value!r} carries no row; only c, u, d, r can be kept")
                continue
            keep.add(op)
        chain.ops &= keep


@dataclass(frozen=True, slots=True)
class Filter:
    """Keep only events for which ``predicate(event)`` is true.

    The predicate sees the decoded ChangeEvent (``op``, ``before``, ``after``, ``source``);
    ``after`` is None for deletes. If it raises, the event fails with a TransformError that
    names the predicate (file and line) and the exception type, never its message.
    """

    predicate: Predicate

    def describe(self) -> str:
        return f"filter({describe_callable(self.predicate)})"

    def compile(self, chain: Chain) -> None:
        where = self.describe()
        if not callable(self.predicate):
            chain.problem(where, "the predicate must be a function of the event")
            return
        chain.predicates.append((chain.bind(self.predicate, "filter"), where))
