"""``t.lookup``: enrich each fact with columns of another topology's materialised table.

``t.lookup("customers", on="customer_id", columns={"name": "customer_name"})`` adds, to each
row, columns of the row of topology ``customers`` whose key equals the fact's ``on`` columns
(in the order of that topology's key columns). The table holds ``customers``' *output* rows
(masked columns stay masked) and is global: every worker materialises all of it from
``customers``' source topic (see ``streamapp.state``), because the fact is keyed by its own key,
not by ``customer_id``, so the two are not co-partitioned.

Semantics (``as_of``):

* ``"event"``: the dimension row as it stands in the table when the fact is processed; the
  pipeline first lets the table catch up with its topic's end offsets as of that moment
  (Kafka Streams' KStream-GlobalKTable join). A later change of the dimension does not touch
  facts already written.
* ``"current"``: a foreign-key table-table join: when a dimension row changes (created,
  updated, deleted), every fact row referencing it is re-emitted with the new values, so the
  sinks converge to the LEFT JOIN of the *current* source tables (see ``streamapp.state.reemit``
  for how and why it converges). The fact topology is materialised too (indexed on ``on``).
  Only ``missing="null"``: a fact whose dimension row is missing (not there yet, or deleted)
  has null columns, and is re-emitted with the values when the row arrives. The ``on`` columns
  must reach the output (they find the facts of a changed row), and no later transform may
  read the looked-up columns (a re-emitted fact gets only those columns replaced).

A null ``on`` value gives null columns (no lookup). A dimension value the table does not know
(UNCHANGED: a TOASTed value never seen) is handed on as UNCHANGED, so the fact's sinks keep
what they have. When no row has the key (``missing``):

* ``"null"``: the columns are null;
* ``"dlq"``: the record fails (TransformError naming the table and the ``on`` columns, never
  their values) and goes to the DLQ;
* ``"wait"``: the pipeline waits up to ``wait_seconds`` for the table to receive the key (the
  batch is held), processes the batch again, and a fact whose key is still missing then goes
  to the DLQ as with ``"dlq"``.

On the hot path a lookup is one dict get on the table's live rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from streamapp.errors import TransformError
from streamapp.transform.chain import Chain, Column, U, call_repr
from streamapp.types import FieldType, Kind

AsOf: TypeAlias = Literal["event", "current"]
Missing: TypeAlias = Literal["null", "dlq", "wait"]
MISSING = ("null", "dlq", "wait")
AS_OF = ("event", "current")


@dataclass(frozen=True, slots=True)
class TableShape:
    """What compile needs to know of a looked-up topology: its key and output columns."""

    key_columns: tuple[str, ...]
    columns: Mapping[str, FieldType]


class LookupMissing(TransformError):
    """A fact's dimension row is missing under ``missing="wait"``: the pipeline waits for the
    table to receive ``key`` and processes the batch again; if it does not, this is the
    record's error (stage transform, to the DLQ)."""

    def __init__(self, message: str, *, table: str, key: tuple[Any, ...], field: str) -> None:
        super().__init__(message, field=field)
        self.table = table
        self.key = key


