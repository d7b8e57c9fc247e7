"""Source schema drift: a writer schema's row compared once with a topology's declared columns.

Debezium registers a new writer schema version whenever the source table changes (ADD/DROP/
RENAME COLUMN, a type change). The Decoder asks a :class:`DriftGuard` about every writer schema
once (the verdict is cached on the compiled plan, so the hot path pays nothing) and acts on it:

- a declared column the writer no longer has (dropped, or renamed at the source): with
  ``missing_columns="dlq"`` (default) every data event of that schema raises SchemaDriftError
  and goes to the DLQ with a message saying what to change; with ``"null"`` it reads as NULL
  (warned once per schema). A missing key column is always an error.
- a column whose type changed to another family (e.g. int -> text): SchemaDriftError.
  A widening within a family (int4 -> int8, numeric(12,2) -> numeric(14,2)) passes; when the
  writer is wider than the declaration it is warned once, and values that do not fit the
  declared type are refused per record by the encoder or sink (DLQ, column named).
- a column the topology does not declare (ADD COLUMN): with ``new_columns="ignore"`` (default)
  it is not carried, warned once per schema; with ``"propagate"`` the Decoder raises
  :class:`SchemaEvolution` so the pipeline can add it (output schema, sink tables) before the
  event is processed, then calls :meth:`DriftGuard.accept`.
- a propagated column (accepted while running) the writer does not have: history, not a
  drop. Events of the older writer schema are still in flight on other partitions after the
  first event of the new one brought the column; they say nothing about it, so the Decoder
  sets it to UNCHANGED (``Verdict.unchanged``) and every sink keeps what it has stored. A later
  schema that dropped the column is treated alike: it is no longer carried, as after a restart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from streamapp.decode.schema import SType
from streamapp.errors import DecodeError

if TYPE_CHECKING:
    from streamapp.transform.spec import MissingColumns, NewColumns
from streamapp.types import FieldType, Kind

log = logging.getLogger("streamapp.drift")


_T: Final = "io.debezium.time."
_D: Final = "io.debezium.data."
_C: Final = "org.apache.kafka.connect.data."
_SEMANTIC_KINDS: Final = {
    _T + "Date": Kind.DATE,
    _C + "Date": Kind.DATE,
    "avro:date": Kind.DATE,
    _T + "Time": Kind.TIME,
    _T + "MicroTime": Kind.TIME,
    _T + "NanoTime": Kind.TIME,
    _T + "ZonedTime": Kind.TIME,
    _T + "IsoTime": Kind.TIME,
    _T + "IsoDate": Kind.DATE,
    _T + "IsoTimestamp": Kind.TIMESTAMP,
    _C + "Time": Kind.TIME,
    "avro:time-millis": Kind.TIME,
    "avro:time-micros": Kind.TIME,
    _T + "Timestamp": Kind.TIMESTAMP,
    _T + "MicroTimestamp": Kind.TIMESTAMP,
    _T + "NanoTimestamp": Kind.TIMESTAMP,
    _C + "Timestamp": Kind.TIMESTAMP,
    "avro:local-timestamp-millis": Kind.TIMESTAMP,
    "avro:local-timestamp-micros": Kind.TIMESTAMP,
    "avro:local-timestamp-nanos": Kind.TIMESTAMP,
    _T + "ZonedTimestamp": Kind.TIMESTAMPTZ,
    "avro:timestamp-millis": Kind.TIMESTAMPTZ,
    "avro:timestamp-micros": Kind.TIMESTAMPTZ,
    "avro:timestamp-nanos": Kind.TIMESTAMPTZ,
    _T + "MicroDuration": Kind.DURATION,
    _D + "Json": Kind.JSON,
    _D + "EnumSet": Kind.JSON,
    _D + "geometry.Geometry": Kind.JSON,
    _D + "geometry.Geography": Kind.JSON,
    _D + "geometry.Point": Kind.JSON,
    _D + "Uuid": Kind.UUID,
    "avro:uuid": Kind.UUID,
    _D + "Enum": Kind.STRING,
    _D + "Xml": Kind.STRING,
    _D + "Bits": Kind.BYTES,
}
_PHYSICAL_KINDS: Final = {
    "boolean": Kind.BOOL,
    "int": Kind.INT,
    "long": Kind.INT,
    "float": Kind.FLOAT,
    "double": Kind.FLOAT,
    "string": Kind.STRING,
    "enum": Kind.STRING,
    "bytes": Kind.BYTES,
    "fixed": Kind.BYTES,
    "struct": Kind.JSON,
    "array": Kind.JSON,
    "map": Kind.JSON,
}
# Kinds a declared column accepts from the writer without a schema-level refusal.
_ACCEPTS: Final = {
    Kind.INT: frozenset({Kind.INT}),
    Kind.FLOAT: frozenset({Kind.FLOAT, Kind.INT, Kind.DECIMAL}),
    # decimal.handling.mode=string|double writes decimals as text or doubles
    Kind.DECIMAL: frozenset({Kind.DECIMAL, Kind.INT, Kind.STRING, Kind.FLOAT}),
    Kind.STRING: frozenset({Kind.STRING, Kind.UUID, Kind.JSON}),
    Kind.UUID: frozenset({Kind.UUID, Kind.STRING}),
    Kind.TIMESTAMP: frozenset({Kind.TIMESTAMP, Kind.TIMESTAMPTZ}),
    Kind.TIMESTAMPTZ: frozenset({Kind.TIMESTAMPTZ, Kind.TIMESTAMP}),
    Kind.JSON: frozenset({Kind.JSON, Kind.STRING}),
    # converted exactly per value by decode.declared (MySQL BOOLEAN is int16; binary and
    # interval handling modes write text)
    Kind.BOOL: frozenset({Kind.BOOL, Kind.INT}),
    Kind.BYTES: frozenset({Kind.BYTES, Kind.STRING}),
    Kind.DURATION: frozenset({Kind.DURATION, Kind.STRING}),
}
_NESTED: Final = frozenset({Kind.JSON, Kind.RECORD, Kind.ARRAY, Kind.MAP})


def writer_type(st: SType) -> FieldType | None:
    """The declared-column type a writer column maps to; None when it cannot be told."""
    if st.semantic == _C + "Decimal" or st.semantic == "avro:decimal":
        scale = _int(st.param("scale"))
        precision = _int(st.param("connect.decimal.precision")) or _int(st.param("precision"))
        if scale is None or precision is None or scale > precision:
            return FieldType(Kind.DECIMAL, precision=38, scale=scale if scale is not None else 9)
        return FieldType(Kind.DECIMAL, precision=precision, scale=scale)
    if st.semantic == _D + "VariableScaleDecimal":
        return FieldType(Kind.DECIMAL, precision=38, scale=9)
    kind = _SEMANTIC_KINDS.get(st.semantic or "") or _PHYSICAL_KINDS.get(st.kind)
    return FieldType(kind) if kind is not None else None


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def type_change(declared: FieldType, writer: FieldType) -> str | None:
    """Why ``writer`` cannot feed a column declared ``declared``; None when it can."""
    if declared.kind in _NESTED:
        ok = writer.kind in _NESTED or writer.kind is Kind.STRING
    else:
        ok = writer.kind in _ACCEPTS.get(declared.kind, frozenset({declared.kind}))
    if not ok:
        return f"the writer now has {writer} but the topology declares {declared}"
    return None


def widening(declared: FieldType, writer: FieldType) -> str | None:
    """A warning when the writer's values may exceed the declared type; None otherwise."""
    if declared.kind is Kind.DECIMAL and writer.kind is Kind.DECIMAL:
        dp, ds = declared.precision or 0, declared.scale or 0
        wp, ws = writer.precision or 0, writer.scale or 0
        if ws > ds or wp - ws > dp - ds:
            return f"writer {writer} is wider than the declared {declared}"
    if declared.kind is Kind.DECIMAL and writer.kind is Kind.INT:
        return f"writer {writer} may exceed the declared {declared}"
    return None


