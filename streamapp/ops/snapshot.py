"""Incremental snapshots: which tables, the signal row, and the snapshot's state in the offsets.

Pure logic behind `streamapp snapshot` (the I/O is in ``streamapp.ops.snapshotrun``). Debezium
keeps a running incremental snapshot in the connector's source offsets
(``incremental_snapshot_collections``, ``incremental_snapshot_correlation_id`` = the signal's
id, ``incremental_snapshot_primary_key``/``..._maximum_key`` = the last chunk's key and the
table's largest key), and drops those keys once it finished. An offset committed for a stream
position at or past the signal's commit without them therefore means "done".
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from streamapp.ops import OpsError
from streamapp.ops.connect import ConnectorConfig

Phase = Literal["pending", "running", "done"]
_JAVA_LONG = bytes.fromhex("6a6176612e6c616e672e4c6f6e67")  # b"java.lang.Long"
_LSN_FIELDS = ("lsn", "lsn_commit", "lsn_proc")


def resolve_tables(
    names: Sequence[str], config: ConnectorConfig, topic_of: Callable[[str], str]
) -> tuple[str, ...]:
    """``schema.table`` for each name: taken as is when it has a dot, else the table named by
    the source topic (``topic_of(topology name)``) of that topology, which must be one of
    the connector's topics (``<topic.prefix>.<schema>.<table>``). Order kept, duplicates
    dropped; OpsError (one line) when a topology reads another connector's topic."""
    out: list[str] = []
    for name in names:
        if "." in name:
            table = name
        else:
            topic = topic_of(name)
            table_or_none = table_of_topic(topic, config.topic_prefix)
            if table_or_none is None:
                raise OpsError(
                    f"topology {name!r} reads topic {topic!r}, which connector "
                    f"{config.name!r} (topic.prefix {config.topic_prefix!r}) does not write; "
                    "pass the table as schema.table or choose the connector with --connector"
                )
            table = table_or_none
        if table not in out:
            out.append(table)
    return tuple(out)


def table_of_topic(topic: str, prefix: str | None) -> str | None:
    """``schema.table`` of Debezium's default topic name ``<prefix>.<schema>.<table>``."""
    if not prefix or not topic.startswith(prefix + "."):
        return None
    rest = topic[len(prefix) + 1 :]
    return rest if rest.count(".") == 1 and all(rest.split(".")) else None


def split_table(table: str) -> tuple[str, str]:
    """(schema, table) of ``schema.table``; OpsError when the name is not of that form."""
    schema, dot, name = table.partition(".")
    if not (schema and dot and name) or "." in name:
        raise OpsError(f"table {table!r} is not of the form schema.table (e.g. public.orders)")
    return schema, name


def check_signalling(config: ConnectorConfig) -> str:
    """The connector's signal table; OpsError saying what to configure when it has none."""
    table = config.signal_table
    if table is None:
        raise OpsError(
            f"connector {config.name!r} has no signal table; create one (id varchar(42) "
            "primary key, type varchar(32), data varchar(2048)), add it to the connector's "
            "table.include.list and set signal.data.collection=<schema>.<table>"
        )
    if "source" not in config.signal_channels:
        raise OpsError(
            f"connector {config.name!r} does not read its signal table "
            f"(signal.enabled.channels={','.join(config.signal_channels)}); add 'source'"
        )
    if not config.captures(table):
        raise OpsError(
            f"connector {config.name!r}: its signal table {table} is not captured; add it to "
            "table.include.list so Debezium sees the signals"
        )
    return table


def new_signal_id() -> str:
    """A fresh signal id (the signal table's key, at most 42 characters)."""
    return f"streamapp-{uuid.uuid4().hex[:16]}"


def signal_data(tables: Iterable[str]) -> str:
    """The ``data`` of an ``execute-snapshot``/``stop-snapshot`` signal for these tables."""
    return json.dumps({"data-collections": list(tables), "type": "incremental"})