class TableRef:
    """The runtime handle the generated code calls: ``get`` is the table's live-row getter,
    bound by the worker (``streamapp.state.registry.Tables``) before any batch runs."""

    __slots__ = ("get", "joins", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.get: Callable[[tuple[Any, ...]], Mapping[str, Any] | None] = self._unbound
        self.joins: dict[Lookup, CurrentJoin] = {}  # the as_of="current" lookups of this table

    def _unbound(self, key: tuple[Any, ...]) -> Mapping[str, Any] | None:
        raise TransformError(
            f"lookup table {self.name!r} is not materialised in this process; run the "
            "topology in a worker (or seed the table with topology test --table)"
        )


@dataclass(frozen=True, slots=True)
class CurrentJoin:
    """Where an ``as_of="current"`` lookup shows in the fact topology's *output* rows: the
    output columns holding the ``on`` values (in the table's key order) and, for each looked-up
    column that reaches the output, (table column, output column)."""

    table: str
    on: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Lookup:
    """Add ``columns`` (table column -> new column) of the row of ``table`` keyed by ``on``."""

    table: str
    on: tuple[str, ...]
    columns: tuple[tuple[str, str], ...] | None
    as_of: AsOf = "event"
    missing: Missing = "null"
    wait_seconds: float = 5.0

    def describe(self) -> str:
        on = self.on[0] if len(self.on) == 1 else self.on
        kwargs: dict[str, object] = {"on": on}
        if self.columns is not None:
            kwargs["columns"] = dict(self.columns)
        if self.as_of != "event":
            kwargs["as_of"] = self.as_of
        if self.missing != "null":
            kwargs["missing"] = self.missing
        return call_repr("lookup", self.table, **kwargs)

    def compile(self, chain: Chain) -> None:
        where = call_repr("lookup", self.table)
        shape = self._shape(chain, where)
        if shape is None:
            return
        on_vars = self._on_vars(chain, where, shape)
        columns = self._columns(chain, where, shape)
        if on_vars is None or columns is None:
            return
        ref: TableRef = chain.refs.setdefault(self.table, TableRef(self.table))
        get = chain.bind(ref, "table")
        miss = chain.bind(self._miss_error(), "lookup_missing")
        targets = [chain.new_var() for _ in columns]
        row = chain.new_var()
        key = "(" + "".join(f"{v}, " for v in on_vars) + ")"
        every = " = ".join(targets)
        null = " or ".join(f"{v} is None" for v in on_vars)
        unknown = " or ".join(f"{v} is {U}" for v in on_vars)
        found = [
            f"        {t} = {row}.get({src!r})"
            for t, (src, _) in zip(targets, columns, strict=True)
        ]
        # a value the table does not know yet (UNCHANGED) must be listed as unchanged
        any_unknown = " or ".join(f"{t} is {U}" for t in targets)
        lines = [
            f"if {null}:",
            f"    {every} = None",
            f"elif {unknown}:",
            f"    {every} = {U}",
            "    u = True",
            "else:",
            f"    {row} = {get}.get({key})",
            f"    if {row} is None:",
            f"        {every} = None" if self.missing == "null" else f"        raise {miss}({key})",
            "    else:",
            *found,
            f"        if {any_unknown}:",
            "            u = True",
        ]
        chain.emit(targets, lines, on_vars)
        for target, (src, dest) in zip(targets, columns, strict=True):
            chain.columns[dest] = Column(target, shape.columns[src])
        if self.as_of == "current":
            after = len(chain.statements)
            srcs = [src for src, _ in columns]
            chain.final_checks.append(
                lambda: self._check_current(chain, ref, where, on_vars, targets, srcs, after)
            )

    def _check_current(
        self,
        chain: Chain,
        ref: TableRef,
        where: str,
        on_vars: Sequence[str],
        targets: Sequence[str],
        srcs: Sequence[str],
        after: int,
    ) -> None:
        """Once the chain is complete: the ``on`` columns reach the output, and no later
        statement reads a looked-up column; records the join's output columns on ``ref``."""
        looked_up = set(targets)
        for st in chain.statements[after:]:
            if looked_up.intersection(st.reads):
                chain.problem(
                    where,
                    "with as_of='current' a later transform may not change or read the "
                    "looked-up columns (a re-emitted fact gets only those columns replaced); "
                    "transform them in the looked-up topology, or use as_of='event'",
                )
                return
        out: dict[str, str] = {}
        for name, col in chain.columns.items():
            out.setdefault(col.var, name)
        on = [out.get(var) for var in on_vars]
        if None in on:
            chain.problem(
                where,
                f"with as_of='current' the on column(s) {list(self.on)} must reach the output "
                "unchanged (they find the facts of a changed row); keep them, or use "
                "as_of='event'",
            )
            return
        pairs = tuple((src, out[t]) for src, t in zip(srcs, targets, strict=True) if t in out)
        ref.joins[self] = CurrentJoin(self.table, tuple(n for n in on if n is not None), pairs)

    def _shape(self, chain: Chain, where: str) -> TableShape | None:
        if self.as_of not in AS_OF:
            chain.problem(where, f"as_of={self.as_of!r}: use 'event' or 'current'")
            return None
        if self.as_of == "current" and self.missing != "null":
            chain.problem(
                where,
                f"missing={self.missing!r} does not apply to as_of='current': a fact whose "
                "dimension row is missing is stored with null columns and re-emitted when the "
                "row arrives; use missing='null' (the default)",
            )
            return None
        if self.missing not in MISSING:
            chain.problem(where, f"missing={self.missing!r}: use 'null', 'dlq' or 'wait'")
            return None
        wait = self.wait_seconds
        if not isinstance(wait, int | float) or isinstance(wait, bool) or not 0 < wait <= 300:
            chain.problem(where, "wait_seconds must be a number of seconds in (0, 300]")
            return None
        tables: Mapping[str, TableShape] = chain.tables
        shape = tables.get(self.table)
        if shape is None:
            known = ", ".join(sorted(tables)) or "none"
            chain.problem(
                where,
                f"no topology named {self.table!r} to look up (topologies: {known}); a lookup "
                "names another topology of the worker, whose output rows are the table",
            )
        return shape

    def _on_vars(self, chain: Chain, where: str, shape: TableShape) -> list[str] | None:
        if len(self.on) != len(shape.key_columns):
            chain.problem(
                where,
                f"on={list(self.on)} names {len(self.on)} column(s) but {self.table!r} is keyed "
                f"by {list(shape.key_columns)}; name one fact column per key column, in order",
            )
            return None
        out = []
        for name, key in zip(self.on, shape.key_columns, strict=True):
            col = chain.lookup(where, name)
            if col is None:
                return None
            want = shape.columns[key]
            if _comparable(col.type) != _comparable(want):
                chain.problem(
                    where,
                    f"on column {name!r} is {col.type} but {self.table!r}'s key column {key!r} "
                    f"is {want}; values of different types never match: cast {name!r} first",
                )
                return None
            out.append(col.var)
        return out

    def _columns(self, chain: Chain, where: str, shape: TableShape) -> list[tuple[str, str]] | None:
        pairs = (
            list(self.columns)
            if self.columns is not None
            else [(c, c) for c in shape.columns if c not in shape.key_columns]
        )
        ok = True
        for src, dest in pairs:
            if src not in shape.columns:
                known = ", ".join(shape.columns)
                chain.problem(where, f"{self.table!r} has no column {src!r} (columns: {known})")
                ok = False
            elif not chain.is_free(where, dest):
                ok = False
        if len({dest for _, dest in pairs}) != len(pairs):
            chain.problem(where, "two looked-up columns get the same name; rename one")
            ok = False
        return pairs if ok else None

    def _miss_error(self) -> Callable[[tuple[Any, ...]], TransformError]:
        table, on, wait = self.table, self.on, self.missing == "wait"
        how = (
            f"it did not arrive within wait_seconds={self.wait_seconds}"
            if wait
            else "missing='dlq'"
        )
        message = (
            f"lookup of {table!r} on {', '.join(on)}: the table has no row for this key "
            f"({how}); replay from the DLQ once the row exists, or use missing='null'"
        )

        def error(key: tuple[Any, ...]) -> TransformError:
            if wait:
                return LookupMissing(message, table=table, key=key, field=on[0])
            return TransformError(message, field=on[0])

        return error


def _comparable(ftype: FieldType) -> object:
    """Types whose values compare equal across them: ints and ints, strings and strings."""
    return ftype.kind if ftype.kind is not Kind.DECIMAL else (ftype.kind, ftype.scale)


def lookup_spec(
    table: str,
    on: str | Sequence[str],
    columns: Mapping[str, str] | Sequence[str] | None,
    as_of: AsOf,
    missing: Missing,
    wait_seconds: float,
) -> Lookup:
    """Normalise the factory's arguments (never raises: compile reports the problems)."""
    ons = (on,) if isinstance(on, str) else tuple(on)
    pairs: tuple[tuple[str, str], ...] | None
    if columns is None:
        pairs = None
    elif isinstance(columns, Mapping):
        pairs = tuple((str(k), str(v)) for k, v in columns.items())
    else:
        pairs = tuple((str(c), str(c)) for c in columns)
    return Lookup(table, ons, pairs, as_of, missing, wait_seconds)
