"""Read a MySQL-family (MySQL, MariaDB) source table in key order, as Debezium would decode it.

Selected by ``STREAMAPP_SOURCE_DSN=mysql://user:password@host:port/database`` (or
``mariadb://``). One ``START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`` in REPEATABLE
READ and an unbuffered cursor stream the rows ``chunk_rows`` at a time, so every row comes
from one snapshot and a large table never sits in memory. Values take the form the decoder
gives Debezium's MySQL/MariaDB values (``streamapp.types``): TINYINT(1) and BIT(1) -> bool,
zero dates -> None, TIMESTAMP -> aware UTC, TIME -> time, BIT(n) -> little-endian bytes, SET ->
list of members, JSON parsed, YEAR 0000 -> 0, spatial -> ``{"wkb": bytes, "srid": int | None}``
(SRID 0 -> None). Text keys are ordered by code point (``CAST(... AS BINARY)`` of UTF-8).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final
from urllib.parse import unquote, urlsplit

from streamapp.ops import OpsError
from streamapp.reconcile.canon import JSON_KINDS
from streamapp.reconcile.freshness import SourcePosition
from streamapp.settings import redact_url
from streamapp.types import FieldType, Kind, parse_type

SCHEMES: Final = frozenset({"mysql", "mariadb"})
_TEXTUAL: Final = frozenset({"char", "varchar", "tinytext", "text", "mediumtext", "longtext"})
_SPATIAL: Final = frozenset(
    {"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring"}
    | {"multipolygon", "geometrycollection"}
)


def is_mysql_dsn(dsn: str) -> bool:
    """True for ``mysql://`` and ``mariadb://`` DSNs."""
    return urlsplit(dsn).scheme.lower() in SCHEMES


def connect_args(dsn: str) -> dict[str, Any]:
    """pymysql.connect() keyword arguments of a ``mysql://user:pw@host:port/db`` DSN."""
    url = urlsplit(dsn)
    database = unquote(url.path.lstrip("/"))
    if url.scheme.lower() not in SCHEMES or not database:
        raise OpsError(
            f"source DSN {redact_url(dsn)} is not mysql://user:password@host:port/database; "
            "check STREAMAPP_SOURCE_DSN"
        )
    return {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 3306,
        "user": unquote(url.username or ""),
        "password": unquote(url.password or ""),
        "database": database,
    }


