"""Stream a PostgreSQL sink table's live rows (tombstones left out) in key order, in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import sql

from streamapp.ops import OpsError
from streamapp.reconcile.layout import Canon, Key, Layout, make_canon, make_key
from streamapp.settings import redact_url
from streamapp.transform.spec import PostgresSink
from streamapp.types import Kind

_TEXT_KEYS = frozenset({Kind.STRING})


class PostgresRows:
    """The rows of ``spec``'s table where ``NOT __deleted``, ordered by the key columns.

    A server-side cursor in a REPEATABLE READ, READ ONLY transaction fetches ``chunk_rows``
    at a time; string keys are ordered ``COLLATE "C"`` (code point order, as the join
    compares). Compared columns the table lacks read as null and are named in ``notes``.
    """

    def __init__(self, dsn: str, spec: PostgresSink, layout: Layout, chunk_rows: int) -> None:
        self.dsn = dsn
        self.spec = spec
        self.layout = layout
        self.chunk_rows = chunk_rows
        self.notes: list[str] = []
        self.exists = False
        self._columns: set[str] = set()
        self._conn: psycopg.Connection[Any] | None = None

    def open(self) -> None:
        """Connect and look the table up; OpsError when the database cannot be reached."""
        try:
            self._conn = psycopg.connect(self.dsn, connect_timeout=10, application_name="reconcile")
        except psycopg.Error as exc:
            raise OpsError(
                f"cannot connect to {redact_url(self.dsn)} ({type(exc).__name__}); "
                "check STREAMAPP_WAREHOUSE_DSN"
            ) from exc
        self._conn.execute("SET TIME ZONE 'UTC'")
        rows = self._conn.execute(
            "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
            [self.spec.schema, self.spec.table],
        ).fetchall()
        self._conn.commit()
        self._columns = {r[0] for r in rows}
        self.exists = bool(rows)
        if not self.exists:
            self.notes.append(f"table {self.spec.schema}.{self.spec.table} does not exist")
            return
        lacking = [k for k in self.layout.key_names if k not in self._columns]
        if lacking or "__deleted" not in self._columns:
            raise OpsError(
                f"{self.spec}: table lacks {lacking or ['__deleted']}; "
                "it was not created by streamapp's PostgreSQL sink"
            )
        absent = [n for n in self.layout.names if n not in self._columns]
        if absent:
            self.notes.append(f"column(s) missing in the table (read as null): {absent}")

    def _qualified(self) -> sql.Composable:
        return sql.Identifier(self.spec.schema, self.spec.table)

    def newest_version(self) -> int | None:
        """``max(__version)`` over every row, tombstones included (deletes are changes too)."""
        if not self.exists or "__version" not in self._columns:
            return None
        assert self._conn is not None
        row = self._conn.execute(
            sql.SQL("SELECT max(__version) FROM {}").format(self._qualified())
        ).fetchone()
        self._conn.commit()
        return None if row is None or row[0] is None else int(row[0])

    def rows(self) -> Iterator[tuple[Key, Canon, tuple[Key, int | None]]]:
        """``(sort key, canonical row, (stored key values, __version))`` per live row,
        ascending by key."""
        if not self.exists:
            return
        conn = self._conn
        assert conn is not None
        layout = self.layout
        width = len(layout.key_names)
        select = [sql.Identifier(k) for k in layout.key_names] + [
            sql.Identifier(n) if n in self._columns else sql.SQL("NULL") for n in layout.names
        ]
        select.append(sql.SQL("__version" if "__version" in self._columns else "NULL"))
        order = [
            sql.SQL('{} COLLATE "C"' if t.kind in _TEXT_KEYS else "{}").format(sql.Identifier(k))
            for k, t in zip(layout.key_names, layout.key_types, strict=True)
        ]
        query = sql.SQL("SELECT {} FROM {} WHERE NOT __deleted ORDER BY {}").format(
            sql.SQL(", ").join(select), self._qualified(), sql.SQL(", ").join(order)
        )
        sorters, canons = layout.key_sorters(), layout.canonicalisers()
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction(), conn.cursor(name="streamapp_reconcile_sink") as cur:
            cur.itersize = self.chunk_rows
            cur.execute(query)
            for values in cur:
                raw = tuple(values[:width])
                canon = make_canon(canons, values[width:-1])
                yield make_key(sorters, raw), canon, (raw, values[-1])

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
