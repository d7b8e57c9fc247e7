"""t.metadata: each Debezium-style metadata column, its type and value."""

from __future__ import annotations

from typing import Any

import pytest
from transform_fixtures import SOURCE, compiled, event, problems

from streamapp.topology import t
from streamapp.types import BOOL, INT, STRING

COLS = {"id": "int"}


@pytest.mark.parametrize(
    ("field", "ftype", "value", "without_source"),
    [
        ("__op", STRING, "u", "u"),
        ("__source_ts_ms", INT, SOURCE.ts_ms, None),
        ("__ts_ms", INT, 1_700_000_000_123, 1_700_000_000_123),
        ("__lsn", INT, SOURCE.lsn, None),
        ("__txid", INT, SOURCE.tx_id, None),
        ("__table", STRING, "things", None),
        ("__db", STRING, "shop", None),
        ("__version", INT, 7, 7),
    ],
)
def test_metadata_fields(field: str, ftype: Any, value: Any, without_source: Any) -> None:
    top = compiled(COLS, [t.metadata(field)])
    assert top.output_columns[field] == ftype
    assert top.process(event("u", after={"id": 1}))[0].value[field] == value
    assert top.process(event("u", after={"id": 1}, source=None))[0].value[field] == without_source


def test_metadata_on_delete() -> None:
    top = compiled(COLS, [t.metadata("__op", "__version")])
    out = top.process(event("d", before={"id": 1}, version=99))[0]
    assert out.value == {"id": 1, "__op": "d", "__version": 99}


def test_deleted_is_left_to_the_encoder() -> None:
    top = compiled(COLS, [t.metadata("__op", "__deleted")])
    assert list(top.output_columns) == ["id", "__op"]
    assert top.output_columns.get("__deleted") is None
    assert any(f["name"] == "__deleted" for f in top.output_avro_schema["fields"])
    assert BOOL  # __deleted is a bool in the schema, written from OutputRecord.deleted


@pytest.mark.parametrize(
    ("transforms", "line"),
    [
        (
            [t.metadata("__opp")],
            "metadata('__opp'): unknown metadata field '__opp'; known: __op, __source_ts_ms, "
            "__ts_ms, __lsn, __txid, __table, __db, __version, __deleted",
        ),
        (
            [t.metadata("__op"), t.metadata("__op")],
            "metadata('__op'): duplicate output column '__op': a column of that name already "
            "exists; drop or rename one of them first",
        ),
    ],
)
def test_metadata_problems(transforms: list[Any], line: str) -> None:
    assert problems(COLS, transforms) == [line]