def filtered_signal_data(table: str, filter_sql: str) -> str:
    """The ``data`` of an ``execute-snapshot`` signal re-reading only the rows of ``table``
    that ``filter_sql`` selects (Debezium 2.5+/3.x ``additional-conditions``: a list of
    ``{"data-collection": <regex of schema.table>, "filter": <SQL condition>}``; Debezium
    compiles ``data-collection`` as a case-insensitive regular expression, so the name is
    escaped, and appends the filter to its chunk queries' WHERE clause)."""
    return json.dumps(
        {
            "data-collections": [table],
            "type": "incremental",
            "additional-conditions": [
                {"data-collection": collection_regex(table), "filter": filter_sql}
            ],
        }
    )


def collection_regex(table: str) -> str:
    """``schema.table`` as a Java regular expression matching exactly that name."""
    return "".join("\\" + c if c in "\\.[]{}()<>*+-=!?^$|" else c for c in table)


@dataclass(frozen=True, slots=True)
class SnapshotState:
    """Where the connector is with one incremental snapshot, read from its offsets.

    ``phase``: ``pending`` (the connector has not streamed past the signal yet), ``running``
    (the offsets hold a snapshot of one of the tables) or ``done``. ``key``/``max_key``: the
    last chunk's key and the largest key, when both are a single integer column.
    """

    phase: Phase
    key: int | None = None
    max_key: int | None = None


def snapshot_state(
    offsets: Sequence[Mapping[str, Any]],
    server: str | None,
    tables: Iterable[str],
    signal_lsn: int,
) -> SnapshotState:
    """The state of the snapshot of ``tables`` requested by a signal committed before
    ``signal_lsn``, from the connector's offsets (``GET /connectors/<name>/offsets``)."""
    offset = _offset_of(offsets, server)
    wanted = {t.lower() for t in tables}
    running = {t.lower() for t in snapshot_collections(offset)} & wanted
    if running:
        return SnapshotState(
            "running",
            java_long_key(offset.get("incremental_snapshot_primary_key")),
            java_long_key(offset.get("incremental_snapshot_maximum_key")),
        )
    positions = [v for f in _LSN_FIELDS if isinstance(v := offset.get(f), int)]
    if positions and max(positions) >= signal_lsn:
        return SnapshotState("done")
    return SnapshotState("pending")


def _offset_of(offsets: Sequence[Mapping[str, Any]], server: str | None) -> Mapping[str, Any]:
    """The offset of the connector's partition ``{"server": <topic.prefix>}`` ({} if none)."""
    for entry in offsets:
        partition = entry.get("partition") or {}
        if server is None or partition.get("server") == server:
            offset = entry.get("offset")
            return offset if isinstance(offset, Mapping) else {}
    return {}


def snapshot_collections(offset: Mapping[str, Any]) -> list[str]:
    """Tables in ``incremental_snapshot_collections``: Debezium 2+ writes a JSON list of
    ``{"incremental_snapshot_collections_id": ...}``; older releases a comma-joined list."""
    raw = offset.get("incremental_snapshot_collections")
    if not isinstance(raw, str) or not raw.strip():
        return []
    try:
        parsed = json.loads(raw)
    except ValueError:
        return [part.strip() for part in raw.split(",") if part.strip()]
    out = []
    for item in parsed if isinstance(parsed, list) else []:
        if isinstance(item, Mapping):
            item = item.get("incremental_snapshot_collections_id")
        if isinstance(item, str):
            out.append(item)
    return out


def java_long_key(text: object) -> int | None:
    """The key in Debezium's serialized chunk position (a hex Java ``Object[]``), when it is
    one ``java.lang.Long``: its value is the last 8 bytes. None otherwise."""
    if not isinstance(text, str):
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    # Object[] of length 1 holding a Long: one class descriptor for Long, nothing after the value
    if raw.count(_JAVA_LONG) != 1 or not raw.startswith(b"\xac\xed\x00\x05ur"):
        return None
    if raw.count(b"\x00\x00\x00\x01sr") != 1 or len(raw) < 8:
        return None
    return int.from_bytes(raw[-8:], "big", signed=True)
