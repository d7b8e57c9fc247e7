"""ClickHouse sink: ReplacingMergeTree(__version, __is_deleted) tables fed by columnar inserts.

A row's ``__version`` decides which copy of a key survives merges and ``FINAL``; a delete is a
row with ``__is_deleted = 1`` (key and version only), which ``FINAL`` hides and which outlives an
older update arriving later (cleanup merges are not enabled). clickhouse-connect is synchronous,
so every call runs in a worker thread, one at a time per sink.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlparse

from streamapp.errors import ConfigError, SinkError
from streamapp.records import OutputRecord
from streamapp.settings import redact_url
from streamapp.sinks.base import Rejected, Sink, TableSpec, bisect, check_keys, collapse
from streamapp.sinks.ddl import Unfit, ch_converter, ch_ident, ch_raw_expr, ch_type
from streamapp.types import Kind

INSERT_ROWS: Final = 100_000
_TRANSIENT_CODES: Final = frozenset(
    {3, 32, 159, 202, 203, 209, 210, 236, 241, 242, 252, 285, 319, 394, 425, 999}
)
_CONTENT_CODES: Final = frozenset({6, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 349, 407})
_CONTENT_TYPES: Final = (TypeError, ValueError, OverflowError, AttributeError)
Row = list[Any]
_Item = tuple[OutputRecord, Row]


@dataclass(frozen=True, slots=True)
class _Plan:
    """One table, compiled: names, CH types and per-column converters (bookkeeping last)."""

    table: TableSpec
    database: str
    name: str
    names: tuple[str, ...]
    types: tuple[str, ...]
    converters: tuple[Callable[[Any], Any], ...]
    key_index: tuple[int, ...]
    raw: tuple[str, ...]  # SELECT expression per column giving the value in insert form
    bytes_index: frozenset[int]  # String columns holding bytes: read back as bytes


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
                    self._client = await asyncio.to_thread(_connect, self.dsn)

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

    # -- writes --------------------------------------------------------------------------------

    async def write(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        plan = self._plans.get(table.signature)
        if plan is None:
            await self.ensure_table(table)
            plan = self._plans[table.signature]
        valid, rejected = check_keys(table, records)
        items = _rows(plan, collapse(valid), rejected)
        pending = [it for it in items if it[0].unchanged and not it[0].deleted]
        if pending:
            await self._fill_unchanged(plan, pending)
        if not items:
            return rejected
        failed = await bisect(items, lambda part: self._insert(plan, part), _is_content)
        for (record, _), exc in failed:
            rejected.append(Rejected(record, _content_error(plan.table, exc)))
        return rejected

    async def _fill_unchanged(self, plan: _Plan, items: list[_Item]) -> None:
        """Replace each unchanged column by its stored value (one FINAL query for the batch)."""
        wanted = sorted({c for r, _ in items for c in r.unchanged} - set(plan.table.key_columns))
        index = {n: i for i, n in enumerate(plan.names)}
        selected = [*plan.key_index, *(index[c] for c in wanted)]
        key_exprs = [plan.raw[i] for i in plan.key_index]
        keys = [tuple(row[i] for i in plan.key_index) for _, row in items]
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
        for record, row in items:
            found = stored.get(tuple(row[i] for i in plan.key_index))
            for j, name in enumerate(wanted):
                if name in record.unchanged:
                    row[index[name]] = None if found is None else found[j]

    async def _insert(self, plan: _Plan, items: Sequence[_Item]) -> None:
        names = [*plan.names, "__version", "__is_deleted"]
        types = [*plan.types, "UInt64", "UInt8"]
        for start in range(0, len(items), self.insert_rows):
            chunk = items[start : start + self.insert_rows]
            columns = [list(col) for col in zip(*(row for _, row in chunk), strict=True)]
            try:
                await self._call(
                    self.client.insert,
                    table=plan.name,
                    database=plan.database,
                    data=columns,
                    column_names=names,
                    column_type_names=types,
                    column_oriented=True,
                )
            except Exception as exc:
                if _is_content(exc):
                    raise
                raise _error(plan.table, "inserting a batch", exc) from exc


def _compile(table: TableSpec, database: str, name: str) -> _Plan:
    keys = set(table.key_columns)
    names = tuple(table.columns)
    return _Plan(
        table=table,
        database=database,
        name=name,
        names=names,
        types=tuple(ch_type(t, nullable=n not in keys) for n, t in table.columns.items()),
        converters=tuple(ch_converter(n, t) for n, t in table.columns.items()),
        key_index=tuple(names.index(k) for k in table.key_columns),
        raw=tuple(ch_raw_expr(n, t) for n, t in table.columns.items()),
        bytes_index=frozenset(
            i for i, t in enumerate(table.columns.values()) if t.kind is Kind.BYTES
        ),
    )


def _rows(plan: _Plan, records: list[OutputRecord], rejected: list[Rejected]) -> list[_Item]:
    """Rows in insert form (+ version, deleted flag); records with an unfit value are rejected."""
    names, convs, width = plan.names, plan.converters, len(plan.names)
    items: list[_Item] = []
    for r in records:
        try:
            if r.deleted:
                row: Row = [None] * width
                for i, v in zip(plan.key_index, r.key, strict=True):
                    row[i] = convs[i](v)
            else:
                get, unchanged = r.value.get, r.unchanged
                row = []
                for i, n in enumerate(names):
                    v = get(n)
                    row.append(None if v is None or n in unchanged else convs[i](v))
                for i, v in zip(plan.key_index, r.key, strict=True):
                    row[i] = convs[i](v)
        except Unfit as exc:  # the key columns' converters name them too
            msg = (
                f"{plan.table.where}: column {exc.column!r} {exc.reason}; "
                "fix the topology or the source"
            )
            rejected.append(Rejected(r, SinkError(msg, field=exc.column)))
            continue
        row.append(r.version)
        row.append(1 if r.deleted else 0)
        items.append((r, row))
    return items


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


def _connect(dsn: str) -> Any:
    """A clickhouse-connect client; a chDB directory held by another process is a ConfigError."""
    import clickhouse_connect

    try:
        return clickhouse_connect.get_client(dsn=dsn)
    except Exception as exc:
        chdb_dir = _chdb_dir(dsn)
        if chdb_dir is not None and _held_elsewhere(chdb_dir / "status"):
            raise ConfigError(
                f"embedded ClickHouse data dir {chdb_dir} is in use by another process: chDB data "
                "belongs to one process; point STREAMAPP_CLICKHOUSE_DSN at a ClickHouse server "
                "(http://host:8123/db) for multi-replica deployments"
            ) from exc
        from clickhouse_connect.driver.exceptions import OperationalError

        transient = isinstance(exc, OperationalError | OSError)
        raise SinkError(
            f"clickhouse sink: cannot connect to {redact_url(dsn)} ({type(exc).__name__}); "
            "check that the server is up and STREAMAPP_CLICKHOUSE_DSN is right",
            retriable=transient,
        ) from exc


def _chdb_dir(dsn: str) -> Path | None:
    if not dsn.startswith("chdb:"):
        return None
    parsed = urlparse(dsn)
    location = parsed.path if not parsed.netloc else parsed.netloc
    return Path(location) if location not in ("", "memory", ":memory:") else None


def chdb_held(chdb_dir: Path) -> bool:
    """True when another process has the embedded chDB directory open (its ``status`` lock)."""
    return _held_elsewhere(chdb_dir / "status")


def _held_elsewhere(status: Path) -> bool:
    """True when another process holds the flock chDB takes on ``<dir>/status``."""
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
