"""Reconcile an Aggregate: its sinks against a batch GROUP BY of its table's expected rows.

The aggregated topology's source table is read (key order, one snapshot) and its rows go
through the topology's own ``process`` into an in-memory table, as a worker's table holds them
(``reconcile.tables.table_of``, lookups bound the same way); the aggregate's expected rows are
a plain fold over that table's rows (``reconcile.aggfold``), computed apart from the
incremental runtime. They are sorted by the aggregate's key and compared with every sink by
the same joins as a topology's rows (``run._joins``): per sink MATCH or the counts of missing,
differing and extra groups.

Why a fold and not SQL GROUP BY on the source: the aggregate reads the topology's *output*
rows, after filters, casts, masks, derivations and lookups written in Python, and its ``where``
is a Python function; only the topology's own code computes those rows faithfully. The fold
over them is the GROUP BY, and the topology's rows themselves are verified by reconciling the
topology. Memory: the table's rows and the groups (as in a worker).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from streamapp.ops import OpsError
from streamapp.reconcile.aggfold import fold
from streamapp.reconcile.canon import KEY_KINDS
from streamapp.reconcile.expected import Counts, ascending
from streamapp.reconcile.freshness import source_position
from streamapp.reconcile.layout import Expected, Layout, make_canon, make_key
from streamapp.reconcile.myread import MySqlSourceReader, is_mysql_dsn
from streamapp.reconcile.run import Options, Progress, Result, _failure, _joins
from streamapp.reconcile.source import SourceReader, SourceTable
from streamapp.reconcile.tables import lookup_tables, table_of
from streamapp.records import Op, OutputRecord
from streamapp.settings import Settings
from streamapp.sinks.redis.reader import RedisTarget
from streamapp.transform.aggspec import CompiledAggregate
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.spec import RedisSink


def aggregate_layout(aggregate: CompiledAggregate) -> Layout:
    """Key and compared columns of ``aggregate`` (OpsError for a key reconcile cannot order)."""
    cols = aggregate.output_columns
    keys = aggregate.key_columns
    for k in keys:
        if cols[k].kind not in KEY_KINDS:
            raise OpsError(
                f"aggregate {aggregate.name!r}: group_by column {k!r} is {cols[k]}; "
                "reconcile needs scalar key columns"
            )
    names = tuple(n for n in cols if n not in keys)
    return Layout(
        aggregate.name,
        keys,
        tuple(cols[k] for k in keys),
        names,
        tuple(cols[n] for n in names),
    )


def expected_groups(
    aggregate: CompiledAggregate,
    rows: dict[tuple[Any, ...], dict[str, Any]],
    layout: Layout,
    redis: Sequence[RedisTarget],
) -> list[Expected]:
    """The expected sink rows of ``rows`` (group key -> output row), in key order."""
    sorters, canons, names = layout.key_sorters(), layout.canonicalisers(), layout.names
    items = []
    for key, row in rows.items():
        record = OutputRecord(aggregate.name, key, row, 0, Op.READ, False, frozenset(), None)
        items.append(
            Expected(
                make_key(sorters, key),
                make_canon(canons, [row.get(n) for n in names]),
                tuple(target.key_of(record) for target in redis),
            )
        )
    items.sort(key=lambda item: item.key)
    return items


def reconcile_aggregate(
    settings: Settings,
    aggregate: CompiledAggregate,
    topologies: Sequence[CompiledTopology],
    options: Options,
) -> Result:
    """Compare every selected sink of ``aggregate`` with its expected groups (module doc).

    ``topologies``: the loaded modules (the aggregated topology and what it looks up). Raises
    OpsError when the source cannot be read; sink failures are in their tallies.
    """
    base = next((t for t in topologies if t.name == aggregate.table), None)
    if base is None:
        raise OpsError(f"aggregate {aggregate.name!r}: topology {aggregate.table!r} not loaded")
    layout = aggregate_layout(aggregate)
    sinks = [s for s in aggregate.sinks if options.kinds is None or s.kind in options.kinds]
    if not sinks:
        which = ", ".join(options.kinds) if options.kinds else "any"
        raise OpsError(f"aggregate {aggregate.name!r} has no {which} sink to reconcile")
    lookups = lookup_tables(settings, base, topologies, chunk_rows=options.chunk_rows)
    src = base.topology.source
    table = SourceTable.parse(options.table) if options.table else SourceTable.of_topic(src.topic)
    kind = MySqlSourceReader if is_mysql_dsn(settings.source_dsn) else SourceReader
    reader: SourceReader | MySqlSourceReader = kind(
        settings.source_dsn, table, dict(src.columns), chunk_rows=options.chunk_rows
    )
    closers: list[Any] = [reader]
    try:
        reader.open()
        if isinstance(reader, MySqlSourceReader):
            position = reader.position()
        else:
            assert reader.conn is not None
            position = source_position(reader.conn, options.slot)
        redis = [RedisTarget(s, layout.key_names) for s in sinks if isinstance(s, RedisSink)]
        tallies, joins, readers = _joins(
            settings, sinks, layout, options.chunk_rows, redis, closers, options.diffs
        )
        counts = Counts()
        rows = table_of(base, reader.rows(reader.primary_key), counts)
        groups, outside = fold(aggregate, (row for _, row in rows.rows()))
        counts.filtered += outside
        progress = Progress(aggregate.name)
        for item in ascending(
            expected_groups(aggregate, groups, layout, redis), counts, check=True
        ):
            for join in list(joins):
                try:
                    join.feed(item)
                except Exception as exc:  # noqa: BLE001 - a failing sink leaves the others
                    join.tally.fail("error", _failure(exc))
                    joins.remove(join)
        progress.update(counts.source_rows, final=True)
        for join in joins:
            try:
                join.finish()
                rdr = readers.get(id(join.tally))
                if rdr is not None:  # a group's version: its newest change's (LSN-based)
                    join.tally.newest_version = rdr.newest_version()
            except Exception as exc:  # noqa: BLE001 - as above
                join.tally.fail("error", _failure(exc))
        note = (
            f"aggregate of {base.name}: {len(rows):,} row(s) of its table, {outside:,} in no "
            f"group (where, or a NULL {', '.join(aggregate.key_columns)}); expected groups by "
            "a batch GROUP BY of the table's rows"
        )
        return Result(
            aggregate.name,
            table,
            position,
            counts,
            tuple(reader.missing),
            False,
            tallies,
            notes=(*lookups.notes, note),
        )
    finally:
        for closer in reversed(closers):
            with contextlib.suppress(Exception):
                closer.close()
