"""The Aggregate declaration (``Aggregate``, ``agg.count/sum/min/max``) and its compiled form.

An Aggregate groups the output rows of another topology (its ``table``, which is then
materialised) by ``group_by`` and keeps ``columns`` of aggregate functions per group, maintained
incrementally with retractions by the table's reader (see ``streamapp.state.aggregate``).
Output columns are the ``group_by`` columns (the key) then the aggregate columns, typed from the
table's output columns: ``count`` is ``int``; ``sum`` of ``int`` is ``int``, of
``decimal(p,s)`` is ``decimal(38,s)`` (exact), of ``float`` is ``float``; ``min``/``max`` keep
the column's type. Like a Topology, constructing one never fails; :func:`compile_aggregate`
reports every problem as one line.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from streamapp.transform.chain import Column, describe_callable
from streamapp.transform.checks import SINK_RESERVED, sink_problems
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.spec import Output, SinkSpec
from streamapp.types import FieldType, Kind

Func: TypeAlias = Literal["count", "sum", "min", "max"]
Where: TypeAlias = Callable[[Mapping[str, Any]], Any]
_NUMBER_KINDS = frozenset({Kind.INT, Kind.FLOAT, Kind.DECIMAL})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_KEY_KINDS = frozenset(
    {Kind.STRING, Kind.INT, Kind.DECIMAL, Kind.BOOL, Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMPTZ}
    | {Kind.UUID, Kind.BYTES, Kind.TIME}
)
_ORDERED_KINDS = frozenset(
    {Kind.STRING, Kind.INT, Kind.FLOAT, Kind.DECIMAL, Kind.DATE, Kind.TIME, Kind.TIMESTAMP}
    | {Kind.TIMESTAMPTZ, Kind.DURATION, Kind.BYTES, Kind.UUID, Kind.BOOL}
)


@dataclass(frozen=True, slots=True)
class AggColumn:
    """One aggregate function over one column of the table's rows (``count()``: rows)."""

    func: Func
    column: str | None = None

    def describe(self) -> str:
        return f"agg.{self.func}({'' if self.column is None else repr(self.column)})"


class agg:  # used like a module: agg.sum("total")
    """Factories of aggregate columns; NULL values are skipped as in SQL (``sum``/``min``/``max``
    of a group without a non-NULL value is NULL, ``count(column)`` counts the non-NULL ones)."""

    @staticmethod
    def count(column: str | None = None) -> AggColumn:
        """The group's rows (``COUNT(*)``), or its rows where ``column`` is not NULL."""
        return AggColumn("count", column)

    @staticmethod
    def sum(column: str) -> AggColumn:
        """The sum of a number column (int, float, decimal)."""
        return AggColumn("sum", column)

    @staticmethod
    def min(column: str) -> AggColumn:
        """The smallest value of an ordered column."""
        return AggColumn("min", column)

    @staticmethod
    def max(column: str) -> AggColumn:
        """The largest value of an ordered column."""
        return AggColumn("max", column)


@dataclass(frozen=True, slots=True)
class Aggregate:
    """Per group of ``table``'s rows, the ``columns`` (see the module docstring).

    ``where`` (a function of the row, truthy to count it) restricts the rows; a row whose
    ``group_by`` value is NULL belongs to no group (sinks cannot store a NULL key).
    ``sinks`` receive one row per group (versioned upserts; an empty group is deleted).
    """

    name: str
    table: str
    group_by: str | Sequence[str]
    columns: Mapping[str, AggColumn]
    where: Where | None = None
    sinks: Sequence[SinkSpec] = ()
    output: Output | None = None
    key_columns: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = (self.group_by,) if isinstance(self.group_by, str) else tuple(self.group_by)
        object.__setattr__(self, "group_by", keys)
        object.__setattr__(self, "key_columns", keys)
        object.__setattr__(self, "sinks", tuple(self.sinks))


@dataclass(frozen=True, slots=True)
class AggPlan:
    """One compiled aggregate column: its output name, function, table column and type."""

    name: str
    func: Func
    column: str | None
    type: FieldType


