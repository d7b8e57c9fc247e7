"""PostgreSQL sink: versioned upserts with tombstones, via multi-row VALUES or COPY + one merge.

Each table gets a primary key on its key columns, ``__version bigint`` and ``__deleted boolean``;
a delete keeps a tombstone row (version kept, other columns null) so that an older update
arriving later cannot resurrect it, and the view ``<table>_current`` hides tombstones. Every
upsert is ``INSERT … ON CONFLICT (key) DO UPDATE … WHERE t.__version <= excluded.__version``
(equal versions come from one source transaction; partition order decides, see records.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import psycopg
from psycopg import sql

from streamapp.errors import ConfigError, SinkError
from streamapp.records import OutputRecord
from streamapp.settings import redact_url
from streamapp.sinks.base import Rejected, Sink, TableSpec, bisect, check_keys, collapse
from streamapp.sinks.freshness import FreshnessRow
from streamapp.sinks.postgres.freshness import pg_ddl, pg_params, pg_upsert
from streamapp.sinks.postgres.types import pg_type
from streamapp.sinks.tlshints import libpq_hint, libpq_reason
from streamapp.sinks.values import JSON_KINDS, checker, first_unfit, jsonify

COPY_THRESHOLD: Final = 50
"""Batches of at least this many rows go through COPY: measured on the local stack, COPY + merge
breaks even with multi-row VALUES near 50 rows and is 2.5x faster from 500 rows on."""
_MAX_PARAMS: Final = 65_535
_VALUES_ROWS: Final = 1_000
_STAGE: Final = sql.Identifier("_streamapp_stage")
_TRANSIENT_CLASSES: Final = ("08", "40", "53", "57", "58")
_CONTENT_STATES: Final = ("54000",)  # program_limit_exceeded: e.g. an index row too large

Row = list[Any]


@dataclass(slots=True)
class _Plan:
    """The compiled statements of one table; ``merge`` statements cached per unchanged-set."""

    table: TableSpec
    qualified: sql.Composable
    names: tuple[str, ...]
    key_index: tuple[int, ...]
    json_index: tuple[int, ...]
    checks: tuple[Callable[[Any], str | None], ...]
    insert_head: sql.Composed
    conflict: sql.Composed
    merges: dict[frozenset[str], sql.Composed] = field(default_factory=dict)

    def on_conflict(self, keep: frozenset[str]) -> sql.Composed:
        """``ON CONFLICT … DO UPDATE SET`` every column but ``keep`` (and the keys), versioned."""
        stmt = self.merges.get(keep)
        if stmt is None:
            keys = set(self.table.key_columns) | keep
            sets = [
                sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n))
                for n in (*self.names, "__version", "__deleted")
                if n not in keys
            ]
            stmt = sql.SQL(
                " ON CONFLICT ({}) DO UPDATE SET {} WHERE t.__version <= EXCLUDED.__version"
            ).format(self.conflict, sql.SQL(", ").join(sets))
            self.merges[keep] = stmt
        return stmt


_Item = tuple[tuple[int, ...], Row, frozenset[str]]  # (origins, row, columns kept as stored)


class PostgresSink(Sink):
    """PostgreSQL through one psycopg async connection (autocommit; one transaction per write).

    A write commits before it returns (durable under ``synchronous_commit``). Batches of at least
    ``copy_threshold`` rows are COPYed into a temporary staging table and merged with one
    ``INSERT … SELECT … ON CONFLICT`` per group of rows sharing the same unchanged columns.
    """

    kind = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        copy_threshold: int = COPY_THRESHOLD,
        connect_timeout: int = 5,
        statement_timeout_ms: int = 60_000,
        application_name: str = "streamapp-sink",
    ) -> None:
        self.dsn = dsn
        self.application_name = application_name
        self.copy_threshold = copy_threshold
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = statement_timeout_ms
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        self._plans: dict[tuple[Any, ...], _Plan] = {}
        self._fresh_ready: set[str] = set()  # schemas with streamapp_freshness created

    # -- connection ----------------------------------------------------------------------------

    async def start(self) -> None:
        async with self._lock:
            await self._connection()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._conn = None
        if conn is not None:
            await conn.close()
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.dsn,
                autocommit=True,
                connect_timeout=self._connect_timeout,
                options=f"-c statement_timeout={self._statement_timeout_ms}",
                application_name=self.application_name,
            )
        except psycopg.Error as exc:
            reason = libpq_reason(exc)  # e.g. a TLS or password refusal; never holds the password
            raise SinkError(
                f"postgres sink: cannot connect to {redact_url(self.dsn)} ({reason}); "
                f"{libpq_hint(reason, 'STREAMAPP_WAREHOUSE_DSN')}",
                retriable=isinstance(exc, psycopg.OperationalError),
            ) from exc
        self._conn = conn
        return conn

    async def healthy(self) -> bool:
        try:
            async with self._lock:
                conn = await self._connection()
                await conn.execute("SELECT 1")
            return True
        except (SinkError, psycopg.Error, OSError):
            return False

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    # -- tables --------------------------------------------------------------------------------

    def _plan_key(self, table: TableSpec) -> tuple[Any, ...]:
        return (*table.signature, table.options.get("schema", "public"))

    async def ensure_table(self, table: TableSpec) -> None:
        """Create schema, table and view if missing; add missing columns (nullable); idempotent.

        Runs under a transaction-scoped advisory lock, so concurrent workers do not race.
        """
        schema = str(table.options.get("schema", "public"))
        qualified = sql.Identifier(schema, table.target)
        defs = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(n),
                sql.SQL(pg_type(t)),
                sql.SQL(" NOT NULL" if n in table.key_columns else ""),
            )
            for n, t in table.columns.items()
        ]
        keys = sql.SQL(", ").join(map(sql.Identifier, table.key_columns))
        async with self._lock:
            conn = await self._connection()
            try:
                async with conn.transaction():
                    await conn.execute(
                        "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"{schema}.{table.target}"]
                    )
                    if schema != "public":
                        await conn.execute(
                            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                        )
                    await conn.execute(
                        sql.SQL(
                            "CREATE TABLE IF NOT EXISTS {} ({}, __version bigint NOT NULL, "
                            "__deleted boolean NOT NULL DEFAULT false, PRIMARY KEY ({}))"
                        ).format(qualified, sql.SQL(", ").join(defs), keys)
                    )
                    await self._add_columns(conn, table, schema, qualified)
            except psycopg.Error as exc:
                raise self._error(table, "creating or altering the table", exc) from exc
        self._plans[self._plan_key(table)] = self._compile(table, qualified)

    async def _add_columns(
        self,
        conn: psycopg.AsyncConnection[Any],
        table: TableSpec,
        schema: str,
        qualified: sql.Composable,
    ) -> None:
        existing = await self._columns(conn, schema, table.target)
        missing_keys = [k for k in table.key_columns if k not in existing]
        if missing_keys:
            raise ConfigError(
                f"{table.where}: table {schema}.{table.target} exists without key column(s) "
                f"{missing_keys}; a key cannot be added to a table, migrate it by hand"
            )
        missing = [n for n in table.columns if n not in existing]
        if missing:
            adds = [
                sql.SQL("ADD COLUMN IF NOT EXISTS {} {}").format(
                    sql.Identifier(n), sql.SQL(pg_type(table.columns[n]))
                )
                for n in missing
            ]
            await conn.execute(
                sql.SQL("ALTER TABLE {} {}").format(qualified, sql.SQL(", ").join(adds))
            )
            existing = await self._columns(conn, schema, table.target)
        view = sql.Identifier(schema, f"{table.target}_current")
        shown = sql.SQL(", ").join(sql.Identifier(n) for n in existing if n != "__deleted")
        await conn.execute(
            sql.SQL("CREATE OR REPLACE VIEW {} AS SELECT {} FROM {} WHERE NOT __deleted").format(
                view, shown, qualified
            )
        )

    @staticmethod
    async def _columns(conn: psycopg.AsyncConnection[Any], schema: str, name: str) -> list[str]:
        cur = await conn.execute(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s "
            "AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            [schema, name],
        )
        return [r[0] for r in await cur.fetchall()]

    @staticmethod
    def _compile(table: TableSpec, qualified: sql.Composable) -> _Plan:
        names = tuple(table.columns)
        all_cols = sql.SQL(", ").join(map(sql.Identifier, (*names, "__version", "__deleted")))
        return _Plan(
            table=table,
            qualified=qualified,
            names=names,
            key_index=tuple(names.index(k) for k in table.key_columns),
            json_index=tuple(i for i, n in enumerate(names) if table.columns[n].kind in JSON_KINDS),
            checks=tuple(checker(table.columns[n], nul_ok=False, deep=False) for n in names),
            insert_head=sql.SQL("INSERT INTO {} AS t ({})").format(qualified, all_cols),
            conflict=sql.SQL(", ").join(map(sql.Identifier, table.key_columns)),
        )

    # -- writes --------------------------------------------------------------------------------

    async def write(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        plan = self._plans.get(self._plan_key(table))
        if plan is None:
            await self.ensure_table(table)
            plan = self._plans[self._plan_key(table)]
        valid, positions, rejected = check_keys(table, records)
        items = self._rows(plan, *collapse(valid, positions), rejected)
        if not items:
            return rejected
        async with self._lock:
            failed = await bisect(items, lambda part: self._store(plan, part), _is_content)
        for (origins, _, _), exc in failed:
            rejected.append(Rejected(origins, self._content_error(plan, exc)))
        return rejected

    def precheck(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        """Records with a value their column cannot hold (NUL in text, out of range, ...), by
        the same checks ``write`` applies, before anything is sent."""
        plan = self._plans.get(self._plan_key(table))
        if plan is None:  # not ensured yet: write checks them
            return []
        valid, positions, rejected = check_keys(table, records)
        self._rows(plan, valid, [(p,) for p in positions], rejected)
        return rejected

    def _rows(
        self,
        plan: _Plan,
        records: list[OutputRecord],
        origins: list[tuple[int, ...]],
        rejected: list[Rejected],
    ) -> list[_Item]:
        """Rows in column order + version + deleted, each with its record's ``origins``; unfit
        records go to ``rejected``."""
        table, names = plan.table, plan.names
        key_set = frozenset(table.key_columns)
        width = len(names)
        items: list[_Item] = []
        for r, origin in zip(records, origins, strict=True):
            if r.deleted:
                row: Row = [None] * width
                keep: frozenset[str] = frozenset()
            else:
                get = r.value.get
                row = [get(n) for n in names]
                keep = r.unchanged - key_set if r.unchanged else r.unchanged
            for i, v in zip(plan.key_index, r.key, strict=True):
                row[i] = v
            for name in keep:
                row[names.index(name)] = None
            bad = first_unfit(row, plan.checks, names) or jsonify(row, plan.json_index, names)
            if bad is not None:
                msg = f"{table.where}: column {bad[0]!r} {bad[1]}; fix the topology or the source"
                rejected.append(Rejected(origin, SinkError(msg, field=bad[0])))
                continue
            row.append(r.version)
            row.append(r.deleted)
            items.append((origin, row, keep))
        return items

    async def _store(self, plan: _Plan, items: Sequence[_Item]) -> None:
        """One transaction: every item upserted with its group's ON CONFLICT clause."""
        groups: dict[frozenset[str], list[Row]] = {}
        for _, row, keep in items:
            groups.setdefault(keep, []).append(row)
        try:
            conn = await self._connection()
            async with conn.transaction():
                if len(items) >= self.copy_threshold:
                    await self._copy_merge(conn, plan, groups)
                else:
                    for keep, rows in groups.items():
                        await self._values(conn, plan, keep, rows)
        except psycopg.Error as exc:
            if _is_content(exc):
                raise
            raise self._error(plan.table, "writing a batch", exc) from exc
        except OSError as exc:
            raise self._error(plan.table, "writing a batch", exc) from exc

    async def _values(
        self, conn: psycopg.AsyncConnection[Any], plan: _Plan, keep: frozenset[str], rows: list[Row]
    ) -> None:
        width = len(plan.names) + 2
        step = max(1, min(_VALUES_ROWS, _MAX_PARAMS // width))
        one = "(" + ",".join(["%s"] * width) + ")"
        tail = plan.on_conflict(keep)
        for start in range(0, len(rows), step):
            chunk = rows[start : start + step]
            values = sql.SQL(" VALUES " + ",".join([one] * len(chunk)))
            params = [v for row in chunk for v in row]
            await conn.execute(sql.Composed([plan.insert_head, values, tail]), params)

    async def _copy_merge(
        self,
        conn: psycopg.AsyncConnection[Any],
        plan: _Plan,
        groups: dict[frozenset[str], list[Row]],
    ) -> None:
        await conn.execute(
            sql.SQL("CREATE TEMP TABLE {} (LIKE {}, __grp int) ON COMMIT DROP").format(
                _STAGE, plan.qualified
            )
        )
        cols = sql.SQL(", ").join(map(sql.Identifier, (*plan.names, "__version", "__deleted")))
        copy_sql = sql.SQL("COPY {} ({}, __grp) FROM STDIN").format(_STAGE, cols)
        async with conn.cursor() as cur, cur.copy(copy_sql) as copy:
            for group, rows in enumerate(groups.values()):
                for row in rows:
                    await copy.write_row((*row, group))
        for group, keep in enumerate(groups):
            await conn.execute(
                sql.Composed(
                    [
                        plan.insert_head,
                        sql.SQL(" SELECT {} FROM {} WHERE __grp = {}").format(
                            cols, _STAGE, sql.Literal(group)
                        ),
                        plan.on_conflict(keep),
                    ]
                )
            )

    async def write_freshness(self, table: TableSpec, rows: Sequence[FreshnessRow]) -> None:
        """Upsert ``rows`` into ``streamapp_freshness_partitions`` of ``table``'s schema (table
        and view created on first use, under an advisory lock), in one transaction."""
        schema = str(table.options.get("schema", "public"))
        quoted = '"' + schema.replace('"', '""') + '"'
        params = sorted(pg_params(r) for r in rows)  # one order: concurrent workers never deadlock
        async with self._lock:
            try:
                conn = await self._connection()
                async with conn.transaction():
                    if schema not in self._fresh_ready:
                        lock = f"{schema}.streamapp_freshness"
                        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [lock])
                        for statement in pg_ddl(quoted):
                            await conn.execute(statement)
                    async with conn.cursor() as cur:
                        await cur.executemany(pg_upsert(quoted), params)
            except (psycopg.Error, OSError) as exc:
                raise self._error(table, "writing streamapp_freshness", exc) from exc
        self._fresh_ready.add(schema)

    # -- errors --------------------------------------------------------------------------------

    def _error(self, table: TableSpec, doing: str, exc: BaseException) -> SinkError:
        """A batch-level SinkError: retriable for connection loss, timeouts, deadlocks."""
        state = getattr(exc, "sqlstate", None)
        transient = isinstance(exc, OSError) or (
            isinstance(exc, psycopg.OperationalError)
            and (state is None or state.startswith(_TRANSIENT_CLASSES))
        )
        if transient and self._conn is not None and self._conn.broken:
            self._conn = None
        what = f"{type(exc).__name__}" + (f", SQLSTATE {state}" if state else "")
        hint = "retrying" if transient else "fix the table or the grants, then replay"
        return SinkError(
            f"{table.where}: PostgreSQL failed {doing} ({what}); {hint}", retriable=transient
        )

    def _content_error(self, plan: _Plan, exc: BaseException) -> SinkError:
        column = getattr(getattr(exc, "diag", None), "column_name", None)
        state = getattr(exc, "sqlstate", None) or "client-side"
        where = f" in column {column!r}" if column else ""
        return SinkError(
            f"{plan.table.where}: PostgreSQL refused the record{where} ({type(exc).__name__}, "
            f"SQLSTATE {state}); fix the value upstream or widen the column",
            field=column,
        )


def _is_content(exc: BaseException) -> bool:
    """A failure caused by one record's values (data exception, constraint), not the service."""
    if not isinstance(exc, psycopg.Error):
        return False
    state = exc.sqlstate
    if state is None:
        return isinstance(exc, psycopg.DataError)
    return state.startswith(("22", "23")) or state in _CONTENT_STATES
