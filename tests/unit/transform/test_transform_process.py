"""CompiledTopology.process: event kinds, ops, filters, deletes, keys and UNCHANGED."""

from __future__ import annotations

from typing import Any

import pytest
from transform_fixtures import SOURCE, compiled, event, problems

from streamapp.errors import TransformError
from streamapp.records import UNCHANGED, ChangeEvent, EventKind, Op, OutputRecord
from streamapp.topology import t

COLS = {"id": "int", "name": "string", "notes": "string"}
ROW = {"id": 1, "name": "Ann", "notes": "hello"}


@pytest.mark.parametrize(
    "kind",
    [
        EventKind.TOMBSTONE,
        EventKind.HEARTBEAT,
        EventKind.SCHEMA_CHANGE,
        EventKind.TRUNCATE,
        EventKind.MESSAGE,
    ],
)
def test_events_that_are_not_data_yield_nothing(kind: EventKind) -> None:
    assert compiled(COLS).process(event(None, kind=kind, after=None)) == []


@pytest.mark.parametrize("op", ["c", "u", "r"])
def test_rows_become_one_record(op: str) -> None:
    out = compiled(COLS).process(event(op, after=dict(ROW), version=42))
    assert out == [
        OutputRecord(
            topology="things",
            key=(1,),
            value=ROW,
            version=42,
            op=Op(op),
            deleted=False,
            unchanged=frozenset(),
            source_ts_ms=SOURCE.ts_ms,
        )
    ]
    assert type(out[0]) is OutputRecord


def test_source_ts_ms_is_none_without_a_source() -> None:
    assert compiled(COLS).process(event("c", after=dict(ROW), source=None))[0].source_ts_ms is None


def test_missing_and_extra_columns() -> None:
    out = compiled(COLS).process(event("c", after={"id": 1, "extra": "ignored"}))[0]
    assert out.value == {"id": 1, "name": None, "notes": None}


def test_unchanged_columns_are_listed_and_kept() -> None:
    out = compiled(COLS).process(event("u", after={**ROW, "notes": UNCHANGED}))[0]
    assert out.value["notes"] is UNCHANGED
    assert out.unchanged == frozenset({"notes"})


def test_unchanged_follows_renames() -> None:
    top = compiled(COLS, [t.rename(notes="remarks")])
    assert top.process(event("u", after={**ROW, "notes": UNCHANGED}))[0].unchanged == {"remarks"}


def test_unchanged_in_a_dropped_column_is_not_listed() -> None:
    top = compiled(COLS, [t.drop("notes")])
    assert top.process(event("u", after={**ROW, "notes": UNCHANGED}))[0].unchanged == frozenset()


@pytest.mark.parametrize(
    ("ops", "kept"),
    [
        (("c", "u", "d", "r"), {"c", "u", "d", "r"}),
        (("c", "u"), {"c", "u"}),
        ((Op.DELETE,), {"d"}),
        (("r",), {"r"}),
    ],
)
def test_filter_ops(ops: tuple[Any, ...], kept: set[str]) -> None:
    top = compiled(COLS, [t.filter_ops(*ops)])
    for op in "cudr":
        ev = event(op, after=None if op == "d" else dict(ROW), before=dict(ROW))
        assert len(top.process(ev)) == (op in kept)


def test_two_filter_ops_intersect() -> None:
    top = compiled(COLS, [t.filter_ops("c", "u"), t.filter_ops("u", "d")])
    assert top.process(event("c", after=dict(ROW))) == []
    assert len(top.process(event("u", after=dict(ROW)))) == 1


@pytest.mark.parametrize(
    ("ops", "line"),
    [
        (("t",), "filter_ops('t'): op 't' carries no row; only c, u, d, r can be kept"),
        (("x",), "filter_ops('x'): 'x' is not a Debezium op; use c, u, d or r"),
        ((), "filter_ops(): name at least one op: c, u, d or r"),
    ],
)
def test_filter_ops_problems(ops: tuple[str, ...], line: str) -> None:
    assert problems(COLS, [t.filter_ops(*ops)]) == [line]


def test_filter_predicate_sees_the_event_and_runs_before_transforms() -> None:
    seen: list[ChangeEvent] = []

    def keep(ev: ChangeEvent) -> bool:
        seen.append(ev)
        return ev.after is not None and ev.after["name"] != "test"

    top = compiled(COLS, [t.drop("name"), t.filter(keep)])
    assert top.process(event("c", after={**ROW, "name": "test"})) == []
    assert len(top.process(event("c", after=dict(ROW)))) == 1
    assert top.process(event("d", before=dict(ROW))) == []
    assert [ev.op for ev in seen] == [Op.CREATE, Op.CREATE, Op.DELETE]


def test_filters_run_after_op_filter() -> None:
    calls: list[Op | None] = []

    def record_op(ev: ChangeEvent) -> bool:
        calls.append(ev.op)
        return True

    top = compiled(COLS, [t.filter(record_op), t.filter_ops("c")])
    top.process(event("u", after=dict(ROW)))
    top.process(event("c", after=dict(ROW)))
    assert calls == [Op.CREATE]


