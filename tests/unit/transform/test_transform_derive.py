"""t.derive: typed computed columns, UNCHANGED propagation, failures without values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from transform_fixtures import compiled, event, problems, run

from streamapp.errors import TransformError
from streamapp.records import UNCHANGED
from streamapp.topology import t
from streamapp.types import parse_type

COLS = {"id": "int", "email": "string", "total": "decimal(12,2)", "qty": "int"}
ROW = {"id": 1, "email": "a@example.com", "total": Decimal("10.00"), "qty": 3}


def domain(row: dict[str, Any]) -> str | None:
    email = row["email"]
    return email.rpartition("@")[2] if email else None


@pytest.mark.parametrize(
    ("fn", "type_", "expected"),
    [
        (domain, "string", "example.com"),
        (lambda row: row["qty"] * 2, "int", 6),
        (lambda row: row["qty"], "float", 3.0),
        (lambda row: row["total"] / 3, "decimal(12,2)", Decimal("3.33")),
        (lambda row: row["qty"], "decimal(5,1)", Decimal("3.0")),
        (lambda row: row["qty"] > 2, "bool", True),
        (lambda row: None, "int", None),
        (lambda row: date(2024, 1, 2), "date", date(2024, 1, 2)),
        (lambda row: datetime(2024, 1, 2), "timestamp", datetime(2024, 1, 2)),
        (
            lambda row: datetime(2024, 1, 2, 2, tzinfo=timezone(timedelta(hours=2))),
            "timestamptz",
            datetime(2024, 1, 2, tzinfo=UTC),
        ),
        (lambda row: {"n": row["qty"]}, "json", {"n": 3}),
        (lambda row: [row["qty"]], "array<int>", [3]),
        (lambda row: sorted(row), "json", ["email", "id", "qty", "total"]),
    ],
)
def test_derive_values(fn: Any, type_: str, expected: Any) -> None:
    top = compiled(COLS, [t.derive("x", fn, type=type_)])
    assert top.output_columns["x"] == parse_type(type_)
    assert list(top.output_columns)[-1] == "x"
    value = top.process(event("c", after=dict(ROW)))[0].value["x"]
    assert value == expected and type(value) is type(expected)


def test_derive_sees_the_row_at_its_place_in_the_chain() -> None:
    seen: list[dict[str, Any]] = []

    def spy(row: dict[str, Any]) -> int:
        seen.append(dict(row))
        return 1

    run(COLS, [t.drop("qty"), t.rename(email="mail"), t.derive("x", spy, type="int")], dict(ROW))
    assert seen == [{"id": 1, "mail": "a@example.com", "total": Decimal("10.00")}]


def test_derive_cannot_change_the_row() -> None:
    def vandal(row: dict[str, Any]) -> int:
        row["email"] = "changed"
        return 1

    assert run(COLS, [t.derive("x", vandal, type="int")], dict(ROW))["email"] == "a@example.com"


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda row: row["email"] + "!", UNCHANGED),
        (lambda row: row.get("email"), UNCHANGED),
        (lambda row: row["qty"] + 1, 4),  # reads no UNCHANGED column
    ],
)
def test_reading_an_unchanged_column_yields_unchanged(fn: Any, expected: Any) -> None:
    top = compiled(COLS, [t.derive("x", fn, type="string" if expected is UNCHANGED else "int")])
    out = top.process(event("u", after={**ROW, "email": UNCHANGED}))[0]
    assert out.value["x"] == expected or out.value["x"] is expected
    assert ("x" in out.unchanged) == (expected is UNCHANGED)
    assert "email" in out.unchanged


def test_user_code_cannot_swallow_the_unchanged_signal() -> None:
    def careless(row: dict[str, Any]) -> str:
        try:
            return str(row["email"])
        except Exception:  # noqa: BLE001 - the careless user code under test
            return "fallback"

    top = compiled(COLS, [t.derive("x", careless, type="string")])
    assert top.process(event("u", after={**ROW, "email": UNCHANGED}))[0].value["x"] is UNCHANGED


def test_a_raising_function_is_a_transform_error_without_the_value() -> None:
    def parse(row: dict[str, Any]) -> int:
        return int(row["email"])  # ValueError quoting the e-mail address

    top = compiled(COLS, [t.derive("n", parse, type="int")])
    with pytest.raises(TransformError) as info:
        top.process(event("c", after=dict(ROW)))
    message = str(info.value)
    assert "a@example.com" not in message
    assert message.startswith("derive('n') raised ValueError; make parse at ")
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize(
    ("fn", "type_", "needle"),
    [
        (lambda row: "3", "int", "derive('x') returned a value of Python type str, but type='int'"),
        (
            lambda row: True,
            "int",
            "derive('x') returned a value of Python type bool, but type='int'",
        ),
        (
            lambda row: 1.5,
            "decimal(5,2)",
            "derive('x') returned a value of Python type float, but type='decimal(5,2)'",
        ),
        (lambda row: Decimal("123456"), "decimal(5,2)", "does not fit decimal(5,2)"),
        (
            lambda row: datetime(2024, 1, 1),
            "date",
            "returned a value of Python type datetime, but type='date'",
        ),
        (
            lambda row: datetime(2024, 1, 1),
            "timestamptz",
            "returned a value of Python type datetime",
        ),
        (lambda row: 1, "string", "returned a value of Python type int, but type='string'"),
    ],
)
def test_result_type_is_checked(fn: Any, type_: str, needle: str) -> None:
    top = compiled(COLS, [t.derive("x", fn, type=type_)])
    with pytest.raises(TransformError) as info:
        top.process(event("c", after=dict(ROW)))
    assert needle in str(info.value)
    assert info.value.field == "x"


@pytest.mark.parametrize(
    ("transform", "line"),
    [
        (
            t.derive("email", domain, type="string"),
            "derive('email'): duplicate output column 'email': a column of that name already "
            "exists; drop or rename one of them first",
        ),
        (
            t.derive("x", domain, type="strin"),
            "derive('x'): unknown type 'strin'; known types: bool, bytes, date, decimal, "
            "duration, float, int, json, string, time, timestamp, timestamptz, uuid, "
            "array<T>, map<T>",
        ),
        (
            t.derive("x", "not callable", type="string"),  # type: ignore[arg-type]
            "derive('x'): the function must take the row (a dict) and return the value",
        ),
    ],
)
def test_derive_problems(transform: Any, line: str) -> None:
    assert problems(COLS, [transform]) == [line]


def test_an_unused_derive_is_not_run() -> None:
    calls: list[int] = []
    top = compiled(COLS, [t.derive("x", lambda row: calls.append(1), type="json"), t.drop("x")])
    top.process(event("c", after=dict(ROW)))
    assert calls == []