def coercer(ft: FieldType, data_type: str) -> Callable[[Any], Any] | None:
    """pymysql's value of a ``data_type`` column -> the declared kind's form (None: as is)."""
    kind = ft.kind
    if kind is Kind.BOOL:
        return lambda v: bool(int.from_bytes(v, "big")) if isinstance(v, bytes) else bool(v)
    if kind is Kind.DECIMAL:
        return lambda v: Decimal(repr(v)) if isinstance(v, int | float) else v
    if kind is Kind.FLOAT:
        return float
    if kind in (Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
        return _temporal(kind)
    if kind is Kind.TIME:
        return lambda v: (datetime.min + v).time() if timedelta(0) <= v < timedelta(1) else v
    if kind is Kind.BYTES:
        if data_type == "bit":
            return lambda v: bytes(reversed(v))  # Debezium's Bits are little-endian
        return bytes
    if kind is Kind.ARRAY and data_type == "set":
        return _split
    if kind in JSON_KINDS:
        return lambda v: json.loads(v) if isinstance(v, str | bytes) else v
    if kind is Kind.STRING:
        return lambda v: v.decode() if isinstance(v, bytes) else str(v)
    return None


def _split(text: str) -> list[str]:
    return text.split(",") if text else []


def _temporal(kind: Kind) -> Callable[[Any], Any]:
    def convert(v: Any) -> Any:
        if isinstance(v, str):  # a zero date pymysql leaves as text: Debezium writes null
            return None
        if kind is Kind.DATE:
            return v.date() if isinstance(v, datetime) else v
        if not isinstance(v, datetime):
            return datetime.combine(v, time()) if isinstance(v, date) else v
        return v.replace(tzinfo=UTC) if kind is Kind.TIMESTAMPTZ else v

    return convert


class MySqlSourceReader:
    """A MySQL/MariaDB table's rows as ``dict``s of the topology's declared columns, in key
    order; the same interface as ``source.SourceReader`` (``conn`` is None: no WAL position).
    """

    def __init__(
        self, dsn: str, table: Any, columns: dict[str, Any], *, chunk_rows: int = 5_000
    ) -> None:
        self.dsn = dsn
        self.table = table
        self.declared = {name: parse_type(spec) for name, spec in columns.items()}
        self.chunk_rows = chunk_rows
        self.present: tuple[str, ...] = ()
        self.missing: tuple[str, ...] = ()
        self.primary_key: tuple[str, ...] = ()
        self.conn: Any = None  # no PostgreSQL connection: freshness is unknown
        self._types: dict[str, str] = {}
        self._db: Any = None
        self._plain: Any = None

    def open(self) -> None:
        """Connect and read the table's columns and primary key; OpsError if it is absent."""
        try:
            import pymysql
        except ImportError:  # pragma: no cover - depends on the install
            raise OpsError(
                "a mysql:// source needs pymysql: pip install 'streamapp[mysql]'"
            ) from None
        args = connect_args(self.dsn)
        try:
            self._db = pymysql.connect(
                **args,
                connect_timeout=10,
                init_command="SET time_zone = '+00:00'",
                cursorclass=pymysql.cursors.SSCursor,
            )
        except pymysql.MySQLError as exc:
            raise OpsError(
                f"source: cannot connect to {redact_url(self.dsn)} ({type(exc).__name__}); "
                "check STREAMAPP_SOURCE_DSN"
            ) from exc
        self._plain = pymysql.cursors.Cursor
        with self._db.cursor(self._plain) as cur:
            cur.execute(
                "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_KEY FROM information_schema.COLUMNS "
                "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
                (self.table.schema, self.table.table),
            )
            rows = cur.fetchall()
        if not rows:
            raise OpsError(
                f"source table {self.table} does not exist in {redact_url(self.dsn)}; "
                "pass --table database.table"
            )
        self._types = {r[0]: str(r[1]).lower() for r in rows}
        self.primary_key = tuple(r[0] for r in rows if r[2] == "PRI")
        self.present = tuple(n for n in self.declared if n in self._types)
        self.missing = tuple(n for n in self.declared if n not in self._types)

    def position(self) -> SourcePosition:
        """The server's binlog position (``file:pos``), or an unknown one."""
        assert self._db is not None
        try:
            with self._db.cursor(self._plain) as cur:
                cur.execute("SHOW MASTER STATUS")
                row = cur.fetchone()
        except Exception:  # noqa: BLE001 - no binlog or no privilege: position unknown
            return SourcePosition(None)
        return SourcePosition(None, binlog=f"{row[0]}:{row[1]}" if row else None)

    def _select(self, name: str) -> str:
        ident = _quote(name)
        if self._types[name] in _SPATIAL:
            return f"ST_AsWKB({ident}), ST_SRID({ident})"
        return ident

    def rows(self, order: tuple[str, ...]) -> Iterator[dict[str, Any]]:
        """Every row as ``{declared column: value}``, ordered by ``order`` (may be empty)."""
        assert self._db is not None
        plan = [
            (n, self._types[n] in _SPATIAL, coercer(self.declared[n], self._types[n]))
            for n in self.present
        ]
        absent = dict.fromkeys(self.missing)
        keys = [
            f"CAST({_quote(n)} AS BINARY)" if self._types.get(n) in _TEXTUAL else _quote(n)
            for n in order
        ]
        query = "SELECT {} FROM {}.{}{}".format(
            ", ".join(self._select(n) for n in self.present) or "1",
            _quote(self.table.schema),
            _quote(self.table.table),
            " ORDER BY " + ", ".join(keys) if keys else "",
        )
        with self._db.cursor() as cur:
            cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            try:
                cur.execute(query)
                while batch := cur.fetchmany(self.chunk_rows):
                    for values in batch:
                        yield _row(plan, values, absent)
            finally:
                cur.close()
                self._db.rollback()

    def close(self) -> None:
        db, self._db = self._db, None
        if db is not None:
            db.close()


def _row(
    plan: list[tuple[str, bool, Callable[[Any], Any] | None]],
    values: tuple[Any, ...],
    absent: dict[str, None],
) -> dict[str, Any]:
    row: dict[str, Any] = dict(absent)
    i = 0
    for name, spatial, coerce in plan:
        if spatial:
            wkb, srid = values[i], values[i + 1]
            i += 2
            row[name] = None if wkb is None else {"wkb": bytes(wkb), "srid": srid or None}
            continue
        v = values[i]
        i += 1
        row[name] = v if coerce is None or v is None else coerce(v)
    return row


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