@dataclass(frozen=True, slots=True)
class CompiledAggregate:
    """A validated Aggregate. ``output_columns``: group_by columns then aggregate columns.
    ``definition`` is a stable text of everything that decides its rows (state fingerprint)."""

    name: str
    table: str
    key_columns: tuple[str, ...]
    plans: tuple[AggPlan, ...]
    output_columns: dict[str, FieldType]
    where: Where | None
    sinks: tuple[SinkSpec, ...]
    aggregate: Aggregate
    definition: str

    def summary(self) -> str:
        """One line for ``topology list``."""
        sinks = ", ".join(str(s) for s in self.sinks) or "-"
        return (
            f"{self.name:<16} aggregate of {self.table} by {', '.join(self.key_columns)}  ->  "
            f"{len(self.output_columns)} columns; sinks: {sinks}"
        )

    def render(self) -> list[str]:
        """``topology show``: what it aggregates, how, its typed output and its sinks."""
        where = "-" if self.where is None else describe_callable(self.where)
        lines = [
            f"aggregate {self.name}",
            f"  of table    {self.table} (materialised on every worker; its reader keeps the "
            "aggregate)",
            f"  group by    {', '.join(self.key_columns)} (a NULL group_by value: no group)",
            f"  where       {where}",
            "  columns",
        ]
        for name, ftype in self.output_columns.items():
            plan = next((p for p in self.plans if p.name == name), None)
            how = "key" if plan is None else AggColumn(plan.func, plan.column).describe()
            lines.append(f"    {name:<20} {ftype!s:<16} {how}")
        lines.append(
            "  version     the largest event version of the changes that altered the group; an "
            "empty group is a delete; written at each table checkpoint by every worker"
        )
        lines.append(f"  sinks       {', '.join(str(s) for s in self.sinks) or '-'}")
        return lines


def result_type(func: Func, ftype: FieldType | None) -> FieldType:
    """The output type of ``func`` over a column of type ``ftype`` (see the module docstring)."""
    if func == "count" or ftype is None:
        return FieldType(Kind.INT)
    if func == "sum" and ftype.kind is Kind.DECIMAL:
        return FieldType(Kind.DECIMAL, precision=38, scale=ftype.scale)
    if func == "sum":
        return FieldType(ftype.kind)
    return ftype


def compile_aggregate(
    spec: Aggregate, tables: Mapping[str, CompiledTopology]
) -> tuple[CompiledAggregate | None, list[str]]:
    """``spec`` checked against the compiled topology it aggregates; ``(None, problems)``
    with one line per problem when it cannot be compiled."""
    if not isinstance(spec.name, str) or _NAME.fullmatch(spec.name) is None:
        return None, [
            f"name {spec.name!r}: an aggregate name is letters, digits, '_', '.', '-' and "
            "starts with a letter or digit"
        ]
    if not isinstance(spec.table, str) or spec.table not in tables:
        known = ", ".join(sorted(tables)) or "none"
        return None, [
            f"table={spec.table!r} is not a topology (known: {known}); aggregate a topology "
            "declared in a module"
        ]
    base = tables[spec.table]
    columns = base.output_columns
    problems: list[str] = []
    key = tuple(spec.key_columns)
    if not all(isinstance(k, str) for k in key):
        return None, ["group_by must be a column name or a list of column names"]
    problems += _group_problems(key, columns, spec.table)
    out: dict[str, FieldType] = {k: columns[k] for k in key if k in columns}
    plans: list[AggPlan] = []
    if not isinstance(spec.columns, Mapping) or not spec.columns:
        problems.append("columns must be a non-empty dict of name -> agg.count/sum/min/max(...)")
        spec_columns: Mapping[str, Any] = {}
    else:
        spec_columns = spec.columns
    for name, column in spec_columns.items():
        plan, lines = _plan(name, column, columns, key, spec.table)
        problems += lines
        if plan is not None:
            plans.append(plan)
            out[name] = plan.type
    problems += _current_join_problems(base, key, plans)
    if spec.where is not None and not callable(spec.where):
        problems.append("where must be a function of the row (or None)")
    if spec.output is not None:
        problems.append("output topics are not supported for aggregates yet; write them to sinks")
    out_cols = {name: Column("", ftype) for name, ftype in out.items()}
    problems += sink_problems(tuple(spec.sinks), out_cols, key)
    if problems:
        return None, problems
    definition = "\n".join(
        [
            f"aggregate {spec.name} of {spec.table} by {', '.join(key)}",
            *(f"{p.name} = {p.func}({p.column or ''}): {p.type}" for p in plans),
            f"where {_code_text(spec.where) if spec.where is not None else '-'}",
        ]
    )
    return CompiledAggregate(
        name=spec.name,
        table=spec.table,
        key_columns=key,
        plans=tuple(plans),
        output_columns=out,
        where=spec.where,
        sinks=tuple(spec.sinks),
        aggregate=spec,
        definition=definition,
    ), []


