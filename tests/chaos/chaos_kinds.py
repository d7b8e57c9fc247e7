"""The poison kinds of the chaos run: each one a valid event with exactly one thing broken.

Groups: the wire format (garbage, empty, wrong magic byte, truncation, trailing bytes), the
registry (unknown id, unusable schema, the key's schema on a value), the Avro encoding (union
branch, negative and huge lengths, invalid UTF-8, lone surrogates), the message key, the
Debezium envelope (unknown op, a create or update without after, a delete without any key),
each semantic type out of range (Date, MicroTimestamp, ZonedTimestamp, Decimal, Json, the LSN
the version is made of), deep nesting, NUL bytes (``content.*``: only PostgreSQL refuses those),
and JSON messages (syntax, not an envelope, wrong types, a missing key column, out of range).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

from chaos_poison import MARK, Kind, Maker, PoisonFactory, frame, unscaled, varint

Edit = Callable[[bytes], bytes]


def tamper(edit: Edit) -> Maker:
    """A valid Avro event whose value bytes ``edit`` corrupts."""

    def make(f: PoisonFactory, table: str, key: int) -> tuple[bytes | None, bytes | None]:
        return f.avro_key(table, key), edit(f.avro_value(table, f.envelope(table, key)))

    return make


def at_mark(new: bytes) -> Edit:
    """Replace the length-prefixed MARK string (the ``notes`` column) with ``new``."""
    return lambda v: v.replace(varint(len(MARK)) + MARK.encode(), new, 1)


def avro(
    cols: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
    key: Any = ...,
    **envelope: Any,
) -> Maker:
    """A valid Avro event with after-image ``cols``, ``source`` fields or ``envelope`` fields
    changed; ``key`` replaces the Kafka key bytes (None: no key)."""

    def make(f: PoisonFactory, table: str, ident: int) -> tuple[bytes | None, bytes | None]:
        env = f.envelope(table, ident)
        env["after"].update(cols or {})
        env["source"].update(source or {})
        env.update(envelope)
        return (f.avro_key(table, ident) if key is ... else key), f.avro_value(table, env)

    return make


def with_key(key: bytes) -> Maker:
    """A valid Avro value under a broken Kafka key."""

    def make(f: PoisonFactory, table: str, ident: int) -> tuple[bytes | None, bytes | None]:
        return key, f.avro_value(table, f.envelope(table, ident))

    return make


def js(edit: Callable[[dict[str, Any]], Any] = lambda env: None, text: str | None = None) -> Maker:
    """A schemaless JSON event that ``edit`` breaks, or the raw ``text``."""

    def make(f: PoisonFactory, table: str, ident: int) -> tuple[bytes | None, bytes | None]:
        env = f.envelope(table, ident, avro=False)
        edit(env)
        body = text if text is not None else json.dumps(env)
        return json.dumps({"id": ident}).encode(), body.encode()

    return make


def js_after(**changes: Any) -> Maker:
    return js(lambda env: env["after"].update(changes))


def _surrogate(f: PoisonFactory, table: str, ident: int) -> tuple[bytes | None, bytes | None]:
    env = f.envelope(table, ident, avro=False)
    env["after"]["status"] = "PLACEHOLDER"
    text = json.dumps(env).replace('"PLACEHOLDER"', '"paid\\ud800"')
    return json.dumps({"id": ident}).encode(), text.encode()


def _garbage(f: PoisonFactory, table: str, ident: int) -> tuple[bytes | None, bytes | None]:
    return f.avro_key(table, ident), b"\x7f" + os.urandom(63)


def _empty(f: PoisonFactory, table: str, ident: int) -> tuple[bytes | None, bytes | None]:
    return f.avro_key(table, ident), b""


def _reframe(schema_id: Callable[[PoisonFactory], int]) -> Maker:
    """A valid Avro body under another schema id."""

    def make(f: PoisonFactory, table: str, ident: int) -> tuple[bytes | None, bytes | None]:
        value = f.avro_value(table, f.envelope(table, ident))
        return f.avro_key(table, ident), frame(schema_id(f), value[5:])

    return make


HUGE = "[" * 100_000 + "]" * 100_000
NESTED = '{"a":' * 100_000 + "1" + "}" * 100_000
ORD, CUS = "orders", "customers"

KINDS: list[Kind] = [
    # the wire format
    Kind("wire.garbage", ORD, "random bytes, no magic byte", _garbage),
    Kind("wire.empty_value", ORD, "a 0-byte value (a tombstone is null, not empty)", _empty),
    Kind("wire.wrong_magic", ORD, "magic byte 0x01", tamper(lambda v: b"\x01" + v[1:])),
    Kind("wire.short_header", ORD, "3 bytes: a header cut short", tamper(lambda v: v[:3])),
    Kind("wire.header_only", ORD, "a header and no Avro body", tamper(lambda v: v[:5])),
    Kind(
        "avro.truncated_body", ORD, "the body cut in half", tamper(lambda v: v[: 5 + len(v) // 2])
    ),
    Kind("avro.trailing_bytes", ORD, "3 bytes after the record", tamper(lambda v: v + b"\2\4\6")),
    # the registry
    Kind(
        "registry.unknown_id", ORD, "a schema id the registry lacks", _reframe(lambda f: 0x7FFFFF00)
    ),
    Kind(
        "registry.unusable_id",
        ORD,
        "the id of a 'string' schema",
        _reframe(lambda f: f.unusable_id),
    ),
    Kind(
        "registry.key_schema_as_value",
        ORD,
        "the key's schema id on the value",
        _reframe(lambda f: f.writers[ORD].key_id),
    ),
    # the Avro encoding
    Kind(
        "avro.union_index",
        ORD,
        "'before' union branch 5 of 2",
        tamper(lambda v: v[:5] + b"\x0a" + v[6:]),
    ),
    Kind(
        "avro.negative_length", ORD, "a string of length -3", tamper(at_mark(varint(-3) + b"Q7Z9"))
    ),
    Kind(
        "avro.huge_length",
        ORD,
        "a string of length 2**40",
        tamper(at_mark(varint(1 << 40) + b"Q7Z9")),
    ),
    Kind("avro.invalid_utf8", ORD, "0xff in a string", tamper(at_mark(varint(4) + b"\xffQ7Z"))),
    Kind(
        "avro.lone_surrogate",
        ORD,
        "UTF-8 of U+D800 in a string",
        tamper(at_mark(varint(4) + b"\xed\xa0\x80Z")),
    ),
    # the message key
    Kind(
        "key.garbage", ORD, "a key of schema id 1 with junk", with_key(b"\x00\x00\x00\x00\x01\x02")
    ),
    Kind(
        "key.unknown_id",
        ORD,
        "a key schema id the registry lacks",
        with_key(frame(0x7FFFFF01, b"\x02")),
    ),
    Kind("key.not_json_or_avro", ORD, "a key neither Avro nor JSON", with_key(b"\x7fkey")),
    # the envelope
    Kind("envelope.op_unknown", ORD, "op 'x'", avro(op="x")),
    Kind("envelope.create_without_after", ORD, "op 'c' with after null", avro(after=None)),
    Kind("envelope.update_without_after", ORD, "op 'u' with after null", avro(op="u", after=None)),
    Kind(
        "envelope.delete_without_key",
        CUS,
        "op 'd', no key, no before-image",
        avro(key=None, op="d", after=None),
    ),
    # semantic types out of range, huge decimals, deep nesting
    Kind("semantic.date_out_of_range", CUS, "a Date of 10**9 days", avro({"birth_date": 10**9})),
    Kind(
        "semantic.micro_timestamp_out_of_range",
        CUS,
        "a MicroTimestamp of 2**62",
        avro({"updated_at": 1 << 62}),
    ),
    Kind(
        "semantic.zoned_timestamp_garbage",
        ORD,
        "a ZonedTimestamp 'yesterday'",
        avro({"placed_at": "yesterday"}),
    ),
    Kind(
        "semantic.zoned_timestamp_year_99999",
        ORD,
        "a ZonedTimestamp in year 99999",
        avro({"placed_at": "99999-01-01T00:00:00Z"}),
    ),
    Kind(
        "semantic.decimal_huge",
        ORD,
        "a 60-digit NUMERIC for decimal(12,2)",
        avro({"total": unscaled(10**60)}),
    ),
    Kind(
        "semantic.decimal_too_precise",
        CUS,
        "10**14 for decimal(12,2)",
        avro({"credit_limit": unscaled(10**14)}),
    ),
    Kind("semantic.json_invalid", ORD, "an io.debezium.data.Json '[{'", avro({"items": "[{"})),
    Kind(
        "semantic.json_deep_nesting",
        ORD,
        "a Json array nested 100,000 deep",
        avro({"shipping": HUGE}),
    ),
    Kind(
        "semantic.lsn_out_of_range",
        ORD,
        "source.lsn 2**62: the version overflows",
        avro(source={"lsn": 1 << 62, "sequence": json.dumps([str(1 << 62)] * 2)}),
    ),
    # content only a sink refuses
    Kind("content.nul_in_string", ORD, "a NUL byte in a text column", avro({"status": "paid\x00"})),
    Kind(
        "content.nul_in_json",
        ORD,
        "a NUL in a JSON document's string",
        avro({"items": json.dumps([{"sku": "A\x00B", "qty": 1, "unit_price": "1.00"}])}),
    ),
    # JSON messages on the same topic
    Kind(
        "json.syntax_error", ORD, "'{' then garbage", js(text='{"before": null, "after": {"id": ')
    ),
    Kind("json.not_an_envelope", ORD, "a JSON object without 'op'", js(text='{"hello": "world"}')),
    Kind("json.deep_nesting", ORD, "an object nested 100,000 deep", js(text=NESTED)),
    Kind("json.id_wrong_type", ORD, "id is a string", js_after(id="abc")),
    Kind("json.total_wrong_type", ORD, "total is a bool", js_after(total=True)),
    Kind(
        "json.missing_key_column", ORD, "after without 'id'", js(lambda env: env["after"].pop("id"))
    ),
    Kind("json.id_beyond_int64", ORD, "id 2**70", js_after(id=1 << 70)),
    Kind("json.lone_surrogate", ORD, "a '\\ud800' escape in a string", _surrogate),
    Kind("json.date_wrong_type", CUS, "birth_date is an object", js_after(birth_date={"days": 1})),
    Kind("json.op_wrong_type", CUS, "op is a number", js(lambda env: env.update(op=1))),
]
