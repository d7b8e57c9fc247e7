"""The declarations a topology module writes: Topology, Source, Output and the sink targets.

These are plain frozen dataclasses: constructing them never fails and never does I/O, so a
module always imports; every check (types, names, secrets, schemas) happens when the loader
compiles the topology and is reported as one line per problem (see ``transform.compile``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, TypeAlias

from streamapp.decode.modes import HandlingModes
from streamapp.types import TypeSpec

if TYPE_CHECKING:
    from streamapp.transform.chain import Chain

OnError: TypeAlias = Literal["dlq", "fail"]
OnGap: TypeAlias = Literal["snapshot", "fail", "ignore"]
RedisFormat: TypeAlias = Literal["json", "hash"]
NewColumns: TypeAlias = Literal["ignore", "propagate"]
MissingColumns: TypeAlias = Literal["dlq", "null"]


class Transform(Protocol):
    """One step of a topology's chain, as the user wrote it.

    ``describe()`` renders the call as written (``cast(vip='int')``) for problem lines.
    ``compile(chain)`` checks the step against the columns the chain has at that point and
    either emits the runtime code for it and updates the columns, or adds problems and leaves
    the columns as they were. It never raises for a user mistake.
    """

    def describe(self) -> str: ...

    def compile(self, chain: Chain) -> None: ...


@dataclass(frozen=True, slots=True)
class Source:
    """The change topic a topology reads and the columns of its rows, in source order.

    ``columns`` maps column name to a type spec (see ``streamapp.types``). Schema drift at
    the source (see README "Schema drift"): a column the writer schema has but ``columns``
    does not name is not carried and warned about (``new_columns="ignore"``), or added to the
    output, its schema and the sink tables while running (``"propagate"``); a declared column
    the writer schema no longer has sends the events to the DLQ (``missing_columns="dlq"``)
    or reads as NULL (``"null"``); a key column is never optional.

    ``handling`` holds the Debezium handling modes the connector runs with, by their property
    names (``{"decimal.handling.mode": "string", "time.precision.mode": "connect"}``); omitted
    ones are Debezium's defaults (see ``streamapp.decode.modes``). They say how values without
    a schema are written and how a value of another type converts to its declared column;
    ``streamapp topology validate --connect`` compares them with the running connector.
    """

    topic: str
    columns: Mapping[str, TypeSpec]
    new_columns: NewColumns = "ignore"
    missing_columns: MissingColumns = "dlq"
    handling: Mapping[str, str] | None = None

    def handling_modes(self) -> HandlingModes:
        """The parsed ``handling``; ValueError names each unknown property or value."""
        if self.handling is not None and not isinstance(self.handling, Mapping):
            raise ValueError("handling must be a dict of Debezium property -> value")
        return HandlingModes.parse(self.handling)


@dataclass(frozen=True, slots=True)
class Output:
    """The output topic and its value schema: a file in ``schemas/``, or None to derive it.

    ``name``/``namespace`` name the derived Avro record (default: the topology name).
    """

    topic: str
    schema: str | None = None
    name: str | None = None
    namespace: str = "streamapp"


@dataclass(frozen=True, slots=True)
class ClickHouseSink:
    """Upsert output records into a ClickHouse table (versioned, so replays converge)."""

    table: str
    kind: ClassVar[str] = "clickhouse"

    def __str__(self) -> str:
        return f"clickhouse:{self.table}"


@dataclass(frozen=True, slots=True)
class PostgresSink:
    """Upsert output records into ``schema.table`` in PostgreSQL, keyed by the key columns."""

    table: str
    schema: str = "public"
    kind: ClassVar[str] = "postgres"

    def __str__(self) -> str:
        return f"postgres:{self.schema}.{self.table}"


@dataclass(frozen=True, slots=True)
class RedisSink:
    """Store each output row under a key rendered from ``key_template`` (``"customer:{id}"``).

    ``format`` is ``"json"`` (one JSON string) or ``"hash"`` (one Redis hash field per column).
    """

    key_template: str
    ttl_seconds: int | None = None
    format: RedisFormat = "json"
    kind: ClassVar[str] = "redis"

    def __str__(self) -> str:
        return f"redis:{self.key_template}"


@dataclass(frozen=True, slots=True)
class OpenSearchSink:
    """Keep one document per key in the OpenSearch index ``index``, its ``_id`` rendered from
    ``id`` (a template naming every key column, e.g. ``"{id}"``; None: the key columns joined
    by ``:``), versioned so replays converge. The mapping comes from the output columns."""

    index: str
    id: str | None = None
    kind: ClassVar[str] = "opensearch"

    def __str__(self) -> str:
        return f"opensearch:{self.index}"


@dataclass(frozen=True, slots=True)
class IcebergSink:
    """Upsert output records into the Iceberg table ``namespace.table`` (versioned, tombstones)."""

    table: str
    kind: ClassVar[str] = "iceberg"

    def __str__(self) -> str:
        return f"iceberg:{self.table}"


SinkSpec: TypeAlias = ClickHouseSink | PostgresSink | RedisSink | OpenSearchSink | IcebergSink


class Sink:
    """Factories for sink targets; the sinks themselves live in ``streamapp.sinks``."""

    @staticmethod
    def clickhouse(table: str) -> ClickHouseSink:
        """A ClickHouse table target."""
        return ClickHouseSink(table)

    @staticmethod
    def postgres(table: str, schema: str = "public") -> PostgresSink:
        """A PostgreSQL table target (``schema.table``)."""
        return PostgresSink(table, schema)

    @staticmethod
    def iceberg(table: str) -> IcebergSink:
        """An Apache Iceberg table target, ``"namespace.table"`` in the configured catalog."""
        return IcebergSink(table)

    @staticmethod
    def redis(
        key_template: str, ttl_seconds: int | None = None, format: RedisFormat = "json"
    ) -> RedisSink:
        """A Redis target; ``key_template`` may only name output columns, e.g. ``"order:{id}"``."""
        return RedisSink(key_template, ttl_seconds, format)

    @staticmethod
    def opensearch(index: str, id: str | None = None) -> OpenSearchSink:
        """An OpenSearch index target; ``id`` may only name key columns, e.g. ``"{id}"``."""
        return OpenSearchSink(index, id)


@dataclass(frozen=True, slots=True)
class Topology:
    """How one change topic becomes output records: source, key, transforms, output, sinks.

    ``key`` names output columns (after renames). ``dlq`` defaults to ``"<source topic>.dlq"``.
    ``on_error="dlq"`` routes per-record failures to the DLQ; ``"fail"`` stops the worker.
    ``on_gap`` says what a worker does when events of the source topic were deleted by
    retention before it consumed them (see README "Self-healing"): ``"snapshot"`` (default)
    re-reads the table through a Debezium incremental snapshot, ``"fail"`` stops the worker,
    ``"ignore"`` only records the gap.
    ``materialize=True`` keeps the topology's output rows in a table (see ``streamapp.state``)
    even when no lookup names it; a materialised topology fills the unchanged (TOASTed) columns
    of a primary-key update from the row's last image under its old key.
    Sequences are stored as tuples, so a Topology is immutable once built.
    """

    name: str
    source: Source
    key: str | Sequence[str]
    transforms: Sequence[Transform] = ()
    output: Output | None = None
    sinks: Sequence[SinkSpec] = ()
    dlq: str | None = None
    on_error: OnError = "dlq"
    materialize: bool = False
    on_gap: OnGap = "snapshot"
    key_columns: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = (self.key,) if isinstance(self.key, str) else tuple(self.key)
        object.__setattr__(self, "key", keys)
        object.__setattr__(self, "key_columns", keys)
        object.__setattr__(self, "transforms", tuple(self.transforms))
        object.__setattr__(self, "sinks", tuple(self.sinks))

    @property
    def output_topic(self) -> str | None:
        """The declared output topic, or None when no Output was given: the topology then
        produces no topic and skips Avro encoding (its sinks are its only destinations)."""
        return self.output.topic if self.output is not None else None

    @property
    def dlq_topic(self) -> str:
        """The dead-letter topic: the declared one or ``"<source topic>.dlq"``."""
        return self.dlq if self.dlq is not None else f"{self.source.topic}.dlq"
