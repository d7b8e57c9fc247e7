"""The Decoder: raw Kafka key/value bytes of a Debezium change topic -> one ChangeEvent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from streamapp.decode import mongo
from streamapp.decode.avro import AvroPlan, SchemaResolver
from streamapp.decode.drift import DriftGuard, SchemaDriftError, SchemaEvolution, Verdict
from streamapp.decode.envelope import classify, make_event
from streamapp.decode.hints import DECIMAL_MODES, TIME_MODES, hint_converter
from streamapp.decode.jsonfmt import Hints, JsonFormat, NotJson, hint_row
from streamapp.decode.writers import WriterPlans
from streamapp.errors import ConfigError, DecodeError, RegistryError
from streamapp.records import UNCHANGED, ChangeEvent, EventKind, Op
from streamapp.types import FieldType


class Decoder:
    """Decodes one record of a Debezium change topic; stateless apart from caches.

    Format is detected per message: a None value is a tombstone; a Confluent wire-format
    message (magic byte 0) is Avro read with the writer schema from ``resolver`` (one compiled
    reader per schema id, cached here); a message starting with ``{`` is JSON, with a Connect
    schema (``{"schema", "payload"}``) or schemaless. Keys are decoded the same way into a
    mapping column -> value; a key that is not a record becomes ``{"key": value}``.

    ``hints`` (the topology's declared source column types) only type values that arrive
    without a schema: schemaless JSON rows and keys, and MongoDB documents; ``decimal_handling``
    and ``time_precision`` say how the connector wrote those values (see ``decode.hints``).

    ``needs_before=False`` says the caller never reads the before-image of a create, update
    or read event: such events then have ``before`` None, and an Avro reader skips the
    ``before`` bytes without building or converting values (about a quarter of the decode
    time of a 20-column update), JSON rows are not converted. The before-image of a delete is
    always decoded, and everything else is the same as with True (a value in a skipped
    before-image that cannot be converted is then no error: it is never converted).

    ``drift`` checks every writer schema of a change envelope once against the topology's
    declared columns (see ``decode.drift``): a data event whose schema no longer fits raises
    SchemaDriftError (a DecodeError); one whose schema brings columns to propagate raises
    SchemaEvolution, every time, until the caller has added them and called ``drift.accept``;
    a propagated column its schema lacks (an older schema still in flight) reads as UNCHANGED.

    ``decode`` raises DecodeError for every input it cannot read, with topic, partition and
    offset in the message and never a record value. A schema id the registry does not know
    (remembered 60 s) or whose schema is not Avro (remembered) is a DecodeError of each record
    that carries it. ``RegistryError`` from the resolver propagates unchanged: an unreachable
    registry is not a bad record (RegistryUnavailableError: ``retriable``, hold the batch).

    ``await prefetch(records)`` resolves the writer schemas of a batch off the event loop
    (one worker thread); ``decode`` of those records then makes no registry call. See
    ``decode.writers.WriterPlans``.
    """

    def __init__(
        self,
        *,
        resolver: SchemaResolver | None = None,
        hints: Mapping[str, FieldType] | None = None,
        decimal_handling: str = "precise",
        time_precision: str = "adaptive",
        needs_before: bool = True,
        drift: DriftGuard | None = None,
    ) -> None:
        if decimal_handling not in DECIMAL_MODES:
            raise ConfigError(
                f"decimal_handling {decimal_handling!r} is not one of {', '.join(DECIMAL_MODES)}"
            )
        if time_precision not in TIME_MODES:
            raise ConfigError(
                f"time_precision {time_precision!r} is not one of {', '.join(TIME_MODES)}"
            )
        self._hints: dict[str, FieldType] = dict(hints or {})
        modes = {"decimal_handling": decimal_handling, "time_precision": time_precision}
        self._row_hints = _hint_converters(self._hints, documents=False, **modes)
        self._doc_hints = _hint_converters(self._hints, documents=True, **modes)
        self._lazy_before = not needs_before
        self._json = JsonFormat(self._row_hints, lazy_before=self._lazy_before)
        self._writers = WriterPlans(resolver, lazy_before=self._lazy_before)
        self._mongo_topics: set[str] = set()
        self.drift = drift

    async def prefetch(self, records: Sequence[Any]) -> None:
        """Resolve, in one worker thread, the writer schemas of ``records`` (aiokafka
        ConsumerRecords: ``.key``/``.value``) that are not cached yet. Raises RegistryError
        (RegistryUnavailableError when transient) when the registry cannot answer."""
        await self._writers.prefetch(records)

    def decode(
        self,
        key: bytes | None,
        value: bytes | None,
        *,
        topic: str,
        partition: int = 0,
        offset: int = 0,
    ) -> ChangeEvent:
        """Decode one Kafka record into a ChangeEvent (see the class docstring)."""
        try:
            return self._decode(key, value, topic, offset)
        except DecodeError as exc:
            raise type(exc)(
                f"topic {topic!r} partition {partition} offset {offset}: {exc}", field=exc.field
            ) from None
        except (RegistryError, SchemaEvolution):
            raise
        except Exception as exc:  # noqa: BLE001 - the contract: bad input only ever gives DecodeError
            raise DecodeError(
                f"topic {topic!r} partition {partition} offset {offset}: unexpected "
                f"{type(exc).__name__} while decoding; the original record is in the DLQ, "
                "report it to the streamapp maintainers"
            ) from None

    def _decode(
        self, key: bytes | None, value: bytes | None, topic: str, offset: int
    ) -> ChangeEvent:
        plan: AvroPlan | None = None
        checked: Any = None  # the plan whose drift verdict applies
        if value is None:
            payload, shape = None, "tombstone"
        elif value[:1] == b"\x00":
            plan = checked = self._writers.plan(value)
            payload, shape = plan.decode(value), plan.shape
        else:
            payload, shape = self._value(value)
            checked = self._json.last_plan
        if payload is None:
            strict = topic in self._mongo_topics
            return make_event(
                EventKind.TOMBSTONE, None, None, self._key(key, strict), None, None, offset
            )
        kind, op = classify(payload, topic)
        if not isinstance(payload, dict):  # only on a heartbeat topic: any value is a heartbeat
            payload = {}
        raw_source = payload.get("source")
        is_mongo = shape == "mongo" or (
            isinstance(raw_source, dict) and raw_source.get("connector") == "mongodb"
        )
        if is_mongo:
            self._mongo_topics.add(topic)
        key_map = self._key(key, is_mongo)
        before = after = None
        if kind is EventKind.DATA:
            if is_mongo:  # documents as extended-JSON text, or a bare update description
                before, after = mongo.rows(payload, key_map, self._hints)
                before = hint_row(before, self._doc_hints, "before")
                after = hint_row(after, self._doc_hints, "after")
            else:
                before, after = payload.get("before"), payload.get("after")
                if self.drift is not None and checked is not None:
                    for name in self._check_drift(checked, plan):  # history: keep the stored
                        for row in (before, after):
                            if row is not None:
                                row[name] = UNCHANGED
            if self._lazy_before and op is not Op.DELETE:
                before = None
        source = plan.source_info(raw_source) if plan is not None else None
        return make_event(kind, op, payload, key_map, before, after, offset, source)

    def _check_drift(self, checked: Any, plan: AvroPlan | None) -> tuple[str, ...]:
        """Act on the (cached) drift verdict of this event's writer schema; returns the
        propagated columns it lacks (the event carries them as UNCHANGED)."""
        guard = self.drift
        assert guard is not None
        verdict: Verdict | None = checked.verdict
        where = f"writer schema id {plan.schema_id}" if plan else "the message's Connect schema"
        if verdict is None or verdict.generation != guard.generation:
            verdict = checked.verdict = guard.judge(checked.row, where)
        if verdict.error is not None:
            raise SchemaDriftError(verdict.error)
        if verdict.added:
            raise SchemaEvolution(dict(verdict.added), where)
        return verdict.unchanged

    def _value(self, value: bytes) -> tuple[Any, str]:
        """A value that is not Avro: JSON, or an error saying what it is."""
        if value[:1] == b"{" or value.lstrip()[:1] == b"{":
            return self._json.value(value)
        if not value:
            raise DecodeError("value is empty (0 bytes); a tombstone must be a null value")
        raise DecodeError(
            f"value starts with byte {value[0]:#04x}: neither the Confluent Avro wire format "
            "(0x00) nor a JSON object ('{'); check the connector's value.converter"
        )

    def _key(self, key: bytes | None, mongo_strict: bool) -> Mapping[str, Any] | None:
        if key is None:
            return None
        if key[:1] == b"\x00":
            decoded = self._writers.plan(key).decode(key)
        else:
            try:
                decoded = self._json.key(key)
            except NotJson:
                raise DecodeError(
                    "key is neither the Confluent Avro wire format nor JSON; "
                    "check the connector's key.converter"
                ) from None
        result: Mapping[str, Any] | None = (
            decoded if isinstance(decoded, dict) else {"key": decoded}
        )
        return mongo.document_key(result, strict=mongo_strict)


def _hint_converters(
    hints: Mapping[str, FieldType], *, decimal_handling: str, time_precision: str, documents: bool
) -> Hints:
    converters: dict[str, Any] = {}
    for name, ftype in hints.items():
        conv = hint_converter(
            ftype,
            decimal_handling=decimal_handling,
            time_precision=time_precision,
            documents=documents,
        )
        if conv is not None:
            converters[name] = (conv, str(ftype))
    return converters
