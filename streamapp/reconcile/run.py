"""One reconciliation: one pass over the source, every selected sink compared alongside.

The source is read once, ordered by the output key's source columns (or its primary key);
the expected rows are fed to one join per sink: a merge-join with the key-ordered live rows
of ClickHouse and PostgreSQL, pipelined chunk reads for Redis. Columns a worker propagated
(``new_columns="propagate"``) are learned from the registered output schema and compared
too, when the source table still has them (``reconcile.propagated``). When the topology's output key
does not follow the source order (e.g. a masked or derived key), the pass restarts once with
the expected rows sorted on disk (``extsort``). A sink that cannot be read is marked busy or
failed and the others are still compared.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from streamapp.errors import StreamappError
from streamapp.ops import OpsError
from streamapp.reconcile.expected import Counts, OutOfOrder, ascending, expected_rows
from streamapp.reconcile.expected import snapshot_source as _snapshot
from streamapp.reconcile.extsort import external_sort
from streamapp.reconcile.freshness import SourcePosition, source_position
from streamapp.reconcile.layout import Expected, Layout
from streamapp.reconcile.merge import Diffs, OrderedJoin, Tally
from streamapp.reconcile.myread import MySqlSourceReader, is_mysql_dsn
from streamapp.reconcile.propagated import propagated, with_columns
from streamapp.reconcile.source import CHUNK_ROWS, SourceReader, SourceTable
from streamapp.reconcile.tables import NONE, LookupTables, lookup_tables
from streamapp.settings import Settings
from streamapp.sinks.clickhouse.reader import ClickHouseRows, SinkBusy
from streamapp.sinks.postgres.reader import PostgresRows
from streamapp.sinks.redis.reader import RedisJoin, RedisTarget
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.spec import (
    ClickHouseSink,
    IcebergSink,
    OpenSearchSink,
    PostgresSink,
    RedisSink,
    SinkSpec,
)
from streamapp.types import FieldType

if TYPE_CHECKING:
    from streamapp.sinks.iceberg.reader import IcebergRows
    from streamapp.sinks.opensearch.reader import OpenSearchRows


@dataclass(frozen=True, slots=True)
class Options:
    """What the command line asked for (``kinds`` None: every sink of the topology)."""

    table: str | None = None
    tolerance: float = 0.0
    kinds: tuple[str, ...] | None = None
    slot: str | None = None
    chunk_rows: int = CHUNK_ROWS
    diffs: bool = False  # log every differing key per sink (reconcile --repair)


@dataclass(slots=True)
class Result:
    """The source side of a run and one tally per sink, in the topology's sink order.

    ``propagated``: columns a worker propagated, compared; ``gone``: propagated columns the
    source table no longer has, not compared. ``source_key``: the source columns the rows were
    read by, whose values each tally's ``diffs`` logs (with ``Options.diffs``). ``notes``: one
    line each for the report (lookup tables, aggregates).
    """

    topology: str
    table: SourceTable
    position: SourcePosition
    counts: Counts
    missing_columns: tuple[str, ...]
    sorted_on_disk: bool
    tallies: list[Tally] = field(default_factory=list)
    propagated: tuple[str, ...] = ()
    gone: tuple[str, ...] = ()
    source_key: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def close(self) -> None:
        """Remove the key logs of every tally (``Options.diffs``); idempotent."""
        for tally in self.tallies:
            if tally.diffs is not None:
                tally.diffs.close()


class _Join(Protocol):
    tally: Tally

    def feed(self, item: Expected) -> None: ...

    def finish(self) -> None: ...


class Progress:
    """``reconcile <name>: 1,200,000 source rows  85,000 rows/s`` on stderr, redrawn in place
    at most once a second on a terminal (a new line every 10 s otherwise)."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty()
        self.started = self.drawn = time.monotonic()
        self.shown = False

    def update(self, rows: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self.drawn < (1.0 if self.tty else 10.0):
            return
        if final and not self.shown:
            return
        self.drawn, self.shown = now, True
        rate = rows / max(now - self.started, 1e-9)
        line = f"reconcile {self.label}: {rows:,} source rows  {rate:,.0f} rows/s"
        end = "\n" if final or not self.tty else ""
        self.stream.write(("\r" + line + "\x1b[K" if self.tty else line) + end)
        self.stream.flush()


def _failure(exc: BaseException) -> str:
    """One line about a sink failure; driver messages may quote values, so only ours are shown."""
    if isinstance(exc, StreamappError):
        return str(exc).splitlines()[0]
    return f"reading failed ({type(exc).__name__}); check the sink and retry"


def _selected(topology: CompiledTopology, kinds: tuple[str, ...] | None) -> list[SinkSpec]:
    sinks = list(topology.sinks)
    if kinds is not None:
        sinks = [s for s in sinks if s.kind in kinds]
    if not sinks:
        which = ", ".join(kinds) if kinds else "any"
        raise OpsError(f"topology {topology.name!r} has no {which} sink to reconcile")
    return sinks


def _joins(
    settings: Settings,
    sinks: list[SinkSpec],
    layout: Layout,
    chunk: int,
    redis: list[RedisTarget],
    closers: list[Any],
    diffs: bool = False,
) -> tuple[list[Tally], list[_Join], dict[int, Any]]:
    tallies, joins, readers = [], [], {}
    for spec in sinks:
        tally = Tally(str(spec), layout.names, diffs=Diffs() if diffs else None)
        tallies.append(tally)
        try:
            if isinstance(spec, RedisSink):
                import redis as redis_lib

                client = redis_lib.Redis.from_url(settings.redis_client_url(), socket_timeout=30)
                closers.append(client)
                client.ping()
                target = next(t for t in redis if t.spec is spec)
                join: _Join = RedisJoin(tally, client, target, layout, redis.index(target), chunk)
            else:
                reader: PostgresRows | ClickHouseRows | OpenSearchRows | IcebergRows
                if isinstance(spec, PostgresSink):
                    reader = PostgresRows(settings.warehouse_dsn, spec, layout, chunk)
                elif isinstance(spec, OpenSearchSink):
                    from streamapp.sinks.opensearch.reader import OpenSearchRows

                    ca = settings.opensearch_ca_file
                    reader = OpenSearchRows(
                        settings.opensearch_url,
                        spec,
                        layout,
                        chunk,
                        ca_file=str(settings.path(ca)) if ca else None,
                    )
                elif isinstance(spec, IcebergSink):
                    from streamapp.sinks.iceberg.reader import IcebergRows

                    reader = IcebergRows(settings, spec, layout)
                else:
                    assert isinstance(spec, ClickHouseSink)
                    reader = ClickHouseRows(settings, spec, layout, chunk)
                closers.append(reader)
                reader.open()
                tally.notes += reader.notes
                join = OrderedJoin(tally, reader.rows())
                readers[id(tally)] = reader
        except SinkBusy as exc:
            tally.fail("busy", str(exc))
            continue
        except Exception as exc:  # noqa: BLE001 - one sink failing must not stop the others
            tally.fail("error", _failure(exc))
            continue
        joins.append(join)
    return tallies, joins, readers


def _pass(
    settings: Settings,
    topology: CompiledTopology,
    options: Options,
    *,
    on_disk: bool,
    extra: dict[str, FieldType],
    lookups: LookupTables = NONE,
) -> Result:
    src = topology.topology.source
    table = SourceTable.parse(options.table) if options.table else SourceTable.of_topic(src.topic)
    kind = MySqlSourceReader if is_mysql_dsn(settings.source_dsn) else SourceReader
    reader: SourceReader | MySqlSourceReader = kind(
        settings.source_dsn, table, {**src.columns, **extra}, chunk_rows=options.chunk_rows
    )
    closers: list[Any] = [reader]
    try:
        reader.open()
        kept = {n: t for n, t in extra.items() if n in reader.present}
        topology = with_columns(settings, topology, kept)
        layout = lookups.compared(Layout.of(topology))
        if isinstance(reader, MySqlSourceReader):
            position = reader.position()
        else:
            assert reader.conn is not None
            position = source_position(reader.conn, options.slot)
        sinks = _selected(topology, options.kinds)
        redis = [RedisTarget(s, layout.key_names) for s in sinks if isinstance(s, RedisSink)]
        tallies, joins, readers = _joins(
            settings, sinks, layout, options.chunk_rows, redis, closers, options.diffs
        )
        key_cols = layout.key_names if set(layout.key_names) <= set(reader.present) else ()
        order = key_cols or reader.primary_key
        counts = Counts()
        rows = reader.rows(order)
        items: Iterator[Expected] = expected_rows(
            topology,
            layout,
            rows,
            source=_snapshot(None, table.schema, table.table),
            key_columns=order,
            redis=redis,
            counts=counts,
        )
        if on_disk:
            items = external_sort(items)
        progress = Progress(topology.name)
        for item in ascending(items, counts, check=not on_disk):
            for join in list(joins):
                try:
                    join.feed(item)
                except Exception as exc:  # noqa: BLE001 - a failing sink leaves the others
                    join.tally.fail("error", _failure(exc))
                    joins.remove(join)
            progress.update(counts.source_rows)
        progress.update(counts.source_rows, final=True)
        for join in joins:
            try:
                join.finish()
                rdr = readers.get(id(join.tally))
                if rdr is not None:
                    join.tally.newest_version = rdr.newest_version()
            except Exception as exc:  # noqa: BLE001 - as above
                join.tally.fail("error", _failure(exc))
        missing = tuple(n for n in reader.missing if n not in extra)
        gone = tuple(n for n in extra if n not in kept)
        return Result(
            topology.name,
            table,
            position,
            counts,
            missing,
            on_disk,
            tallies,
            tuple(kept),
            gone,
            tuple(order),
            lookups.notes,
        )
    finally:
        for closer in reversed(closers):
            with contextlib.suppress(Exception):
                closer.close()


def reconcile(
    settings: Settings,
    topology: CompiledTopology,
    options: Options,
    topologies: Sequence[CompiledTopology] | None = None,
) -> Result:
    """Compare the source table with every selected sink of ``topology`` (see module doc).

    A topology with lookups is compared with its lookups bound to tables built from the
    looked-up topologies' source tables (``reconcile.tables``; ``topologies``: the loaded
    modules, None: loaded when needed). Raises OpsError when the source cannot be read,
    RegistryError when the output schema of a propagating topology cannot be read; sink
    failures are in their tallies.
    """
    try:
        Layout.of(topology)
    except ValueError as exc:
        raise OpsError(str(exc)) from None
    lookups = lookup_tables(settings, topology, topologies, chunk_rows=options.chunk_rows)
    extra = propagated(settings, topology)
    try:
        return _pass(settings, topology, options, on_disk=False, extra=extra, lookups=lookups)
    except OutOfOrder:
        return _pass(settings, topology, options, on_disk=True, extra=extra, lookups=lookups)
