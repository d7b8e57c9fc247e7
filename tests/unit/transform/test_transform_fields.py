"""t.rename, t.drop, t.include: column plumbing, order, and their problems."""

from __future__ import annotations

from typing import Any

import pytest
from transform_fixtures import compiled, problems, run

from streamapp.topology import t

COLS = {"id": "int", "a": "string", "b": "string", "c": "int"}
ROW = {"id": 1, "a": "x", "b": "y", "c": 3}


@pytest.mark.parametrize(
    ("transforms", "expected"),
    [
        ([], {"id": 1, "a": "x", "b": "y", "c": 3}),
        ([t.rename(a="alpha")], {"id": 1, "alpha": "x", "b": "y", "c": 3}),
        ([t.rename({"a": "b", "b": "a"})], {"id": 1, "b": "x", "a": "y", "c": 3}),
        ([t.rename(a="z"), t.rename(z="a")], {"id": 1, "a": "x", "b": "y", "c": 3}),
        ([t.drop("a", "c")], {"id": 1, "b": "y"}),
        ([t.drop("a", "a")], {"id": 1, "b": "y", "c": 3}),
        ([t.include("c", "id")], {"c": 3, "id": 1}),
        ([t.drop("a"), t.rename(b="a")], {"id": 1, "a": "y", "c": 3}),
    ],
)
def test_plumbing(transforms: list[Any], expected: dict[str, Any]) -> None:
    out = run(COLS, transforms, ROW)
    assert out == expected
    assert list(out) == list(expected)


def test_plumbing_emits_no_code() -> None:
    plain = compiled(COLS).source_code
    assert compiled(COLS, [t.rename(a="z"), t.drop("b")]).source_code.count("= get(") < (
        plain.count("= get(")
    )
    assert "_cast" not in plain and "_mask" not in plain


def test_dropped_columns_are_not_even_read() -> None:
    source = compiled(COLS, [t.drop("a", "b")]).source_code
    assert "get('a')" not in source and "get('b')" not in source


@pytest.mark.parametrize(
    ("transforms", "lines"),
    [
        (
            [t.rename(a="b")],
            [
                "rename(a='b'): duplicate output column 'b': renaming would give two columns "
                "that name; drop one first or pick another name"
            ],
        ),
        (
            [t.rename(x="y")],
            [
                "rename(x='y'): unknown field 'x' at this point of the chain; columns here: "
                "id, a, b, c"
            ],
        ),
        (
            [t.rename(a="")],
            ["rename(a=''): the new name for 'a' must be a non-empty string"],
        ),
        (
            [t.drop("a"), t.drop("a")],
            ["drop('a'): unknown field 'a' at this point of the chain; columns here: id, b, c"],
        ),
        (
            [t.include("id", "id")],
            ["include('id', 'id'): a column is named twice"],
        ),
        (
            [t.include("id", "d")],
            [
                "include('id', 'd'): unknown field 'd' at this point of the chain; did you mean "
                "'id'?"
            ],
        ),
        (
            [t.rename(b="bb"), t.drop("b")],
            ["drop('b'): unknown field 'b' at this point of the chain; did you mean 'bb'?"],
        ),
    ],
)
def test_problems(transforms: list[Any], lines: list[str]) -> None:
    assert problems(COLS, transforms) == lines


def test_a_failed_step_leaves_the_columns_and_later_steps_are_checked() -> None:
    lines = problems(COLS, [t.drop("a", "nope"), t.rename(zz="y"), t.drop("a")])
    assert len(lines) == 2
    assert lines[0].startswith("drop('a', 'nope'): unknown field 'nope'")
    assert lines[1].startswith("rename(zz='y'): unknown field 'zz'")