class SchemaDriftError(DecodeError):
    """Every data event of a writer schema that no longer fits the topology's declaration."""


class SchemaEvolution(Exception):
    """The writer has columns to propagate; the pipeline adds them, then calls ``accept``."""

    def __init__(self, added: Mapping[str, FieldType], where: str) -> None:
        super().__init__(f"{where}: new column(s) {', '.join(added)}")
        self.added = dict(added)
        self.where = where


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with every data event of one writer schema (``generation`` of the guard).

    ``unchanged`` names propagated columns the writer schema lacks: its rows carry them as
    UNCHANGED (sinks keep the stored value).
    """

    generation: int
    error: str | None = None
    added: tuple[tuple[str, FieldType], ...] = ()
    unchanged: tuple[str, ...] = ()


class DriftGuard:
    """Compares writer rows with ``declared`` columns under one topology's policies."""

    def __init__(
        self,
        topology: str,
        declared: Mapping[str, FieldType],
        *,
        key_columns: Iterable[str] = (),
        new_columns: NewColumns = "ignore",
        missing_columns: MissingColumns = "dlq",
        module: str | None = None,
    ) -> None:
        self.topology = topology
        self.declared = dict(declared)
        self.key_columns = frozenset(key_columns)
        self.new_columns = new_columns
        self.missing_columns = missing_columns
        self.module = module or f"topology {topology!r}"
        self.generation = 0
        self.refused: dict[str, str] = {}
        self.propagated: set[str] = set()

    def refuse(self, added: Mapping[str, FieldType], reason: str) -> None:
        """``added`` cannot be propagated: events that bring them fail with ``reason``."""
        self.refused.update(dict.fromkeys(added, reason))
        self.generation += 1

    def accept(self, added: Mapping[str, FieldType]) -> None:
        """The pipeline now carries ``added``: later verdicts treat them as declared, except
        that a writer schema without them is history (see ``Verdict.unchanged``)."""
        self.declared.update(added)
        self.propagated.update(added)
        self.generation += 1

    def judge(self, row: SType | None, where: str) -> Verdict:
        """The verdict for writer row type ``row`` (a struct) seen in ``where`` (e.g. schema id).

        Logs its warnings here, once per writer schema; never raises.
        """
        if row is None or row.kind != "struct":
            return Verdict(self.generation)
        fields = dict(row.fields)
        fix = f"then `streamapp dlq replay {self.topology}`"
        absent = [n for n in self.declared if n not in fields]
        history = tuple(n for n in absent if n in self.propagated)
        missing = [n for n in absent if n not in self.propagated]
        missing_keys = [n for n in missing if n in self.key_columns]
        if missing_keys or (missing and self.missing_columns == "dlq"):
            names = ", ".join(repr(n) for n in (missing_keys or missing))
            return Verdict(
                self.generation,
                error=f"{where}: declared source column(s) {names} are no longer in the "
                "writer schema (dropped or renamed at the source); remove them from "
                f"Source.columns of {self.module} or map the new name, {fix}",
            )
        if missing:
            log.warning(
                "%s: declared source column(s) %s are no longer in the writer schema; "
                "they read as NULL (missing_columns='null')",
                where,
                ", ".join(missing),
                extra={"topology": self.topology},
            )
        for name, declared in self.declared.items():
            st = fields.get(name)
            writer = writer_type(st) if st is not None else None
            if writer is None:
                continue
            change = type_change(declared, writer)
            if change is not None:
                return Verdict(
                    self.generation,
                    error=f"{where}: source column {name!r} changed type: {change}; declare "
                    f"the new type in Source.columns of {self.module} (and the output "
                    f".avsc), or cast it, {fix}",
                )
            wide = widening(declared, writer)
            if wide is not None:
                log.warning(
                    "%s: column %r: %s; values that do not fit go to the DLQ: widen the "
                    "declaration (and the output .avsc)",
                    where,
                    name,
                    wide,
                    extra={"topology": self.topology},
                )
        if history:
            log.info(
                "%s: propagated column(s) %s are not in this writer schema (an older one still "
                "in flight, or dropped at the source): its events leave them as stored",
                where,
                ", ".join(history),
                extra={"topology": self.topology},
            )
        verdict = self._added(fields, where)
        return replace(verdict, unchanged=history) if history else verdict

    def _added(self, fields: Mapping[str, SType], where: str) -> Verdict:
        added: list[tuple[str, FieldType]] = []
        unknown: list[str] = []
        for name, st in fields.items():
            if name in self.declared:
                continue
            writer = writer_type(st)
            if writer is None:
                unknown.append(name)
            else:
                added.append((name, writer))
        if not added and not unknown:
            return Verdict(self.generation)
        if self.new_columns == "propagate" and added:
            refused = [self.refused[n] for n, _ in added if n in self.refused]
            if refused:
                return Verdict(self.generation, error=refused[0])
            if unknown:
                log.warning("%s: new column(s) %s have no known type; not carried", where, unknown)
            return Verdict(self.generation, added=tuple(added))
        log.warning(
            "%s: source column(s) %s are not declared by topology %r and are not carried; "
            "declare them in Source.columns, or set Source(new_columns='propagate')",
            where,
            ", ".join([n for n, _ in added] + unknown),
            self.topology,
            extra={"topology": self.topology},
        )
        return Verdict(self.generation)
