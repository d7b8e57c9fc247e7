"""Envelope classification and source-block normalisation."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.decode.envelope import classify, compile_source_info, make_event, source_info
from streamapp.decode.schema import SType
from streamapp.errors import DecodeError
from streamapp.records import EventKind, Op, SourceInfo


@pytest.mark.parametrize(
    ("payload", "topic", "expected"),
    [
        ({"op": "c", "after": {}}, "db.t", (EventKind.DATA, Op.CREATE)),
        ({"op": "u"}, "db.t", (EventKind.DATA, Op.UPDATE)),
        ({"op": "d"}, "db.t", (EventKind.DATA, Op.DELETE)),
        ({"op": "r"}, "db.t", (EventKind.DATA, Op.READ)),
        ({"op": "t"}, "db.t", (EventKind.TRUNCATE, Op.TRUNCATE)),
        ({"op": "m"}, "db.t", (EventKind.MESSAGE, Op.MESSAGE)),
        ({"ts_ms": 1}, "db.t", (EventKind.HEARTBEAT, None)),
        ({"anything": 1}, "__debezium-heartbeat.db", (EventKind.HEARTBEAT, None)),
        ({"ddl": "CREATE TABLE t (id INT)", "source": {}}, "db", (EventKind.SCHEMA_CHANGE, None)),
        ({"tableChanges": [], "databaseName": "x"}, "db", (EventKind.SCHEMA_CHANGE, None)),
        ({"historyRecord": "{}"}, "db", (EventKind.SCHEMA_CHANGE, None)),
    ],
)
def test_classify(payload: Any, topic: str, expected: tuple[EventKind, Op | None]) -> None:
    assert classify(payload, topic) == expected


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"op": "x"}, "c/u/d/r/t/m"),
        ({"op": 1}, "c/u/d/r/t/m"),
        ({"id": 1, "name": "n"}, "ExtractNewRecordState"),
        ({"status": "BEGIN", "id": "1"}, "transaction topic"),
        ([1, 2], "not a Debezium envelope"),
    ],
)
def test_classify_rejects(payload: Any, match: str) -> None:
    with pytest.raises(DecodeError, match=match):
        classify(payload, "db.t")


def test_source_info_normalises_connectors() -> None:
    pg = source_info(
        {
            "connector": "postgresql",
            "db": "d",
            "schema": "public",
            "table": "t",
            "ts_ms": 5,
            "snapshot": "last",
            "lsn": 10,
            "txId": 3,
            "sequence": '["1","10"]',
        }
    )
    assert pg == SourceInfo(
        "postgresql",
        "d",
        "public",
        "t",
        5,
        "last",
        10,
        3,
        None,
        None,
        None,
        None,
        None,
        pg.raw if pg else {},
    )
    my = source_info(
        {
            "connector": "mysql",
            "db": "d",
            "table": "t",
            "file": "mysql-bin.000003",
            "pos": 154,
            "row": 1,
            "gtid": "u:1",
            "snapshot": True,
        }
    )
    assert my is not None and (my.file, my.pos, my.row, my.gtid, my.snapshot) == (
        "mysql-bin.000003",
        154,
        1,
        "u:1",
        "true",
    )
    mg = source_info(
        {"connector": "mongodb", "db": "d", "collection": "c", "ord": 2, "h": 9, "snapshot": False}
    )
    assert mg is not None and (mg.table, mg.ord, mg.snapshot, mg.raw["h"]) == ("c", 2, "false", 9)
    odd = source_info({"connector": "oracle", "txId": "0a001b00", "lsn": "x"})
    assert odd is not None and odd.tx_id is None and odd.lsn is None  # wrong types are dropped
    assert source_info(None) is None


SOURCE_FIELDS = {
    "connector": ("string", st.sampled_from(["postgresql", "mysql", "mongodb"])),
    "db": ("string", st.text(max_size=3)),
    "schema": ("string", st.text(max_size=3)),
    "table": ("string", st.text(max_size=3)),
    "collection": ("string", st.text(max_size=3)),
    "ts_ms": ("long", st.integers(0, 2**42)),
    "snapshot": ("string", st.sampled_from(["true", "false", "last", "incremental"])),
    "lsn": ("long", st.integers(0, 2**40)),
    "txId": ("long", st.integers(0, 2**32)),
    "file": ("string", st.text(max_size=3)),
    "pos": ("long", st.integers(0, 2**32)),
    "row": ("int", st.integers(0, 10)),
    "gtid": ("string", st.text(max_size=3)),
    "ord": ("int", st.integers(0, 10)),
    "sequence": ("string", st.text(max_size=3)),
}


@given(data=st.data())
def test_compiled_source_info_equals_generic(data: st.DataObject) -> None:
    names = data.draw(st.lists(st.sampled_from(sorted(SOURCE_FIELDS)), unique=True))
    bool_snapshot = data.draw(st.booleans())
    fields = []
    raw: dict[str, Any] = {}
    for name in names:
        kind, values = SOURCE_FIELDS[name]
        if name == "snapshot" and bool_snapshot:
            kind, values = "boolean", st.booleans()
        fields.append((name, SType(kind, optional=True)))
        raw[name] = data.draw(st.none() | values)
    make = compile_source_info(SType("struct", fields=tuple(fields)))
    assert make(raw) == source_info(raw)
    assert make(None) is None


def test_make_event_drops_rows_of_non_data_events() -> None:
    payload = {"op": "t", "source": {"connector": "postgresql", "lsn": 8}, "ts_ms": 1}
    ev = make_event(EventKind.TRUNCATE, Op.TRUNCATE, payload, None, {"a": 1}, {"a": 2}, 0)
    assert ev.before is None and ev.after is None and ev.version == 17


@pytest.mark.parametrize(
    ("op", "before", "after"),
    [
        (Op.CREATE, None, None),
        (Op.UPDATE, None, None),
        (Op.READ, None, "row"),
        (Op.DELETE, 5, None),
    ],
)
def test_make_event_rejects_incomplete_rows(op: Op, before: Any, after: Any) -> None:
    payload = {"op": op.value, "source": {"connector": "postgresql", "lsn": 8}}
    with pytest.raises(DecodeError):
        make_event(EventKind.DATA, op, payload, None, before, after, 0)


def test_delete_without_before_image_is_allowed() -> None:
    payload = {"op": "d", "source": {"connector": "postgresql", "lsn": 8}}
    ev = make_event(EventKind.DATA, Op.DELETE, payload, {"id": 1}, None, None, 0)
    assert ev.kind is EventKind.DATA and ev.key == {"id": 1}
