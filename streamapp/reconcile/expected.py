"""The expected sink rows: every source row as a snapshot read (op ``r``) through the topology.

The topology's own compiled ``process`` runs on each row, so filters, casts, masks (keyed HMAC
with the worker's secret), flattening and derivations apply exactly as in the stream; a row the
topology filters out is not expected in any sink, one it rejects (TransformError, the DLQ in
the stream) is counted as failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from streamapp.errors import TransformError
from streamapp.reconcile.layout import Expected, Key, Layout, make_canon, make_key
from streamapp.records import ChangeEvent, EventKind, Op, SourceInfo
from streamapp.sinks.redis.reader import RedisTarget
from streamapp.transform.compile import CompiledTopology


class OutOfOrder(Exception):
    """The output keys do not follow the source order: sort the expected rows first."""


@dataclass(slots=True)
class Counts:
    """Source rows read, rows the topology filtered out or rejected, distinct and repeated
    output keys."""

    source_rows: int = 0
    expected: int = 0
    filtered: int = 0
    failed: int = 0
    duplicates: int = 0


def read_event(source: SourceInfo, key: dict[str, object], row: dict[str, object]) -> ChangeEvent:
    """A snapshot read event (op ``r``, version 0) carrying ``row`` as its after-image."""
    return ChangeEvent(EventKind.DATA, Op.READ, key, None, row, source, 0, None, 0)


def snapshot_source(db: str | None, schema: str, table: str) -> SourceInfo:
    """The ``source`` block of a PostgreSQL snapshot read of ``schema.table``."""
    return SourceInfo(
        "postgresql", db, schema, table, 0, "true", 0, 0, None, None, None, None, None, {}
    )


def expected_rows(
    topology: CompiledTopology,
    layout: Layout,
    rows: Iterable[dict[str, object]],
    *,
    source: SourceInfo,
    key_columns: Sequence[str],
    redis: Sequence[RedisTarget],
    counts: Counts,
) -> Iterator[Expected]:
    """The topology's output for each source row, as :class:`Expected` (in source order).

    ``key_columns`` are the source columns put in the event's key (their values are each
    item's ``source_key``). ``counts`` is updated as rows are consumed.
    """
    sorters, canons = layout.key_sorters(), layout.canonicalisers()
    names = layout.names
    process = topology.process
    for row in rows:
        counts.source_rows += 1
        source_key = tuple(row.get(k) for k in key_columns)
        event = read_event(source, dict(zip(key_columns, source_key, strict=True)), row)
        try:
            records = process(event)
        except TransformError:
            counts.failed += 1
            continue
        if not records:
            counts.filtered += 1
            continue
        for record in records:
            value = record.value
            yield Expected(
                make_key(sorters, record.key),
                make_canon(canons, [value.get(n) for n in names]),
                tuple(target.key_of(record) for target in redis),
                source_key,
            )


def ascending(items: Iterable[Expected], counts: Counts, *, check: bool) -> Iterator[Expected]:
    """``items`` with repeated keys dropped (counted); OutOfOrder when ``check`` and a key
    is smaller than the one before it."""
    last: Key | None = None
    for item in items:
        if last is not None:
            if item.key == last:
                counts.duplicates += 1
                continue
            if check and item.key < last:
                raise OutOfOrder
        last = item.key
        counts.expected += 1
        yield item
