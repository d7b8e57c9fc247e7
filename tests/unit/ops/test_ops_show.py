"""`topology show`: each transform's effect on the columns, and the whole chain as text."""

from __future__ import annotations

import pytest
from ops_fixtures import SECRETS, people

from streamapp.ops.show import Snapshot, column_effects, render, walk
from streamapp.types import parse_type

S, N = parse_type("string"), parse_type("int")


@pytest.mark.parametrize(
    ("before", "after", "effects"),
    [
        ({"a": ("v1", S)}, {"a": ("v1", S)}, []),
        ({"a": ("v1", S)}, {"b": ("v1", S)}, ["renames a -> b"]),
        ({"a": ("v1", S), "b": ("v2", S)}, {"a": ("v1", S)}, ["drops b"]),
        ({"a": ("v1", S)}, {"a": ("v1", S), "x": ("v3", N)}, ["adds x: int"]),
        ({"a": ("v1", S)}, {"a": ("v2", N)}, ["a: string -> int"]),
        ({"a": ("v1", S)}, {"a": ("v2", S)}, ["masks a"]),
        (
            {"a": ("v1", S), "n": ("v2", S)},
            {"a": ("v1", S), "n_x": ("v3", S), "n_y": ("v4", N)},
            ["drops n", "adds n_x: string, n_y: int"],
        ),
    ],
)
def test_column_effects(before: Snapshot, after: Snapshot, effects: list[str]) -> None:
    assert column_effects(before, after, rewrite_verb="masks") == effects


def test_walk_describes_every_transform_as_written() -> None:
    steps = walk(people(), SECRETS)
    assert [(s.written, s.effects) for s in steps] == [
        ("mask('email', hmac_sha256())", ("masks email",)),
        ("cast(qty='int')", ("qty: string -> int",)),
        ("rename(note='remark')", ("renames note -> remark",)),
        ("metadata('__op')", ("adds __op: string",)),
    ]


def test_render_goes_from_source_to_sinks() -> None:
    assert render(people(), SECRETS) == [
        "topology people",
        "source   app.public.people",
        "  id     int",
        "  email  string",
        "  qty    string",
        "  note   string",
        "  schema drift: new columns ignore, missing columns dlq (README: Schema drift at the "
        "source)",
        "transforms",
        "   1. mask('email', hmac_sha256())",
        "      masks email",
        "   2. cast(qty='int')",
        "      qty: string -> int",
        "   3. rename(note='remark')",
        "      renames note -> remark",
        "   4. metadata('__op')",
        "      adds __op: string",
        "output   warehouse.people (derived schema), key id",
        "  id      int  (key)",
        "  email   string",
        "  qty     int",
        "  remark  string",
        "  __op    string",
        "sinks    postgres:public.people",
        "dlq      app.public.people.dlq (on_error=dlq)",
        "gaps     on_gap=snapshot (events deleted by retention before they were read)",
    ]
