"""Schema drift: writer schemas compared with declared columns, and what the Decoder does."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from decode_helpers import DictResolver, avro_message

from streamapp.decode import Decoder
from streamapp.decode.drift import (
    DriftGuard,
    SchemaDriftError,
    SchemaEvolution,
    type_change,
    widening,
    writer_type,
)
from streamapp.decode.schema import SType
from streamapp.records import UNCHANGED
from streamapp.synth import Table
from streamapp.types import FieldType, Kind, parse_type

DECLARED = {"id": "int", "name": "string", "total": "decimal(12,2)", "placed_at": "timestamptz"}


def _struct(**fields: SType) -> SType:
    return SType("struct", fields=tuple(fields.items()))


def _dec(precision: int, scale: int) -> SType:
    return SType(
        "bytes",
        semantic="org.apache.kafka.connect.data.Decimal",
        params=(("scale", str(scale)), ("connect.decimal.precision", str(precision))),
    )


INT = SType("int")
LONG = SType("long")
TEXT = SType("string")
ZONED = SType("string", semantic="io.debezium.time.ZonedTimestamp")


@pytest.mark.parametrize(
    ("st", "want"),
    [
        (INT, "int"),
        (LONG, "int"),
        (TEXT, "string"),
        (SType("boolean"), "bool"),
        (SType("double"), "float"),
        (_dec(14, 2), "decimal(14,2)"),
        (ZONED, "timestamptz"),
        (SType("long", semantic="io.debezium.time.MicroTimestamp"), "timestamp"),
        (SType("int", semantic="io.debezium.time.Date"), "date"),
        (SType("string", semantic="io.debezium.data.Json"), "json"),
        (SType("string", semantic="io.debezium.data.Uuid"), "uuid"),
        (SType("bytes"), "bytes"),
    ],
)
def test_writer_type_maps_debezium_columns(st: SType, want: str) -> None:
    assert writer_type(st) == parse_type(want)


@pytest.mark.parametrize(
    ("declared", "writer", "refused"),
    [
        ("int", "int", False),
        ("int", "string", True),  # int -> text at the source
        ("string", "int", True),  # text -> int
        ("int", "decimal(10,2)", True),  # int -> numeric: fractions would be lost
        ("decimal(12,2)", "decimal(14,2)", False),  # widening: values that fit pass
        ("decimal(12,2)", "int", False),
        ("timestamptz", "timestamp", False),
        ("date", "timestamp", True),
        ("json", "string", False),
        ({"a": "int"}, "json", False),
        ("bool", "int", False),  # MySQL BOOLEAN is int16: 0/1 converted (decode.declared)
        ("bool", "string", True),
    ],
)
def test_type_change_refuses_other_families(declared: Any, writer: str, refused: bool) -> None:
    change = type_change(parse_type(declared), parse_type(writer))
    assert (change is not None) is refused
    if refused:
        assert str(parse_type(writer)) in change  # type: ignore[operator]


@pytest.mark.parametrize(
    ("declared", "writer", "warned"),
    [
        ("decimal(12,2)", "decimal(14,2)", True),
        ("decimal(12,2)", "decimal(12,4)", True),
        ("decimal(12,2)", "decimal(10,2)", False),
        ("decimal(12,2)", "decimal(12,2)", False),
        ("int", "int", False),
    ],
)
def test_widening_is_warned_when_values_may_not_fit(
    declared: str, writer: str, warned: bool
) -> None:
    assert (widening(parse_type(declared), parse_type(writer)) is not None) is warned


def _guard(**kw: Any) -> DriftGuard:
    declared = {n: parse_type(t) for n, t in DECLARED.items()}
    return DriftGuard("orders", declared, key_columns=["id"], **kw)


BASE = {"id": INT, "name": TEXT, "total": _dec(12, 2), "placed_at": ZONED}


def test_unchanged_schema_passes() -> None:
    verdict = _guard().judge(_struct(**BASE), "writer schema id 1")
    assert verdict.error is None and verdict.added == ()


@pytest.mark.parametrize("policy", ["dlq", "null"])
def test_dropped_column_follows_missing_columns_policy(policy: str) -> None:
    row = _struct(**{k: v for k, v in BASE.items() if k != "name"})
    verdict = _guard(missing_columns=policy).judge(row, "writer schema id 2")
    if policy == "dlq":
        assert verdict.error is not None
        assert "'name'" in verdict.error and "writer schema id 2" in verdict.error
        assert "dlq replay orders" in verdict.error
    else:
        assert verdict.error is None


def test_missing_key_column_is_always_refused() -> None:
    row = _struct(**{k: v for k, v in BASE.items() if k != "id"})
    verdict = _guard(missing_columns="null").judge(row, "writer schema id 3")
    assert verdict.error is not None and "'id'" in verdict.error


def test_renamed_column_is_a_missing_one_plus_a_new_one() -> None:
    fields = {("customer_name" if k == "name" else k): v for k, v in BASE.items()}
    verdict = _guard(new_columns="propagate").judge(_struct(**fields), "writer schema id 4")
    assert verdict.error is not None and "'name'" in verdict.error


def test_type_change_is_refused_with_the_column_named() -> None:
    verdict = _guard().judge(_struct(**{**BASE, "name": LONG}), "writer schema id 5")
    assert verdict.error is not None
    assert "'name' changed type" in verdict.error and "declares string" in verdict.error


@pytest.mark.parametrize(("policy", "propagated"), [("ignore", False), ("propagate", True)])
def test_added_column_follows_new_columns_policy(
    policy: str, propagated: bool, caplog: pytest.LogCaptureFixture
) -> None:
    guard = _guard(new_columns=policy)
    with caplog.at_level(logging.WARNING, logger="streamapp.drift"):
        verdict = guard.judge(_struct(**BASE, loyalty=TEXT), "writer schema id 6")
    assert verdict.error is None
    assert verdict.added == ((("loyalty", FieldType(Kind.STRING)),) if propagated else ())
    assert ("loyalty" in caplog.text) is not propagated


def test_accept_and_refuse_change_later_verdicts() -> None:
    guard = _guard(new_columns="propagate")
    row = _struct(**BASE, loyalty=TEXT)
    first = guard.judge(row, "w")
    guard.accept(dict(first.added))
    again = guard.judge(row, "w")
    assert again.generation == first.generation + 1 and again.added == ()
    other = _guard(new_columns="propagate")
    other.refuse({"loyalty": FieldType(Kind.STRING)}, "w: cannot: collides")
    assert other.judge(row, "w").error == "w: cannot: collides"


# --- through the Decoder, on real Avro bytes ---------------------------------------------


def _table(columns: dict[str, Any]) -> Table:
    return Table("orders", columns, ["id"])


def _decoder(schemas: dict[int, Any], **kw: Any) -> Decoder:
    declared = {n: parse_type(t) for n, t in DECLARED.items()}
    guard = DriftGuard("orders", declared, key_columns=["id"], **kw)
    return Decoder(resolver=DictResolver(schemas), hints=declared, drift=guard)


def _message(table: Table, schema_id: int, row: dict[str, Any]) -> bytes:
    return avro_message(schema_id, table.value_schema, table.event("c", after=row, lsn=10))


def test_decoder_refuses_every_event_of_a_schema_that_lost_a_column() -> None:
    dropped = _table({k: v for k, v in DECLARED.items() if k != "name"})
    decoder = _decoder({7: dropped.value_schema})
    for offset in (1, 2):
        with pytest.raises(SchemaDriftError) as info:
            decoder.decode(None, _message(dropped, 7, {"id": 1}), topic="t", offset=offset)
        assert f"offset {offset}" in str(info.value) and "'name'" in str(info.value)


def test_decoder_signals_new_columns_until_accepted() -> None:
    grown = _table({**DECLARED, "loyalty": "string"})
    decoder = _decoder({8: grown.value_schema}, new_columns="propagate")
    msg = _message(grown, 8, {"id": 1, "loyalty": "gold"})
    with pytest.raises(SchemaEvolution) as info:
        decoder.decode(None, msg, topic="t")
    assert info.value.added == {"loyalty": FieldType(Kind.STRING)}
    assert decoder.drift is not None
    decoder.drift.accept(info.value.added)
    event = decoder.decode(None, msg, topic="t")
    assert event.after is not None and event.after["loyalty"] == "gold"


def test_decoder_ignores_new_columns_by_default_and_keeps_tombstones_working() -> None:
    grown = _table({**DECLARED, "loyalty": "string"})
    decoder = _decoder({9: grown.value_schema})
    event = decoder.decode(None, _message(grown, 9, {"id": 1}), topic="t")
    assert event.after is not None and event.after["id"] == 1
    assert decoder.decode(None, None, topic="t").after is None


# --- a propagated column and older writer schemas (history, not a drop) --------------------

LOYALTY = FieldType(Kind.STRING)
NO_NAME = {k: v for k, v in BASE.items() if k != "name"}
NO_ID = {k: v for k, v in BASE.items() if k != "id"}


@pytest.mark.parametrize(
    ("policy", "fields", "error", "unchanged"),
    [
        # the older schema still in flight on another partition: the column is left as stored
        ("dlq", BASE, None, ("loyalty",)),
        ("null", BASE, None, ("loyalty",)),
        # the schema that brought the column: carried
        ("dlq", {**BASE, "loyalty": TEXT}, None, ()),
        # a declared column missing is still refused; the propagated one is not named
        ("dlq", NO_NAME, "'name'", ()),
        ("null", NO_NAME, None, ("loyalty",)),
        ("null", NO_ID, "'id'", ()),
        # a schema with the column at another type is still a type change
        ("dlq", {**BASE, "loyalty": LONG}, "'loyalty' changed type", ()),
    ],
)
def test_writer_schema_without_a_propagated_column_is_history(
    policy: str, fields: dict[str, SType], error: str | None, unchanged: tuple[str, ...]
) -> None:
    guard = _guard(new_columns="propagate", missing_columns=policy)
    guard.accept({"loyalty": LOYALTY})
    verdict = guard.judge(_struct(**fields), "writer schema id 3")
    if error is None:
        assert verdict.error is None and verdict.unchanged == unchanged
    else:
        assert verdict.error is not None and error in verdict.error
        assert "'loyalty' are no longer" not in verdict.error
    assert verdict.added == ()


def test_a_declared_column_missing_is_still_a_drop() -> None:
    """Only columns accepted while running are history; declared ones follow the policy."""
    guard = _guard(new_columns="propagate")
    verdict = guard.judge(_struct(**NO_NAME), "writer schema id 4")
    assert verdict.error is not None and verdict.unchanged == ()


def test_decoder_reads_a_propagated_column_of_an_older_schema_as_unchanged() -> None:
    old = _table(DECLARED)
    grown = _table({**DECLARED, "loyalty": "string"})
    decoder = _decoder({1: old.value_schema, 2: grown.value_schema}, new_columns="propagate")
    before = decoder.decode(None, _message(old, 1, {"id": 1}), topic="t", offset=1)
    assert before.after is not None and "loyalty" not in before.after  # not propagated yet
    with pytest.raises(SchemaEvolution) as info:
        decoder.decode(None, _message(grown, 2, {"id": 2, "loyalty": "gold"}), topic="t")
    assert decoder.drift is not None
    decoder.drift.accept(info.value.added)
    # the older schema's events, still in flight on another partition, are not refused
    update = decoder.decode(None, _message(old, 1, {"id": 1, "name": "Ann"}), topic="t")
    assert update.after is not None
    assert update.after["loyalty"] is UNCHANGED and update.after["name"] == "Ann"
    delete = avro_message(1, old.value_schema, old.event("d", before={"id": 1}, lsn=11))
    deleted = decoder.decode(None, delete, topic="t")
    assert deleted.before is not None and deleted.before["loyalty"] is UNCHANGED
    grown_event = decoder.decode(None, _message(grown, 2, {"id": 3, "loyalty": "tin"}), topic="t")
    assert grown_event.after is not None and grown_event.after["loyalty"] == "tin"
