"""One Iceberg commit: merge buffered records with the stored rows of their keys, version-guarded.

Copy-on-write in ONE overwrite snapshot: the data files that may hold a touched key (pruned by
the key filter's column statistics) are read, the rows of touched keys are taken out, the
newest version per key is chosen (a stored row with a larger version stays; an equal or larger
incoming version replaces it; a delete keeps a tombstone row), and the untouched rows plus the
chosen rows are written as new files that replace the read ones. Blocking: run it in a thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, In
from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files
from pyiceberg.table import Table

from streamapp.records import OutputRecord
from streamapp.sinks.iceberg.schema import DELETED, VERSION

Key = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class CommitStats:
    """What one commit did: rows written, stale records ignored, files replaced; ``snapshot``
    is the new snapshot id, or None when nothing changed (every record was stale)."""

    written: int
    stale: int
    files_replaced: int
    snapshot: int | None


def key_filter(keys: Sequence[str], wanted: Sequence[Key]) -> BooleanExpression:
    """A filter on the first key column (a superset for composite keys: rows are matched
    exactly afterwards); it lets pyiceberg skip files whose statistics exclude every key."""
    predicate: Any = In  # pydantic model: mypy sees its fields, not its (term, literals) __new__
    result: BooleanExpression = predicate(keys[0], {k[0] for k in wanted})
    return result


def _row(
    record: OutputRecord,
    stored: dict[str, Any] | None,
    names: Sequence[str],
    keys: Sequence[str],
    convert: dict[str, Callable[[Any], Any]],
) -> dict[str, Any]:
    """The Arrow row of a winning record; its unchanged columns keep the stored values."""
    row: dict[str, Any] = dict.fromkeys(names)
    if not record.deleted:
        for n in names:
            v = record.value.get(n)
            if n in record.unchanged:
                v = None if stored is None or stored[DELETED] else stored.get(n)
            elif v is not None and n in convert:
                v = convert[n](v)
            row[n] = v
    for n, v in zip(keys, record.key, strict=True):
        row[n] = v
    row[VERSION] = record.version
    row[DELETED] = record.deleted
    return row


def commit(
    table: Table,
    keys: Sequence[str],
    records: Sequence[OutputRecord],
    convert: dict[str, Callable[[Any], Any]],
) -> CommitStats:
    """Merge ``records`` (one per key, already collapsed) into ``table`` in one snapshot."""
    table.refresh()
    schema = table.schema()
    arrow_schema = schema.as_arrow()
    names = [f.name for f in schema.fields if f.name not in (VERSION, DELETED)]
    incoming = {r.key: r for r in records}
    tasks = list(table.scan(row_filter=key_filter(keys, list(incoming))).plan_files())
    replaced = []
    kept: list[pa.Table] = []
    stored: dict[Key, dict[str, Any]] = {}
    for task in tasks:
        data = ArrowScan(table.metadata, table.io, schema, AlwaysTrue()).to_table(tasks=[task])
        columns = [data.column(k).to_pylist() for k in keys]
        hit = [k in incoming for k in zip(*columns, strict=True)]
        if not any(hit):
            continue
        mask = pa.array(hit, type=pa.bool_())
        replaced.append(task.file)
        kept.append(data.filter(pc.invert(mask)).cast(arrow_schema))
        for row in data.filter(mask).to_pylist():
            k = tuple(row[n] for n in keys)
            if k not in stored or stored[k][VERSION] < row[VERSION]:
                stored[k] = row
    rows: list[dict[str, Any]] = []
    stale = 0
    for k, record in incoming.items():
        old = stored.get(k)
        if old is not None and old[VERSION] > record.version:
            stale += 1
            rows.append(old)  # its file is replaced: write the newer stored row again
        else:
            rows.append(_row(record, old, names, keys, convert))
    if stale == len(incoming):  # nothing newer: leave the table (and its files) as they are
        return CommitStats(0, stale, 0, None)
    fresh = pa.Table.from_pylist(rows, schema=arrow_schema)
    out = pa.concat_tables([*kept, fresh]) if kept else fresh
    tx = table.transaction()
    producer = tx.update_snapshot().overwrite() if replaced else tx.update_snapshot().fast_append()
    with producer as snap:
        for old_file in replaced:
            snap.delete_data_file(old_file)
        for data_file in _dataframe_to_data_files(
            table_metadata=tx.table_metadata, write_uuid=snap.commit_uuid, df=out, io=table.io
        ):
            snap.append_data_file(data_file)
    tx.commit_transaction()
    snapshot = table.current_snapshot()
    return CommitStats(
        len(incoming) - stale, stale, len(replaced), snapshot.snapshot_id if snapshot else None
    )