def test_a_raising_filter_is_a_transform_error_without_the_value() -> None:
    def broken(ev: ChangeEvent) -> bool:
        return int(ev.after["name"]) > 0  # type: ignore[index]

    top = compiled(COLS, [t.filter(broken)])
    with pytest.raises(TransformError) as info:
        top.process(event("c", after=dict(ROW)))
    assert "Ann" not in str(info.value)
    assert str(info.value).startswith("filter(broken at test_transform_process.py:")
    assert "raised ValueError; make the predicate handle every op" in str(info.value)


def test_filter_must_be_callable() -> None:
    assert problems(COLS, [t.filter(3)]) == [  # type: ignore[arg-type]
        "filter(int): the predicate must be a function of the event"
    ]


def test_delete_with_before_image() -> None:
    top = compiled(COLS, [t.rename(name="n")])
    (out,) = top.process(event("d", before=dict(ROW), version=9))
    assert out.deleted and out.op is Op.DELETE and out.version == 9
    assert out.key == (1,) and out.value == {"id": 1, "n": "Ann", "notes": "hello"}


def test_delete_without_before_image_carries_only_the_key() -> None:
    top = compiled(COLS, [t.rename(id="customer_id")], key=["customer_id"])
    (out,) = top.process(event("d", key={"id": 5}, version=9))
    assert out.deleted and out.key == (5,)
    assert out.value == {"customer_id": 5}
    assert out.unchanged == frozenset()


def test_delete_key_goes_through_key_transforms() -> None:
    top = compiled({"id": "string", "name": "string"}, [t.mask("id", t.tokenize())])
    (with_before,) = top.process(event("d", before={"id": "k1", "name": "x"}))
    (key_only,) = top.process(event("d", key={"id": "k1"}))
    assert with_before.key == key_only.key
    assert key_only.key[0].startswith("tok_")


def test_delete_whose_before_image_fails_falls_back_to_the_key() -> None:
    top = compiled(COLS, [t.cast(name="int")])
    (out,) = top.process(event("d", before=dict(ROW), key={"id": 1}))
    assert out.deleted and out.value == {"id": 1}


def test_delete_without_before_or_key_is_an_error() -> None:
    with pytest.raises(TransformError, match="neither a before-image nor a message key"):
        compiled(COLS).process(event("d"))


def test_delete_key_missing_from_the_message_key() -> None:
    with pytest.raises(TransformError, match="key column 'id' is null or unchanged in a delete"):
        compiled(COLS).process(event("d", key={"other": 1}))


@pytest.mark.parametrize("value", [None, UNCHANGED])
def test_null_key_is_an_error(value: Any) -> None:
    with pytest.raises(TransformError) as info:
        compiled(COLS).process(event("c", after={**ROW, "id": value}))
    assert info.value.field == "id"
    assert str(info.value).startswith("key column 'id' is null or unchanged in a row;")


def test_composite_key_in_declared_order() -> None:
    top = compiled({"a": "int", "b": "string", "c": "int"}, key=["b", "a"])
    assert top.process(event("c", after={"a": 1, "b": "x", "c": 3}))[0].key == ("x", 1)
    assert top.process(event("d", key={"a": 1, "b": "x"}))[0].value == {"b": "x", "a": 1}


def test_malformed_events() -> None:
    top = compiled(COLS)
    with pytest.raises(TransformError, match="has no after-image"):
        top.process(event("c", after=None))
    with pytest.raises(TransformError, match="has no op"):
        top.process(event(None, after=dict(ROW)))


def test_process_does_not_mutate_the_event() -> None:
    after = dict(ROW)
    compiled(COLS, [t.rename(name="n"), t.mask("notes", t.redact())]).process(
        event("c", after=after)
    )
    assert after == ROW


@pytest.mark.parametrize(
    ("key", "line"),
    [
        ([], "key is empty; name the output column(s) that identify a row, e.g. key=['id']"),
        (["nme"], "key: unknown field 'nme' at this point of the chain; did you mean 'name'?"),
        (["id", "id"], "key ['id', 'id'] names a column twice"),
    ],
)
def test_key_problems(key: list[str], line: str) -> None:
    assert problems(COLS, key=key) == [line]


def test_key_must_be_scalar() -> None:
    assert problems({"id": {"a": "int"}}) == [
        "key column 'id' is {a: int}; a key column must be a scalar"
    ]


def test_key_as_a_string() -> None:
    from transform_fixtures import SCHEMAS, SECRETS

    from streamapp.transform.compile import compile_topology
    from streamapp.transform.spec import Source, Topology

    top = Topology(name="x", source=Source("t", {"id": "int"}), key="id")
    assert compile_topology(top, secrets=SECRETS, schemas_dir=SCHEMAS).key_columns == ("id",)
