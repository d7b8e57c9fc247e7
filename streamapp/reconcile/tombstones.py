"""Tombstones for stray sink rows, written through each sink's own versioned delete path.

A stray is a row a sink holds that the source does not produce (deleted at the source while
the delete was lost, or written by hand). Its tombstone carries the stored row's version + 1:
it beats exactly the row that was read, while any real change of that key decoded later has a
larger version (``decode.version``: one key's changes are ordered) and still wins; nothing is
ever written with a version from the future. PostgreSQL and ClickHouse get a delete record
(``Sink.write``: the upsert's version guard, ``__deleted``/``__is_deleted``); Redis gets the
upsert script's delete mode for the key as SCAN returned it (``RedisSink.write_tombstones``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, Final

from streamapp.errors import SinkError
from streamapp.ops import OpsError
from streamapp.records import Op, OutputRecord
from streamapp.settings import Settings
from streamapp.sinks import create_sink
from streamapp.sinks.base import MAX_VERSION, Sink, TableSpec
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.spec import SinkSpec

CHUNK: Final = 1_000
Stray = tuple[tuple[Any, ...], int | None]  # (stored key values, stored version)


def tombstone_version(stored: int | None) -> int:
    """The version of the tombstone for a row stored with ``stored`` (None: no version kept)."""
    version = (stored or 0) + 1
    if version >= MAX_VERSION:
        raise OpsError("a stray row carries the largest possible version; delete it by hand")
    return version


def write_tombstones(
    settings: Settings, topology: CompiledTopology, spec: SinkSpec, strays: Iterable[Stray]
) -> int:
    """Write one tombstone per stray of ``spec`` (a sink of ``topology``); how many were sent.
    OpsError (one line) when the sink refuses one."""
    return asyncio.run(_write(settings, topology, spec, strays))


async def _write(
    settings: Settings, topology: CompiledTopology, spec: SinkSpec, strays: Iterable[Stray]
) -> int:
    from streamapp.runtime.worker import table_specs

    kind, table = table_specs(topology)[list(topology.sinks).index(spec)]
    sink = create_sink(kind, settings)
    try:
        await sink.start()
        await sink.ensure_table(table)
        return await tombstone_through(sink, topology, table, strays)
    except SinkError as exc:
        raise OpsError(f"{spec}: writing tombstones failed: {str(exc).splitlines()[0]}") from None
    finally:
        await sink.close()


async def tombstone_through(
    sink: Sink, topology: CompiledTopology, table: TableSpec, strays: Iterable[Stray]
) -> int:
    """Write one tombstone per stray through ``sink`` (started, ``table`` ensured), ``CHUNK``
    per write; how many were sent. The worker's sweep hands it its own sink objects (an
    embedded chDB has one writer: the process that holds it). SinkError or OpsError (a
    refused tombstone) propagate."""
    sent = 0
    chunk: list[Stray] = []
    for stray in strays:
        chunk.append(stray)
        if len(chunk) >= CHUNK:
            sent += await _chunk(sink, topology, table, chunk)
            chunk = []
    if chunk:
        sent += await _chunk(sink, topology, table, chunk)
    return sent


async def _chunk(sink: Any, topology: CompiledTopology, table: Any, strays: Sequence[Stray]) -> int:
    if sink.kind == "redis":
        keys = [(str(key[0]), tombstone_version(version)) for key, version in strays]
        await sink.write_tombstones(table, keys)
        return len(keys)
    records = [
        OutputRecord(
            topology.name,
            tuple(key),
            dict(zip(topology.key_columns, key, strict=True)),
            tombstone_version(version),
            Op.DELETE,
            True,
            frozenset(),
            None,
        )
        for key, version in strays
    ]
    rejected = await sink.write(table, records)
    if rejected:
        raise OpsError(f"{table.where}: the sink refused a tombstone: {rejected[0].error}")
    return len(records)
