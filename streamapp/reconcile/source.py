"""Read a source table in key order, in chunks, as the decoder would hand its rows to a topology.

A server-side (named) cursor in one REPEATABLE READ, READ ONLY transaction streams the rows
``itersize`` at a time, so a table of millions of rows never sits in memory and every row comes
from one snapshot. Values are turned into the one Python form per declared kind
(``streamapp.types``): json/jsonb are read as text and parsed like Debezium's ``Json`` values,
timestamps with time zone become aware UTC, and so on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.types.string import TextLoader

from streamapp.ops import OpsError
from streamapp.reconcile.canon import JSON_KINDS
from streamapp.settings import redact_url
from streamapp.types import FieldType, Kind, parse_type

CHUNK_ROWS: Final = 5_000
_TEXTUAL: Final = frozenset({"text", "character varying", "character", "name", "citext"})


@dataclass(frozen=True, slots=True)
class SourceTable:
    """``schema.table`` in the source database."""

    schema: str
    table: str

    @classmethod
    def parse(cls, text: str) -> SourceTable:
        """``schema.table`` or ``table`` (schema ``public``); OpsError when malformed."""
        parts = text.split(".")
        if len(parts) == 1 and parts[0]:
            return cls("public", parts[0])
        if len(parts) == 2 and all(parts):
            return cls(parts[0], parts[1])
        raise OpsError(f"--table {text!r}: give schema.table, e.g. public.customers")

    @classmethod
    def of_topic(cls, topic: str) -> SourceTable:
        """From a Debezium topic ``<prefix>.<schema>.<table>``; OpsError for another shape."""
        parts = topic.split(".")
        if len(parts) < 3 or not all(parts[-2:]):
            raise OpsError(
                f"source topic {topic!r} is not <prefix>.<schema>.<table>; "
                "pass --table schema.table"
            )
        return cls(parts[-2], parts[-1])

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"


def _coercer(ft: FieldType) -> Callable[[Any], Any] | None:
    """psycopg's value -> the declared kind's Python form (None: keep the value as it is)."""
    kind = ft.kind
    if kind is Kind.STRING:
        return lambda v: str(v) if isinstance(v, UUID) else v
    if kind is Kind.FLOAT:
        return lambda v: float(v) if isinstance(v, int | Decimal) and not isinstance(v, bool) else v
    if kind is Kind.DECIMAL:
        return lambda v: Decimal(repr(v)) if isinstance(v, int | float) else v
    if kind is Kind.DATE:
        return lambda v: v.date() if isinstance(v, datetime) else v
    if kind is Kind.TIMESTAMP:
        return lambda v: v.astimezone(UTC).replace(tzinfo=None) if v.tzinfo else v
    if kind is Kind.TIMESTAMPTZ:
        return lambda v: v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
    if kind is Kind.BYTES:
        return lambda v: bytes(v) if isinstance(v, memoryview | bytearray) else v
    if kind is Kind.UUID:
        return lambda v: UUID(v) if isinstance(v, str) else v
    if kind in JSON_KINDS:
        return _json
    return None


def _json(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


class SourceReader:
    """One source table's rows as ``dict``s of the topology's declared columns, in key order.

    ``order`` names the columns to order by (text columns compare by code point); declared
    columns the table lacks are null, as the decoder makes them. ``missing`` lists those.
    """

    def __init__(
        self,
        dsn: str,
        table: SourceTable,
        columns: dict[str, Any],
        *,
        chunk_rows: int = CHUNK_ROWS,
    ) -> None:
        self.dsn = dsn
        self.table = table
        self.declared = {name: parse_type(spec) for name, spec in columns.items()}
        self.chunk_rows = chunk_rows
        self.present: tuple[str, ...] = ()
        self.missing: tuple[str, ...] = ()
        self.primary_key: tuple[str, ...] = ()
        self._types: dict[str, str] = {}
        self._conn: psycopg.Connection[Any] | None = None

    def open(self) -> None:
        """Connect and read the table's columns and primary key; OpsError if it is absent."""
        try:
            conn = psycopg.connect(self.dsn, connect_timeout=10, application_name="reconcile")
        except psycopg.Error as exc:
            raise OpsError(
                f"source: cannot connect to {redact_url(self.dsn)} ({type(exc).__name__}); "
                "check STREAMAPP_SOURCE_DSN"
            ) from exc
        self._conn = conn
        conn.execute("SET TIME ZONE 'UTC'")
        for name in ("json", "jsonb"):
            conn.adapters.register_loader(name, TextLoader)
        rows = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, NULL), "
            "coalesce(a.attnum = ANY(i.indkey), false) FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attnum",
            [self.table.schema, self.table.table],
        ).fetchall()
        conn.commit()
        if not rows:
            raise OpsError(
                f"source table {self.table} does not exist in {redact_url(self.dsn)}; "
                "pass --table schema.table"
            )
        self._types = {r[0]: r[1] for r in rows}
        self.primary_key = tuple(r[0] for r in rows if r[2])
        self.present = tuple(n for n in self.declared if n in self._types)
        self.missing = tuple(n for n in self.declared if n not in self._types)

    @property
    def conn(self) -> psycopg.Connection[Any] | None:
        """The open connection (None before :meth:`open`), for position queries."""
        return self._conn

    def rows(self, order: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Every row as ``{declared column: value}``, ordered by ``order`` (may be empty)."""
        conn = self._conn
        assert conn is not None
        coercers = [(n, _coercer(self.declared[n])) for n in self.present]
        absent = dict.fromkeys(self.missing)
        keys = [
            sql.SQL('{} COLLATE "C"' if self._types.get(n) in _TEXTUAL else "{}").format(
                sql.Identifier(n)
            )
            for n in order
        ]
        query = sql.SQL("SELECT {} FROM {}{}").format(
            sql.SQL(", ").join(map(sql.Identifier, self.present)) if self.present else sql.SQL("1"),
            sql.Identifier(self.table.schema, self.table.table),
            sql.SQL(" ORDER BY ") + sql.SQL(", ").join(keys) if keys else sql.SQL(""),
        )
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction(), conn.cursor(name="streamapp_reconcile") as cur:
            cur.itersize = self.chunk_rows
            cur.execute(query)
            for values in cur:
                row = dict(absent)
                for (name, coerce), v in zip(coercers, values, strict=False):
                    row[name] = v if coerce is None or v is None else coerce(v)
                yield row

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
