"""The Decoder: raw Kafka key/value bytes of a Debezium change topic -> one ChangeEvent."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from streamapp.decode import mongo
from streamapp.decode.avro import AvroPlan, SchemaResolver
from streamapp.decode.declared import NOTHING, RowFit, fit_row
from streamapp.decode.drift import DriftGuard, SchemaDriftError, SchemaEvolution, Verdict
from streamapp.decode.envelope import classify, make_event
from streamapp.decode.hints import hint_converter
from streamapp.decode.jsonfmt import Hints, JsonFormat, NotJson, hint_row
from streamapp.decode.limits import MAX_JSON_DEPTH
from streamapp.decode.modes import HandlingModes
from streamapp.decode.writers import WriterPlans
from streamapp.errors import ConfigError, DecodeBug, DecodeError, RegistryError
from streamapp.records import UNCHANGED, ChangeEvent, EventKind, Op
from streamapp.types import FieldType


class Decoder:
    """Decodes one record of a Debezium change topic; stateless apart from caches.

    Format is detected per message: a None value is a tombstone; a Confluent wire-format
    message (magic byte 0) is Avro read with the writer schema from ``resolver`` (one compiled
    reader per schema id, cached here); a message starting with ``{`` is JSON, with a Connect
    schema (``{"schema", "payload"}``) or schemaless. Keys are decoded the same way into a
    mapping column -> value; a key that is not a record becomes ``{"key": value}``.

    ``hints`` (the topology's declared source column types) type values that arrive without a
    schema (schemaless JSON rows and keys, MongoDB documents; see ``decode.hints``), and a
    value whose schema says another type is converted to the declared one when that is exact,
    else refused (see ``decode.declared``). ``handling`` holds the connector's handling modes
    (Debezium property names, e.g. ``{"decimal.handling.mode": "string"}``; Debezium's
    defaults when omitted; see ``decode.modes``): how it wrote those values.
    A Connect JSON value is checked against its schema (``decode.jsoncheck``).

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

    ``strict_versions`` (the worker) refuses a PostgreSQL/MySQL/MongoDB data event without
    its log position (``version.MissingPosition``); without it (the default, for library use
    and ``topology test``) such an event gets the ts_ms/offset fallback version and
    ``version.version_note(event)`` says so.

    ``decode`` takes the key and value as bytes, JSON text or parsed JSON (a dict), and raises
    DecodeError for every input it cannot read, with topic, partition and offset in the
    message and never a record value; a failure inside streamapp itself is a DecodeBug (a
    DecodeError subclass: the record still goes to the DLQ). A schema id the registry does not know
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
        handling: Mapping[str, str] | HandlingModes | None = None,
        needs_before: bool = True,
        drift: DriftGuard | None = None,
        strict_versions: bool = False,
    ) -> None:
        if isinstance(handling, HandlingModes):
            modes = handling
        else:
            try:
                modes = HandlingModes.parse(handling)
            except ValueError as exc:
                raise ConfigError(f"Decoder handling modes: {exc}") from None
        self.modes = modes
        self._strict = strict_versions
        self._hints: dict[str, FieldType] = dict(hints or {})
        self._row_hints = _hint_converters(self._hints, modes, documents=False)
        self._doc_hints = _hint_converters(self._hints, modes, documents=True)
        self._fits: dict[int, RowFit] = {}  # by writer schema id (JSON plans carry their own)
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
        key: bytes | str | Mapping[str, Any] | None,
        value: bytes | str | Mapping[str, Any] | None,
        *,
        topic: str = "",
        partition: int = 0,
        offset: int = 0,
    ) -> ChangeEvent:
        """Decode one Kafka record into a ChangeEvent (see the class docstring).

        ``topic`` only matters for heartbeat topics (``__debezium-heartbeat.*``), MongoDB
        tombstone keys and error messages; the worker always passes it."""
        if type(value) is not bytes and value is not None:
            value = _as_bytes(value)
        if type(key) is not bytes and key is not None:
            key = _as_bytes(key)
        try:
            return self._decode(key, value, topic, offset)
        except DecodeError as exc:
            raise type(exc)(
                f"topic {topic!r} partition {partition} offset {offset}: {exc}", field=exc.field
            ) from None
        except (RegistryError, SchemaEvolution):
            raise
        except RecursionError:  # a JSON text parsed without limits.check_json_depth
            raise DecodeError(
                f"topic {topic!r} partition {partition} offset {offset}: a value nests too "
                f"deeply to decode (JSON is limited to {MAX_JSON_DEPTH} levels, "
                "MAX_JSON_DEPTH); the message is corrupt or hostile"
            ) from None
        except Exception as exc:  # noqa: BLE001 - the contract: bad input only ever gives DecodeError
            raise DecodeBug(
                f"topic {topic!r} partition {partition} offset {offset}: unexpected "
                f"{type(exc).__name__} while decoding; the original record is in the DLQ, "
                "report it to the streamapp maintainers"
            ) from None

    def decode_key(self, data: bytes) -> Mapping[str, Any] | None:
        """A message key serialized like the topic's keys (Avro wire format or JSON), e.g.
        the ``__debezium.oldkey`` header of a primary-key update; None when it cannot be
        read (callers treat the old key as unknown). Its schema must be cached (prefetched)
        or resolvable."""
        try:
            return self._key(data, False)
        except Exception:  # noqa: BLE001 - best effort: an unreadable old key is just unknown
            return None

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
                if checked is not None and self._hints:
                    fit = self._fit(checked, plan)
                    if fit is not NOTHING:
                        fit.apply(before, "before")
                        fit.apply(after, "after")
            if self._lazy_before and op is not Op.DELETE:
                before = None
        source = plan.source_info(raw_source) if plan is not None else None
        return make_event(kind, op, payload, key_map, before, after, offset, source, self._strict)

    def _fit(self, checked: Any, plan: AvroPlan | None) -> RowFit:
        """The cached RowFit of this event's writer schema (``decode.declared``)."""
        if plan is None:
            fit: RowFit | None = checked.fit
            if fit is None:
                fit = checked.fit = fit_row(
                    checked.row, self._hints, self.modes, "the message's Connect schema"
                )
            return fit
        fit = self._fits.get(plan.schema_id)
        if fit is None:
            where = f"writer schema id {plan.schema_id}"
            fit = self._fits[plan.schema_id] = fit_row(plan.row, self._hints, self.modes, where)
        return fit

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


def _as_bytes(part: str | Mapping[str, Any] | Any) -> bytes:
    """A key or value given as JSON text or parsed JSON -> the message bytes."""
    if isinstance(part, str):
        return part.encode()
    if isinstance(part, (bytearray, memoryview)):
        return bytes(part)
    return json.dumps(part).encode()


def _hint_converters(
    hints: Mapping[str, FieldType], modes: HandlingModes, *, documents: bool
) -> Hints:
    converters: dict[str, Any] = {}
    for name, ftype in hints.items():
        conv = hint_converter(ftype, modes=modes, documents=documents)
        if conv is not None:
            converters[name] = (conv, str(ftype))
    return converters
