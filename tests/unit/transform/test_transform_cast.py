"""t.cast inside a chain: passes null and UNCHANGED through, fails per record without values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from transform_fixtures import compiled, event, problems, run

from streamapp.errors import TransformError
from streamapp.records import UNCHANGED
from streamapp.topology import t
from streamapp.types import BOOL, INT, STRING, parse_type

COLS = {"id": "int", "total": "decimal(12,2)", "code": "string", "vip": "bool"}


@pytest.mark.parametrize(
    ("transform", "column", "value", "expected"),
    [
        (t.cast(vip="int"), "vip", True, 1),
        (t.cast(code="int"), "code", "17", 17),
        (t.cast(total="string"), "total", Decimal("-12.50"), "-12.50"),
        (t.cast({"total": "int"}), "total", Decimal("3.00"), 3),
        (t.cast(total="decimal(4,1)"), "total", Decimal("1.25"), Decimal("1.2")),
        (t.cast(vip="int", code="float"), "code", "2.5", 2.5),
        (t.cast(vip="int"), "vip", None, None),
        (t.cast(vip="int"), "vip", UNCHANGED, UNCHANGED),
        (t.cast(code="int"), "code", UNCHANGED, UNCHANGED),
    ],
)
def test_cast_values(transform: Any, column: str, value: Any, expected: Any) -> None:
    row = {"id": 1, "total": Decimal("1.00"), "code": "1", "vip": False, column: value}
    out = run(COLS, [transform], row)
    assert out[column] == expected or out[column] is expected


def test_cast_changes_the_output_type() -> None:
    top = compiled(COLS, [t.cast(vip="int", code="bool")])
    assert top.output_columns == {
        "id": INT,
        "total": parse_type("decimal(12,2)"),
        "code": BOOL,
        "vip": INT,
    }


def test_identity_cast_emits_no_code() -> None:
    top = compiled(COLS, [t.cast(code="string")])
    assert "_cast" not in top.source_code
    assert top.output_columns["code"] == STRING


@pytest.mark.parametrize(
    ("transform", "line"),
    [
        (
            t.cast(total="bool"),
            "cast(total='bool'): decimal(12,2) -> bool is never possible; "
            "cast to int first or drop the cast",
        ),
        (
            t.cast(totl="int"),
            "cast(totl='int'): unknown field 'totl' at this point of the chain; "
            "did you mean 'total'?",
        ),
        (
            t.cast(vip="nonsense"),
            "cast(vip='nonsense'): unknown type 'nonsense'; known types: bool, bytes, date, "
            "decimal, duration, float, int, json, string, time, timestamp, timestamptz, "
            "uuid, array<T>, map<T>",
        ),
        (
            t.cast({"weird col": "int"}),
            "cast(**{'weird col': 'int'}): unknown field 'weird col' at this point of the "
            "chain; columns here: id, total, code, vip",
        ),
    ],
)
def test_cast_problems(transform: Any, line: str) -> None:
    assert problems(COLS, [transform]) == [line]


def test_uncastable_value_names_field_not_value() -> None:
    top = compiled(COLS, [t.cast(code="int")])
    secret = "4111-1111-1111-1111"
    with pytest.raises(TransformError) as info:
        top.process(event("c", after={"id": 1, "code": secret}))
    message = str(info.value)
    assert secret not in message
    assert info.value.field == "code"
    assert message == (
        "cast(code='int'): a str value of column 'code' cannot be cast from string to int: "
        "it is not a whole number; fix the source row or drop the cast"
    )


def test_wrong_python_type_is_a_transform_error() -> None:
    top = compiled(COLS, [t.cast(total="int")])
    with pytest.raises(TransformError) as info:
        top.process(event("c", after={"id": 1, "total": "12.00"}))
    assert "holds a str, which is not a decimal(12,2) value" in str(info.value)
    assert "12.00" not in str(info.value)
