"""The records that travel the data path: decoded change events in, output records out.

``ChangeEvent`` and ``OutputRecord`` are NamedTuples rather than frozen dataclasses: they are
created once per event on the hot path, and tuple construction is several times cheaper than a
frozen dataclass ``__init__`` while staying immutable and typed.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Final, NamedTuple


class Op(enum.Enum):
    """Debezium's ``op`` codes."""

    CREATE = "c"
    UPDATE = "u"
    DELETE = "d"
    READ = "r"  # snapshot
    TRUNCATE = "t"
    MESSAGE = "m"  # logical decoding message


class EventKind(enum.Enum):
    """What an event on a change topic is; only DATA (and DELETE-carrying DATA) reaches sinks."""

    DATA = "data"  # c / u / d / r
    TOMBSTONE = "tombstone"  # null value after a delete: a compaction marker, no-op for sinks
    TRUNCATE = "truncate"  # op=t
    HEARTBEAT = "heartbeat"  # __debezium-heartbeat.* topics
    SCHEMA_CHANGE = "schema_change"  # schema history / DDL events
    MESSAGE = "message"  # op=m logical decoding message


class _Unchanged:
    """Sentinel for a column whose value Debezium did not send (TOASTed and not updated).

    It means "keep the stored value". It is never a real value and must never be written
    over one: transforms pass it through, sinks leave the column as it is.
    """

    __slots__ = ()
    _instance: _Unchanged | None = None

    def __new__(cls) -> _Unchanged:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNCHANGED"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "UNCHANGED"


UNCHANGED: Final = _Unchanged()
"""The one instance of the unchanged-value sentinel."""


class SourceInfo(NamedTuple):
    """The ``source`` block, normalised across connectors; ``raw`` keeps every original field."""

    connector: str | None  # "postgresql" | "mysql" | "mongodb" | ...
    db: str | None
    schema: str | None  # PostgreSQL schema; None elsewhere
    table: str | None  # table, or MongoDB collection
    ts_ms: int | None  # when the change was made in the database
    snapshot: str | None  # "true" | "first" | "last" | "incremental" | "false" | None
    lsn: int | None  # PostgreSQL
    tx_id: int | None  # PostgreSQL txId
    file: str | None  # MySQL binlog file
    pos: int | None  # MySQL binlog position
    row: int | None  # MySQL row within the binlog event
    gtid: str | None  # MySQL
    ord: int | None  # MongoDB ordinal within the second
    raw: Mapping[str, Any]


class ChangeEvent(NamedTuple):
    """One decoded event from a change topic.

    For DATA events ``op`` is set and ``before``/``after`` hold rows whose values are Python
    values (see ``streamapp.types``), with ``UNCHANGED`` where Debezium sent its TOAST
    placeholder. ``version`` is a non-negative int < 2**63 that orders changes of one key:
    a later change of the same key never has a smaller version (see ``decode.version``).
    Versions tie only for changes made inside one source transaction (e.g. two updates of a
    row in one long PostgreSQL transaction); those share a key, hence a partition, and any
    re-delivery is an in-order suffix of it, so sinks apply a version >= the stored one and
    let partition order decide ties.
    """

    kind: EventKind
    op: Op | None
    key: Mapping[str, Any] | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    source: SourceInfo | None
    ts_ms: int | None  # when Debezium processed the event
    transaction: Mapping[str, Any] | None  # {"id", "total_order", "data_collection_order"}
    version: int


class OutputRecord(NamedTuple):
    """One record a topology emits, ready to encode and to hand to sinks.

    ``value`` is the output row (column -> Python value). For a delete, ``deleted`` is True and
    ``value`` is the transformed before-image when Debezium sent one, else just the key columns.
    ``unchanged`` names columns whose value is ``UNCHANGED``: sinks keep what they have stored.
    """

    topology: str
    key: tuple[Any, ...]  # values of the topology's key columns, in declared order
    value: dict[str, Any]
    version: int
    op: Op
    deleted: bool
    unchanged: frozenset[str]
    source_ts_ms: int | None
