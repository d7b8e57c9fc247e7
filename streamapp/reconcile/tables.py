"""Lookup tables for reconcile: each looked-up topology's expected rows, bound to the lookups.

A topology with ``t.lookup(D, ...)`` is reconciled with D's table built the way a worker builds
it, from D's *expected* rows: D's source table read as snapshot reads through D's own compiled
``process`` (so masked columns stay masked) and applied to an in-memory ``state.table.Table``.
The fact topology's ``TableRef`` is then bound to that table's getter, as
``state.registry.Tables.bind`` binds it in a worker, and its ``process`` joins each expected
fact row exactly as in the stream: no join logic is written here. A looked-up topology that
has lookups itself gets its own tables first (the loader refuses cycles).

* ``as_of="current"``: the sinks converge to the join of the *current* source tables, which is
  what the bound tables hold: the looked-up columns are compared like any other.
* ``as_of="event"``: a fact keeps the dimension row as it stood when the fact was processed,
  which the source tables no longer show; the columns it fills are not compared (one note
  line names them), the fact's other columns are. Its lookup is bound to a getter that never
  misses (no spurious ``missing="dlq"`` failures); a fact the stream sent to the DLQ because
  its row was missing *then* shows as missing in the sinks.

The tables are read one after the other, each in its own snapshot: on a source that is being
written, a fact and its dimension row may come from different moments (run reconcile once the
stream is drained, or expect transient differences as with any lagging sink).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from streamapp.errors import TransformError
from streamapp.reconcile.expected import Counts, read_event, snapshot_source
from streamapp.reconcile.layout import Layout
from streamapp.reconcile.myread import MySqlSourceReader, is_mysql_dsn
from streamapp.reconcile.source import CHUNK_ROWS, SourceReader, SourceTable
from streamapp.settings import Settings
from streamapp.state.table import Table
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.lookup import Lookup

EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class LookupTables:
    """The tables one topology's lookups were bound to, and what reconcile must know of them:
    ``unverified``: output columns of ``as_of="event"`` lookups (not compared), ``notes``: one
    line per looked-up table for the report."""

    tables: Mapping[str, Table]
    unverified: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def compared(self, layout: Layout) -> Layout:
        """``layout`` without the ``unverified`` columns."""
        if not self.unverified:
            return layout
        keep = [i for i, n in enumerate(layout.names) if n not in self.unverified]
        return dataclasses.replace(
            layout,
            names=tuple(layout.names[i] for i in keep),
            types=tuple(layout.types[i] for i in keep),
        )


NONE = LookupTables({})


def table_of(
    topology: CompiledTopology, rows: Iterable[Mapping[str, Any]], counts: Counts | None = None
) -> Table:
    """The table a worker would hold of ``topology`` after reading ``rows`` (its source rows)
    as snapshot reads: its ``process`` outputs applied to an in-memory Table. A row the
    topology rejects is left out, as the worker's table reader skips it. ``counts``: source
    rows, rows filtered out and rows rejected are added to it."""
    table = Table(topology.name, topology.key_columns)
    counts = counts if counts is not None else Counts()
    src = SourceTable.of_topic(topology.topology.source.topic)
    source = snapshot_source(None, src.schema, src.table)
    keys = topology.key_columns
    for row in rows:
        counts.source_rows += 1
        event = read_event(source, {k: row[k] for k in keys if k in row}, dict(row))
        try:
            outputs = topology.process(event)
        except TransformError:
            counts.failed += 1
            continue
        if not outputs:
            counts.filtered += 1
        table.apply(outputs)
    return table


def event_lookups(topology: CompiledTopology) -> list[Lookup]:
    """The topology's ``as_of="event"`` lookups."""
    return [s for s in topology.topology.transforms if isinstance(s, Lookup) and s.as_of == "event"]


def event_columns(topology: CompiledTopology) -> tuple[str, ...]:
    """The output columns ``as_of="event"`` lookups fill (their new column names)."""
    out: list[str] = []
    for lookup in event_lookups(topology):
        shape = topology.table_shapes[lookup.table]
        pairs = lookup.columns or tuple((c, c) for c in shape.columns if c not in shape.key_columns)
        out += [dest for _, dest in pairs if dest in topology.output_columns and dest not in out]
    return tuple(out)


def bind(topology: CompiledTopology, tables: Mapping[str, Table]) -> None:
    """Point ``topology``'s lookups at ``tables`` (as ``Tables.bind`` does in a worker); a
    table read by an ``as_of="event"`` lookup never misses (see the module docstring)."""
    event = {lookup.table for lookup in event_lookups(topology)}
    for name, ref in topology.table_refs.items():
        get = tables[name].get
        ref.get = _never_missing(get) if name in event else get


def _never_missing(
    get: Callable[[tuple[Any, ...]], Mapping[str, Any] | None],
) -> Callable[[tuple[Any, ...]], Mapping[str, Any] | None]:
    def found(key: tuple[Any, ...]) -> Mapping[str, Any]:
        row = get(key)
        return EMPTY if row is None else row

    return found


def lookup_tables(
    settings: Settings,
    topology: CompiledTopology,
    topologies: Sequence[CompiledTopology] | None = None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> LookupTables:
    """Build the tables ``topology``'s lookups read from their source tables and bind them
    (see the module docstring). ``topologies``: the loaded modules (None: loaded from
    STREAMAPP_TOPOLOGIES_DIR when needed). OpsError when a source table cannot be read."""
    if not topology.table_refs:
        return NONE
    by_name = {t.name: t for t in topologies or ()}
    if any(name not in by_name for name in topology.table_refs):
        from streamapp.transform.loader import load_topologies

        loaded = load_topologies(
            settings.path(settings.topologies_dir),
            secrets=settings.mask_secrets(),
            schemas_dir=settings.path(settings.schemas_dir),
        )
        by_name = {t.name: t for t in loaded} | by_name
    tables: dict[str, Table] = {}

    def build(name: str) -> None:
        if name in tables:
            return
        dimension = by_name[name]
        for dep in dimension.table_refs:
            build(dep)
        bind(dimension, tables)
        tables[name] = _read(settings, dimension, chunk_rows)

    for name in topology.table_refs:
        build(name)
    bind(topology, tables)
    unverified = event_columns(topology)
    event = {lookup.table for lookup in event_lookups(topology)}
    notes = [
        f"lookup table {name}: {len(tables[name]):,} row(s), from {name}'s source table "
        f"through its topology ({_as_of(name in event, bool(ref.joins))})"
        for name, ref in topology.table_refs.items()
    ]
    if unverified:
        notes.append(
            f"not compared: {', '.join(unverified)} (as_of='event' lookups keep the dimension "
            "as it stood when each fact was processed, which the source no longer shows)"
        )
    return LookupTables(tables, unverified, tuple(notes))


def _as_of(event: bool, current: bool) -> str:
    kinds = [k for k, on in (("as_of='current'", current), ("as_of='event'", event)) if on]
    return " and ".join(kinds)


def _read(settings: Settings, topology: CompiledTopology, chunk_rows: int) -> Table:
    """``topology``'s table from its source table, read in primary-key order."""
    src = topology.topology.source
    table = SourceTable.of_topic(src.topic)
    kind = MySqlSourceReader if is_mysql_dsn(settings.source_dsn) else SourceReader
    reader: SourceReader | MySqlSourceReader = kind(
        settings.source_dsn, table, dict(src.columns), chunk_rows=chunk_rows
    )
    try:
        reader.open()
        return table_of(topology, reader.rows(reader.primary_key))
    finally:
        with contextlib.suppress(Exception):
            reader.close()
