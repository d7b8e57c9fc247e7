"""Read an Iceberg sink table's live rows (tombstones left out) in key order, from one snapshot."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from streamapp.ops import OpsError
from streamapp.reconcile.layout import Canon, Key, Layout, make_canon, make_key
from streamapp.settings import Settings, redact_url
from streamapp.transform.spec import IcebergSink


def load_table(settings: Settings, table: str) -> Any:
    """The pyiceberg table ``table`` ("namespace.name") of the configured catalog, or None when
    it does not exist; OpsError when the catalog cannot be read."""
    from pyiceberg.catalog import load_catalog
    from pyiceberg.exceptions import NoSuchTableError

    props, _ = settings.iceberg_catalog()
    namespace, _, name = table.partition(".")
    try:
        return load_catalog("streamapp", **props).load_table((namespace, name))
    except NoSuchTableError:
        return None
    except Exception as exc:
        raise OpsError(
            f"cannot read the Iceberg catalog {redact_url(props['uri'])} "
            f"({type(exc).__name__}); check STREAMAPP_ICEBERG_CATALOG_URI"
        ) from exc


def last_commit_ms(settings: Settings, table: str) -> int | None:
    """When the current snapshot of ``table`` was committed (ms since the epoch): the newest
    commit of the sink's staged batches (``streamapp status``). None when the table or a
    snapshot does not exist yet; OpsError when the catalog cannot be read."""
    handle = load_table(settings, table)
    snapshot = None if handle is None else handle.current_snapshot()
    return None if snapshot is None else int(snapshot.timestamp_ms)


class IcebergRows:
    """The rows of ``spec``'s table where ``NOT __deleted``, ordered by the key columns.

    Reads the table's current snapshot with a pyiceberg scan (only the compared columns) and
    sorts it in memory: memory grows with the table (a per-file merge would bound it). JSON
    columns hold JSON text, uuid columns text, durations microseconds, as the sink writes them;
    compared columns the table lacks read as null and are named in ``notes``.
    """

    def __init__(self, settings: Settings, spec: IcebergSink, layout: Layout) -> None:
        self.settings = settings
        self.spec = spec
        self.layout = layout
        self.notes: list[str] = []
        self.exists = False
        self._table: Any = None
        self._columns: set[str] = set()

    def open(self) -> None:
        """Load the table; OpsError when the catalog cannot be reached."""
        self._table = load_table(self.settings, self.spec.table)
        if self._table is None:
            self.notes.append(f"table {self.spec.table} does not exist")
            return
        self._columns = {f.name for f in self._table.schema().fields}
        self.exists = True
        lacking = [k for k in self.layout.key_names if k not in self._columns]
        if lacking or "__deleted" not in self._columns:
            raise OpsError(
                f"{self.spec}: table lacks {lacking or ['__deleted']}; "
                "it was not created by streamapp's Iceberg sink"
            )
        absent = [n for n in self.layout.names if n not in self._columns]
        if absent:
            self.notes.append(f"column(s) missing in the table (read as null): {absent}")

    def newest_version(self) -> int | None:
        """``max(__version)`` over every row, tombstones included (deletes are changes too)."""
        if not self.exists:
            return None
        import pyarrow.compute as pc

        versions = self._table.scan(selected_fields=("__version",)).to_arrow()["__version"]
        newest = pc.max(versions).as_py()
        return None if newest is None else int(newest)

    def rows(self) -> Iterator[tuple[Key, Canon, tuple[Key, int | None]]]:
        """``(sort key, canonical row, (stored key values, __version))`` per live row,
        ascending by key."""
        if not self.exists:
            return
        layout = self.layout
        present = [n for n in layout.names if n in self._columns]
        fields = (*layout.key_names, *present, "__version")
        from pyiceberg.expressions import EqualTo

        live: Any = EqualTo  # pydantic model: mypy sees its fields, not its (term, literal) init
        scan = self._table.scan(row_filter=live("__deleted", False), selected_fields=fields)
        data = scan.to_arrow()
        cols = {n: data[n].to_pylist() for n in fields}
        nulls = [None] * data.num_rows
        compared = [cols.get(n, nulls) for n in layout.names]
        keys = [cols[k] for k in layout.key_names]
        sorters, canons = layout.key_sorters(), layout.canonicalisers(json_text=True)
        out = []
        for i in range(data.num_rows):
            raw = tuple(k[i] for k in keys)
            out.append((make_key(sorters, raw), i, raw))
        out.sort(key=lambda item: item[0])
        versions = cols["__version"]
        for sort_key, i, raw in out:
            canon = make_canon(canons, [c[i] for c in compared])
            yield sort_key, canon, (raw, versions[i])

    def close(self) -> None:
        self._table = None
