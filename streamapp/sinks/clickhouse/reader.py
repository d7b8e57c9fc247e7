"""Stream a ClickHouse sink table's live rows (``FINAL``, ``__is_deleted = 0``) in key order."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from streamapp.ops import OpsError
from streamapp.reconcile.layout import Canon, Key, Layout, make_canon, make_key
from streamapp.settings import Settings, redact_url
from streamapp.sinks.clickhouse.types import ch_ident, ch_raw_expr
from streamapp.transform.spec import ClickHouseSink
from streamapp.types import Kind

BUSY: Final = "busy: stop the worker or point STREAMAPP_CLICKHOUSE_DSN at a server"


class SinkBusy(OpsError):
    """The embedded chDB directory is held by another process (a running worker)."""


class ClickHouseRows:
    """The rows of ``spec``'s table as ``FINAL`` sees them without deletes, ordered by key.

    Timestamps are read as microseconds (``toUnixTimestamp64Micro``), UUID keys ordered as
    text, bytes columns read as bytes; blocks of ``chunk_rows`` rows are streamed. An
    embedded chDB directory a worker holds raises :class:`SinkBusy` before anything opens it.
    """

    def __init__(self, settings: Settings, spec: ClickHouseSink, layout: Layout, chunk_rows: int):
        self.settings = settings
        self.spec = spec
        self.layout = layout
        self.chunk_rows = chunk_rows
        self.notes: list[str] = []
        self.exists = False
        self._client: Any = None
        self._database = ""
        self._name = ""
        self._columns: set[str] = set()

    def open(self) -> None:
        """Connect and look the table up; SinkBusy or OpsError when it cannot be read."""
        from streamapp.sinks.clickhouse.connect import chdb_held

        chdb = self.settings.clickhouse_chdb_path()
        if chdb is not None and chdb_held(Path(chdb)):
            raise SinkBusy(BUSY)
        from streamapp.sinks.clickhouse.connect import get_client

        dsn = self.settings.clickhouse_client_dsn()
        try:
            self._client = get_client(dsn)
        except Exception as exc:
            raise OpsError(
                f"cannot connect to ClickHouse {redact_url(dsn)} ({type(exc).__name__}); "
                "check STREAMAPP_CLICKHOUSE_DSN"
            ) from exc
        name = self.spec.table
        database = None
        if "." in name:
            database, name = name.split(".", 1)
        self._database = database or str(self._client.database or "default")
        self._name = name
        result = self._client.query(
            "SELECT name FROM system.columns WHERE database = %(db)s AND table = %(t)s",
            parameters={"db": self._database, "t": self._name},
        )
        self._columns = {r[0] for r in result.result_rows}
        self.exists = bool(self._columns)
        if not self.exists:
            self.notes.append(f"table {self._database}.{self._name} does not exist")
            return
        absent = [n for n in self.layout.names if n not in self._columns]
        if absent:
            self.notes.append(f"column(s) missing in the table (read as null): {absent}")

    def _qualified(self) -> str:
        return f"{ch_ident(self._database)}.{ch_ident(self._name)}"

    def newest_version(self) -> int | None:
        """``max(__version)`` over every stored row, deletes included."""
        if not self.exists:
            return None
        result = self._client.query(
            f"SELECT max(`__version`), count() FROM {self._qualified()}"
        ).result_rows
        return int(result[0][0]) if result and result[0][1] else None

    def rows(self) -> Iterator[tuple[Key, Canon, tuple[Key, int | None]]]:
        """``(sort key, canonical row, (stored key values, __version))`` per live row,
        ascending by key."""
        if not self.exists:
            return
        layout = self.layout
        width = len(layout.key_names)
        exprs: list[str] = []
        formats: dict[str, str] = {}
        order: list[str] = []
        pairs = [*zip(layout.key_names, layout.key_types, strict=True)]
        pairs += zip(layout.names, layout.types, strict=True)
        for i, (name, ft) in enumerate(pairs):
            present = name in self._columns
            exprs.append(f"{ch_raw_expr(name, ft) if present else 'NULL'} AS c{i}")
            if ft.kind is Kind.BYTES and present:
                formats[f"c{i}"] = "bytes"
            if i < width:
                key = ch_ident(name)
                order.append(f"toString({key})" if ft.kind is Kind.UUID else key)
        count = len(exprs)
        exprs += [f"{ch_ident(k)} AS c{count + i}" for i, k in enumerate(layout.key_names)]
        exprs.append(f"`__version` AS c{count + width}")
        query = (
            f"SELECT {', '.join(exprs)} FROM {self._qualified()} FINAL "
            f"WHERE `__is_deleted` = 0 ORDER BY {', '.join(order)}"
        )
        sorters, canons = layout.key_sorters(), layout.canonicalisers(json_text=True)
        with self._client.query_row_block_stream(
            query, column_formats=formats, settings={"max_block_size": self.chunk_rows}
        ) as stream:
            for block in stream:
                for values in block:
                    sort_key = make_key(sorters, values[:width])
                    stored = (tuple(values[count : count + width]), values[-1])
                    yield sort_key, make_canon(canons, values[width:count]), stored

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