def _current_join_problems(
    base: CompiledTopology, key: tuple[str, ...], plans: list[AggPlan]
) -> list[str]:
    """An aggregate may not group by or aggregate columns an ``as_of="current"`` lookup fills:
    the base table keeps the values its reader computed when each fact arrived, not the ones
    re-emitted when the looked-up row changes later, so the aggregate would silently disagree
    with the sinks. (A ``where`` function is code: one that reads such a column has the same
    limit, which the README states.)"""
    joined: dict[str, str] = {}
    for lookup in base.lookups:
        if lookup.as_of != "current":
            continue
        shape = base.table_shapes.get(lookup.table)
        pairs = (
            lookup.columns
            if lookup.columns is not None
            else tuple(
                (c, c) for c in (shape.columns if shape else ()) if c not in shape.key_columns
            )
            if shape is not None
            else ()
        )
        joined.update({dest: lookup.table for _, dest in pairs})
    if not joined:
        return []
    read = [*key, *(p.column for p in plans if p.column is not None)]
    out = [
        f"{name!r} comes from an as_of='current' lookup of {joined[name]!r} in "
        f"{base.name!r}; an aggregate cannot follow its later changes: aggregate the looked-up "
        "topology itself, or use as_of='event' in the lookup"
        for name in dict.fromkeys(read)
        if name in joined
    ]
    return out


def _group_problems(
    key: tuple[str, ...], columns: Mapping[str, FieldType], table: str
) -> list[str]:
    if not key:
        return ["group_by is empty; name the column(s) of the table that make a group"]
    out = [f"group_by {list(key)!r} names a column twice"] if len(set(key)) != len(key) else []
    for name in key:
        ftype = columns.get(name)
        if ftype is None:
            out.append(f"group_by: {_unknown(name, columns, table)}")
        elif ftype.kind not in _KEY_KINDS:
            out.append(f"group_by column {name!r} is {ftype}; a group_by column must be a scalar")
    return out


def _unknown(name: str, columns: Mapping[str, FieldType], table: str) -> str:
    close = difflib.get_close_matches(name, list(columns), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "its columns: " + ", ".join(columns)
    return f"{name!r} is not an output column of {table!r}; {hint}"


def _code_text(fn: object) -> str:
    """The user function's name, place and a hash of its code (a changed body changes it)."""
    code = getattr(fn, "__code__", None)
    body = "" if code is None else f"{code.co_code.hex()} {code.co_consts!r} {code.co_names!r}"
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    return f"{describe_callable(fn)} #{digest}"


def _plan(
    name: Any, column: Any, columns: Mapping[str, FieldType], key: tuple[str, ...], table: str
) -> tuple[AggPlan | None, list[str]]:
    where = f"columns[{name!r}]"
    if not isinstance(name, str) or not name:
        return None, [f"{where}: a column name must be a non-empty string"]
    if not isinstance(column, AggColumn) or column.func not in ("count", "sum", "min", "max"):
        return None, [f"{where}: not an aggregate; use agg.count(), agg.sum/min/max('column')"]
    if name in key:
        return None, [f"{where}: {name!r} is a group_by column; give the aggregate another name"]
    if name in SINK_RESERVED:
        return None, [f"{where}: {name!r} is reserved for the sinks' bookkeeping; rename it"]
    if column.column is None:
        if column.func != "count":
            return None, [f"{where}: {column.describe()} needs a column"]
        return AggPlan(name, "count", None, FieldType(Kind.INT)), []
    ftype = columns.get(column.column)
    if ftype is None:
        return None, [f"{where}: {column.describe()}: {_unknown(column.column, columns, table)}"]
    if column.func == "sum" and ftype.kind not in _NUMBER_KINDS:
        return None, [
            f"{where}: {column.describe()}: {column.column!r} is {ftype}; sum needs int, float "
            "or decimal"
        ]
    if column.func in ("min", "max") and ftype.kind not in _ORDERED_KINDS:
        return None, [
            f"{where}: {column.describe()}: {column.column!r} is {ftype}, which has no order"
        ]
    return AggPlan(name, column.func, column.column, result_type(column.func, ftype)), []
