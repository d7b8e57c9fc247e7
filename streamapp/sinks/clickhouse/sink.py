"""ClickHouse sink: ReplacingMergeTree(__version, __is_deleted) tables fed by Arrow inserts.

A row's ``__version`` decides which copy of a key survives merges and ``FINAL``; a delete is a
row with ``__is_deleted = 1`` (key and version only), which ``FINAL`` hides and which outlives an
older update arriving later (cleanup merges are not enabled). clickhouse-connect is synchronous,
so every call runs in a worker thread, one at a time per sink. A batch is converted column by
column (``sinks.clickhouse.columns``) and inserted as one Arrow table: pyarrow and the ClickHouse
engine do the per-cell work in C, and chDB runs the insert without holding the GIL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Final, NamedTuple

from streamapp.errors import ConfigError, SinkError
from streamapp.records import OutputRecord
from streamapp.sinks.base import Rejected, Sink, TableSpec, bisect, check_keys, collapse
from streamapp.sinks.clickhouse.columns import (
    ColumnConverter,
    arrow_table,
    arrow_types,
    column_converter,
)
from streamapp.sinks.clickhouse.connect import connect
from streamapp.sinks.clickhouse.freshness import CH_COLUMNS, ch_ddl, ch_values
from streamapp.sinks.clickhouse.types import ch_ident, ch_raw_expr, ch_type
from streamapp.sinks.freshness import TABLE, FreshnessRow
from streamapp.sinks.values import Unfit
from streamapp.types import Kind

INSERT_ROWS: Final = 100_000
_TRANSIENT_CODES: Final = frozenset(
    {3, 32, 159, 202, 203, 209, 210, 236, 241, 242, 252, 285, 319, 394, 425, 999}
)
_CONTENT_CODES: Final = frozenset({6, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 349, 407})
_CONTENT_TYPES: Final = (TypeError, ValueError, OverflowError, AttributeError)
Row = list[Any]
_Item = tuple[OutputRecord, Row]


class _Batch(NamedTuple):
    """Records in insert form, column-oriented: one list per table column, then version and
    deleted flag; ``records[j]`` is the record of row ``j`` in every column and ``origins[j]``
    the positions (in the batch ``write`` received) of the records merged into it."""

    records: list[OutputRecord]
    columns: list[list[Any]]
    origins: list[tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class _Plan:
    """One table, compiled: names, per-column converters and the Arrow insert types (``kinds``
    and ``arrow`` end with those of the bookkeeping columns)."""

    table: TableSpec
    database: str
    name: str
    names: tuple[str, ...]
    converters: tuple[ColumnConverter, ...]
    key_index: tuple[int, ...]
    value_index: tuple[int, ...]  # the columns that are not key columns
    raw: tuple[str, ...]  # SELECT expression per column giving the value in insert form
    bytes_index: frozenset[int]  # String columns holding bytes: read back as bytes
    kinds: tuple[Kind, ...]
    arrow: tuple[Any, ...]


class ClickHouseSink(Sink):
    """ClickHouse through clickhouse-connect: ``chdb:///abs/path`` (embedded) or an http(s) DSN.

    Hand it ``client`` to share an existing client (it is then not closed here). An embedded
    chDB directory belongs to one process: a second process fails at ``start`` with ConfigError.
    """

    kind = "clickhouse"

    def __init__(
        self, dsn: str, *, client: Any | None = None, insert_rows: int = INSERT_ROWS
    ) -> None:
        self.dsn = dsn
        self.insert_rows = insert_rows
        self._client = client
        self._owned = client is None
        self._lock = asyncio.Lock()
        self._plans: dict[tuple[Any, ...], _Plan] = {}
        self._fresh_ready: set[str] = set()  # databases with streamapp_freshness created

    async def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._client is None:
            await self.start()
        async with self._lock:
            return await asyncio.to_thread(fn, *args, **kwargs)

    @property
    def client(self) -> Any:
        """The clickhouse-connect client; SinkError(retriable=True) before ``start``."""
        if self._client is None:
            raise SinkError("clickhouse sink: not started; call start() first", retriable=True)
        return self._client

    async def start(self) -> None:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await asyncio.to_thread(connect, self.dsn)

    async def healthy(self) -> bool:
        try:
            await self._call(lambda: self.client.command("SELECT 1"))
            return True
        except Exception:  # noqa: BLE001 - any failure means unhealthy
            return False

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._owned:
            await asyncio.to_thread(client.close)

    # -- tables --------------------------------------------------------------------------------

    def _where(self, table: TableSpec) -> tuple[str, str]:
        database = table.options.get("database")
        name = table.target
        if database is None and "." in name:
            database, name = name.split(".", 1)
        return (str(database) if database else str(self.client.database or "default")), name

    async def ensure_table(self, table: TableSpec) -> None:
        """CREATE TABLE IF NOT EXISTS, then ADD COLUMN IF NOT EXISTS for new columns; idempotent."""
        await self.start()
        database, name = self._where(table)
        qualified = f"{ch_ident(database)}.{ch_ident(name)}"
        keys = set(table.key_columns)
        defs = [
            f"{ch_ident(n)} {ch_type(t, nullable=n not in keys)}" for n, t in table.columns.items()
        ]
        create = (
            f"CREATE TABLE IF NOT EXISTS {qualified} ({', '.join(defs)}, "
            "`__version` UInt64, `__is_deleted` UInt8) "
            "ENGINE = ReplacingMergeTree(`__version`, `__is_deleted`) "
            f"ORDER BY ({', '.join(ch_ident(k) for k in table.key_columns)})"
        )
        try:
            if "database" in table.options:
                await self._call(
                    self.client.command, f"CREATE DATABASE IF NOT EXISTS {ch_ident(database)}"
                )
            await self._call(self.client.command, create)
            result = await self._call(
                self.client.query,
                "SELECT name FROM system.columns WHERE database = %(db)s AND table = %(t)s",
                parameters={"db": database, "t": name},
            )
            existing = {r[0] for r in result.result_rows}
            lacking = [
                k for k in (*table.key_columns, "__version", "__is_deleted") if k not in existing
            ]
            if lacking:
                raise ConfigError(
                    f"{table.where}: ClickHouse table {database}.{name} exists without {lacking}; "
                    "it was not created by streamapp, drop or rename it"
                )
            missing = [n for n in table.columns if n not in existing]
            if missing:
                adds = ", ".join(
                    f"ADD COLUMN IF NOT EXISTS {ch_ident(n)} "
                    f"{ch_type(table.columns[n], nullable=True)}"
                    for n in missing
                )
                await self._call(self.client.command, f"ALTER TABLE {qualified} {adds}")
        except (ConfigError, SinkError):
            raise
        except Exception as exc:
            raise _error(table, "creating or altering the table", exc) from exc
        self._plans[table.signature] = _compile(table, database, name)

    async def write_freshness(self, table: TableSpec, rows: Sequence[FreshnessRow]) -> None:
        """Insert ``rows`` into ``streamapp_freshness_partitions`` of ``table``'s database
        (a ReplacingMergeTree by ``updated_at``; table and view created on first use)."""
        await self.start()
        database, _ = self._where(table)
        try:
            if database not in self._fresh_ready:
                for statement in ch_ddl(ch_ident(database)):
                    await self._call(self.client.command, statement)
                self._fresh_ready.add(database)
            values = [ch_values(r) for r in rows]
            await self._call(
                self.client.insert, TABLE, values, column_names=CH_COLUMNS, database=database
            )
        except (ConfigError, SinkError):
            raise
        except Exception as exc:
            raise _error(table, "writing streamapp_freshness", exc) from exc

    # -- writes --------------------------------------------------------------------------------

    async def write(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        plan = self._plans.get(table.signature)
        if plan is None:
            await self.ensure_table(table)
            plan = self._plans[table.signature]
        valid, positions, rejected = check_keys(table, records)
        batch = _columns(plan, *collapse(valid, positions), rejected)
        records = batch.records
        pending = [j for j, r in enumerate(records) if r.unchanged and not r.deleted]
        if pending:
            await self._fill_unchanged(plan, batch, pending)
        if not records:
            return rejected
        failed = await bisect(
            range(len(records)), lambda rows: self._insert(plan, batch, rows), _is_content
        )
        for j, exc in failed:
            rejected.append(Rejected(batch.origins[j], _content_error(plan.table, exc)))
        return rejected

    async def _fill_unchanged(self, plan: _Plan, batch: _Batch, pending: list[int]) -> None:
        """Replace each unchanged column of the ``pending`` rows by its stored value (one FINAL
        query for the batch)."""
        records, columns = batch.records, batch.columns
        wanted = sorted(
            {c for j in pending for c in records[j].unchanged} - set(plan.table.key_columns)
        )
        index = {n: i for i, n in enumerate(plan.names)}
        selected = [*plan.key_index, *(index[c] for c in wanted)]
        key_exprs = [plan.raw[i] for i in plan.key_index]
        keys = [tuple(columns[i][j] for i in plan.key_index) for j in pending]
        target = f"({', '.join(key_exprs)})" if len(key_exprs) > 1 else key_exprs[0]
        query = (
            f"SELECT {', '.join(f'{plan.raw[i]} AS c{i}' for i in selected)} "
            f"FROM {ch_ident(plan.database)}.{ch_ident(plan.name)} FINAL WHERE {target} IN %(keys)s"
        )
        params = {"keys": keys if len(key_exprs) > 1 else [k[0] for k in keys]}
        formats = {f"c{i}": "bytes" for i in selected if i in plan.bytes_index}
        try:
            result = await self._call(
                self.client.query, query, parameters=params, column_formats=formats
            )
        except Exception as exc:
            raise _error(plan.table, "reading stored values for unchanged columns", exc) from exc
        width = len(key_exprs)
        stored = {tuple(r[:width]): r[width:] for r in result.result_rows}
        for j, key in zip(pending, keys, strict=True):
            found, unchanged = stored.get(key), records[j].unchanged
            for m, name in enumerate(wanted):
                if name in unchanged:
                    columns[index[name]][j] = None if found is None else found[m]

    async def _insert(self, plan: _Plan, batch: _Batch, rows: Sequence[int]) -> None:
        """Insert the rows ``rows`` (consecutive indexes into ``batch``, as ``bisect`` splits
        them) in chunks of at most ``insert_rows``, each as one Arrow insert."""
        first, end, total = rows[0], rows[-1] + 1, len(batch.records)
        assert end - first == len(rows), "rows must be consecutive"
        for start in range(first, end, self.insert_rows):
            stop = min(start + self.insert_rows, end)
            whole = start == 0 and stop == total
            columns = batch.columns if whole else [c[start:stop] for c in batch.columns]
            try:
                await self._call(self._insert_arrow, plan, columns)
            except Exception as exc:
                if _is_content(exc):
                    raise
                raise _error(plan.table, "inserting a batch", exc) from exc

    def _insert_arrow(self, plan: _Plan, columns: list[list[Any]]) -> None:
        """Build the Arrow table (in the worker thread) and insert it."""
        names = [*plan.names, "__version", "__is_deleted"]
        data = arrow_table(names, plan.kinds, list(plan.arrow), columns)
        self.client.insert_arrow(f"{ch_ident(plan.database)}.{ch_ident(plan.name)}", data)


def _compile(table: TableSpec, database: str, name: str) -> _Plan:
    keys = set(table.key_columns)
    names = tuple(table.columns)
    return _Plan(
        table=table,
        database=database,
        name=name,
        names=names,
        converters=tuple(column_converter(n, t) for n, t in table.columns.items()),
        key_index=tuple(names.index(k) for k in table.key_columns),
        value_index=tuple(i for i, n in enumerate(names) if n not in keys),
        raw=tuple(ch_raw_expr(n, t) for n, t in table.columns.items()),
        bytes_index=frozenset(
            i for i, t in enumerate(table.columns.values()) if t.kind is Kind.BYTES
        ),
        kinds=(*(t.kind for t in table.columns.values()), Kind.INT, Kind.INT),
        arrow=tuple(arrow_types(tuple(table.columns.values()))),
    )


def _columns(
    plan: _Plan,
    records: list[OutputRecord],
    origins: list[tuple[int, ...]],
    rejected: list[Rejected],
) -> _Batch:
    """``records`` in insert form, column-oriented (see :class:`_Batch`); a record with a value
    its column cannot hold goes to ``rejected`` instead (by its ``origins``), naming the first
    such column (value columns in table order, then key columns).

    Key columns take the record's ``key``; a delete keeps only its key (every other column
    None); a column in a record's ``unchanged`` is None (``_fill_unchanged`` fills it).
    """
    names = plan.names
    raw: list[list[Any]] = [[] for _ in names]
    values = [r.value for r in records]
    for i, column in zip(plan.value_index, _value_columns(plan, values), strict=True):
        raw[i] = column
    keys = [r.key for r in records]
    for k, i in enumerate(plan.key_index):
        raw[i] = [key[k] for key in keys]
    for j, r in enumerate(records):
        if r.deleted:
            for i in plan.value_index:
                raw[i][j] = None
        elif r.unchanged:
            for i in plan.value_index:
                if names[i] in r.unchanged:
                    raw[i][j] = None
    columns: list[list[Any]] = list(raw)
    unfit: dict[int, Unfit] = {}
    for i in (*plan.value_index, *plan.key_index):
        columns[i], failed = plan.converters[i](raw[i])
        for j, exc in failed.items():
            unfit.setdefault(j, exc)
    if unfit:
        for j in sorted(unfit):
            exc = unfit[j]
            msg = (
                f"{plan.table.where}: column {exc.column!r} {exc.reason}; "
                "fix the topology or the source"
            )
            rejected.append(Rejected(origins[j], SinkError(msg, field=exc.column)))
        keep = [j for j in range(len(records)) if j not in unfit]
        records = [records[j] for j in keep]
        origins = [origins[j] for j in keep]
        columns = [[col[j] for j in keep] for col in columns]
    columns.append([r.version for r in records])
    columns.append([1 if r.deleted else 0 for r in records])
    return _Batch(records, columns, origins)


def _value_columns(plan: _Plan, values: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """The value columns of ``values`` (None where a record lacks one): when every record has
    every column, one C-level pick per record and one transposition."""
    names = [plan.names[i] for i in plan.value_index]
    if len(names) > 1 and values:
        try:
            return [list(column) for column in zip(*map(itemgetter(*names), values), strict=True)]
        except KeyError:  # some record lacks a column (e.g. a delete known by its key only)
            pass
    return [[v.get(name) for v in values] for name in names]


def _rows(plan: _Plan, records: list[OutputRecord], rejected: list[Rejected]) -> list[_Item]:
    """Row-oriented view of :func:`_columns`: (record, row with version and deleted flag)."""
    batch = _columns(plan, records, [(j,) for j in range(len(records))], rejected)
    rows = [list(row) for row in zip(*batch.columns, strict=True)]
    return list(zip(batch.records, rows, strict=True))


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    return code if isinstance(code, int) else None


def _is_content(exc: BaseException) -> bool:
    """A failure caused by the values of the rows (serialisation, parse, range), not the server."""
    from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

    if isinstance(exc, (*_CONTENT_TYPES, DataError)):
        return True
    if isinstance(exc, OperationalError):
        return False
    return isinstance(exc, DatabaseError) and _code(exc) in _CONTENT_CODES


def _error(table: TableSpec, doing: str, exc: BaseException) -> SinkError:
    from clickhouse_connect.driver.exceptions import OperationalError

    code = _code(exc)
    transient = (
        isinstance(exc, OperationalError | OSError | TimeoutError) or code in _TRANSIENT_CODES
    )
    what = type(exc).__name__ + (f", code {code}" if code is not None else "")
    hint = "retrying" if transient else "fix the table or the server, then replay"
    return SinkError(
        f"{table.where}: ClickHouse failed {doing} ({what}); {hint}", retriable=transient
    )


def _content_error(table: TableSpec, exc: BaseException) -> SinkError:
    code = _code(exc)
    what = type(exc).__name__ + (f", code {code}" if code is not None else "")
    return SinkError(
        f"{table.where}: ClickHouse refused the record ({what}); "
        "fix the value upstream or widen the column"
    )
