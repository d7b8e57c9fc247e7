"""compatibility_problems: one table row per Avro resolution rule, in each direction."""

from __future__ import annotations

from typing import Any

import pytest
from encode_strategies import columns
from hypothesis import given

from streamapp.encode.compat import compatibility_problems
from streamapp.encode.schema import avro_schema_for
from streamapp.errors import ConfigError
from streamapp.types import FieldType

BACK = "(BACKWARD: new readers must read old data)"
FWD = "(FORWARD: old readers must read new data)"


def rec(*fields: dict[str, Any], name: str = "T", **extra: Any) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "ns", "fields": list(fields), **extra}


def f(name: str, t: Any, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": t, **extra}


def dec(p: int, s: int) -> dict[str, Any]:
    return {"type": "bytes", "logicalType": "decimal", "precision": p, "scale": s}


def enum(*symbols: str, **extra: Any) -> dict[str, Any]:
    return {"type": "enum", "name": "E", "symbols": list(symbols), **extra}


def ts(unit: str) -> dict[str, Any]:
    return {"type": "long", "logicalType": f"timestamp-{unit}"}


BASE = rec(f("id", "long"))

CASES: list[tuple[str, dict[str, Any], dict[str, Any], str, list[str]]] = [
    ("identical", BASE, BASE, "FULL", []),
    ("field added with default", BASE, rec(f("id", "long"), f("x", "int", default=0)), "FULL", []),
    ("field added without default", BASE, rec(f("id", "long"), f("x", "int")), "BACKWARD",
     [f"field 'x': added without a default {BACK}"]),
    ("field added without default is fine forward", BASE, rec(f("id", "long"), f("x", "int")),
     "FORWARD", []),
    ("field removed without default", rec(f("id", "long"), f("x", "int")), BASE, "FORWARD",
     [f"field 'x': removed, and the old schema has no default for it {FWD}"]),
    ("field removed with default", rec(f("id", "long"), f("x", "int", default=1)), BASE,
     "FORWARD", []),
    ("field removed is fine backward", rec(f("id", "long"), f("x", "int")), BASE, "BACKWARD", []),
    ("int promoted to long", rec(f("id", "int")), BASE, "BACKWARD", []),
    ("long demoted to int", BASE, rec(f("id", "int")), "BACKWARD",
     [f"field 'id': type changed from long to int — not a legal Avro promotion {BACK}"]),
    ("int to long read by old int readers", rec(f("id", "int")), BASE, "FORWARD",
     [f"field 'id': type changed from int to long — not a legal Avro promotion {FWD}"]),
    ("float to double", rec(f("x", "float")), rec(f("x", "double")), "BACKWARD", []),
    ("string to bytes", rec(f("x", "string")), rec(f("x", "bytes")), "FULL", []),
    ("decimal to string", rec(f("total", dec(12, 2))), rec(f("total", "string")), "BACKWARD",
     [f"field 'total': type changed from bytes/decimal(12,2) to string — the promotion would "
      f"misread the values {BACK}"]),
    ("string to boolean", rec(f("x", "string")), rec(f("x", "boolean")), "BACKWARD",
     [f"field 'x': type changed from string to boolean — not a legal Avro promotion {BACK}"]),
    ("nullability narrowed", rec(f("x", ["null", "string"])), rec(f("x", "string")), "BACKWARD",
     [f"field 'x': nullability narrowed: the old schema allows null, the new one does not "
      f"{BACK}"]),
    ("nullability widened backward", rec(f("x", "string")), rec(f("x", ["null", "string"])),
     "BACKWARD", []),
    ("nullability widened forward", rec(f("x", "string")), rec(f("x", ["null", "string"])),
     "FORWARD", [f"field 'x': became nullable, but the old schema cannot read null {FWD}"]),
    ("union branch removed", rec(f("x", ["null", "string", "long"])),
     rec(f("x", ["null", "string"])), "BACKWARD",
     [f"field 'x': type changed from long to union[null, string] — not a legal Avro promotion "
      f"{BACK}"]),
    ("union branch promoted", rec(f("x", ["null", "int"])), rec(f("x", ["null", "long"])),
     "BACKWARD", []),
    ("union reordered", rec(f("x", ["null", "string"])), rec(f("x", ["string", "null"])),
     "FULL", []),
    ("enum symbol removed", rec(f("e", enum("A", "B"))), rec(f("e", enum("A"))), "BACKWARD",
     [f"field 'e': enum symbol 'B' removed {BACK}"]),
    ("enum symbol added", rec(f("e", enum("A"))), rec(f("e", enum("A", "B"))), "FORWARD",
     [f"field 'e': enum symbol 'B' added, and the old enum has no default {FWD}"]),
    ("enum symbol added with old default", rec(f("e", enum("A", default="A"))),
     rec(f("e", enum("A", "B"))), "FORWARD", []),
    ("record renamed", BASE, rec(f("id", "long"), name="U"), "BACKWARD",
     [f"schema: record name changed from ns.T to ns.U; add the old name to the new schema's "
      f"aliases {BACK}"]),
    ("record renamed with alias", BASE, rec(f("id", "long"), name="U", aliases=["T"]),
     "BACKWARD", []),
    ("record renamed forward", BASE, rec(f("id", "long"), name="U"), "FORWARD",
     [f"schema: record name changed from ns.T to ns.U {FWD}"]),
    ("field renamed with alias", rec(f("a", "long")), rec(f("b", "long", aliases=["a"])),
     "BACKWARD", []),
    ("fixed size changed", rec(f("x", {"type": "fixed", "name": "F", "size": 4})),
     rec(f("x", {"type": "fixed", "name": "F", "size": 8})), "BACKWARD",
     [f"field 'x': fixed size changed from fixed(4) to fixed(8) {BACK}"]),
    ("decimal scale changed", rec(f("d", dec(12, 2))), rec(f("d", dec(12, 3))), "BACKWARD",
     [f"field 'd': decimal scale changed from 2 to 3 — values would be misread {BACK}"]),
    ("decimal precision narrowed", rec(f("d", dec(12, 2))), rec(f("d", dec(10, 2))), "BACKWARD",
     [f"field 'd': decimal precision narrowed from 12 to 10 — old values may not fit {BACK}"]),
    ("decimal precision widened backward", rec(f("d", dec(10, 2))), rec(f("d", dec(12, 2))),
     "BACKWARD", []),
    ("decimal precision widened forward", rec(f("d", dec(10, 2))), rec(f("d", dec(12, 2))),
     "FORWARD",
     [f"field 'd': decimal precision widened from 10 to 12 — old readers overflow {FWD}"]),
    ("logical type swapped", rec(f("t", ts("millis"))), rec(f("t", ts("micros"))), "BACKWARD",
     [f"field 't': logical type changed from long/timestamp-millis to long/timestamp-micros — "
      f"values would be misread {BACK}"]),
    ("logical type added", rec(f("t", "long")), rec(f("t", ts("micros"))), "FULL", []),
    ("array items changed", rec(f("a", {"type": "array", "items": "long"})),
     rec(f("a", {"type": "array", "items": "string"})), "BACKWARD",
     [f"field 'a[]': type changed from long to string — not a legal Avro promotion {BACK}"]),
    ("map values changed", rec(f("m", {"type": "map", "values": "string"})),
     rec(f("m", {"type": "map", "values": "long"})), "BACKWARD",
     [f"field 'm{{}}': type changed from string to long — not a legal Avro promotion {BACK}"]),
    ("nested field added without default",
     rec(f("a", ["null", rec(f("x", "long"), name="A")], default=None)),
     rec(f("a", ["null", rec(f("x", "long"), f("y", "long"), name="A")], default=None)),
     "BACKWARD", [f"field 'a.y': added without a default {BACK}"]),
    ("nested record in non-null reader",
     rec(f("a", ["null", rec(f("x", "long"), name="A")], default=None)),
     rec(f("a", rec(f("x", "string"), name="A"))), "BACKWARD",
     [f"field 'a': nullability narrowed: the old schema allows null, the new one does not {BACK}",
      f"field 'a.x': type changed from long to string — not a legal Avro promotion {BACK}"]),
    ("top-level type changed", BASE, {"type": "string"}, "BACKWARD",
     [f"schema: type changed from record ns.T to string — not a legal Avro promotion {BACK}"]),
    ("named type reference", rec(f("e", enum("A", "B")), f("e2", "E")),
     rec(f("e", enum("A", "B")), f("e2", "E")), "FULL", []),
    ("level NONE", BASE, {"type": "string"}, "NONE", []),
    ("level is case-insensitive", BASE, rec(f("id", "long"), f("x", "int")), "backward",
     [f"field 'x': added without a default {BACK}"]),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "level", "expected"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_rules(old: dict[str, Any], new: dict[str, Any], level: str, expected: list[str]) -> None:
    assert compatibility_problems(old, new, level) == expected


def test_full_reports_both_directions() -> None:
    old = rec(f("id", "int"), f("x", "string"))
    new = rec(f("id", "long"), f("y", "string"))
    assert compatibility_problems(old, new, "FULL") == [
        "field 'y': added without a default (FULL: new readers must read old data)",
        "field 'id': type changed from int to long — not a legal Avro promotion "
        "(FULL: old readers must read new data)",
        "field 'x': removed, and the old schema has no default for it "
        "(FULL: old readers must read new data)",
    ]


V1 = rec(f("id", "long"))
V2 = rec(f("id", "long"), f("x", "int", default=0))
V3 = rec(f("id", "long"), f("x", "int"))  # compatible with V2 (x exists there), not with V1


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("BACKWARD", []),
        ("BACKWARD_TRANSITIVE", [
            "field 'x': added without a default (BACKWARD_TRANSITIVE: new readers must read data "
            "of old version 1 (of 2))"]),
        ("FORWARD_TRANSITIVE", []),
        ("FULL_TRANSITIVE", [
            "field 'x': added without a default (FULL_TRANSITIVE: new readers must read data "
            "of old version 1 (of 2))"]),
    ],
)  # fmt: skip
def test_transitive_levels_check_every_old_version(level: str, expected: list[str]) -> None:
    assert compatibility_problems([V1, V2], V3, level) == expected


def test_no_old_versions_means_no_problems() -> None:
    assert compatibility_problems([], V1, "FULL_TRANSITIVE") == []


def test_recursive_types_terminate() -> None:
    node = rec(f("v", "long"), f("next", ["null", "ns.T"], default=None))
    assert compatibility_problems(node, node, "FULL") == []


@pytest.mark.parametrize(
    ("old", "new", "level", "needle"),
    [
        (V1, V1, "SIDEWAYS", "unknown compatibility level 'SIDEWAYS'"),
        (V1, rec(f("x", "nope")), "BACKWARD", "the new schema is not valid Avro"),
        ({"type": "nope"}, V1, "BACKWARD", "the old schema is not valid Avro"),
    ],
)
def test_bad_input_is_a_config_error(
    old: dict[str, Any], new: dict[str, Any], level: str, needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        compatibility_problems(old, new, level)


@given(columns())
def test_adding_a_column_to_a_streamapp_schema_is_fully_compatible(
    cols: dict[str, FieldType],
) -> None:
    *first, (last, last_type) = cols.items()
    old = avro_schema_for(dict(first), name="o", namespace="ns", key_columns=())
    new = avro_schema_for(cols, name="o", namespace="ns", key_columns=())
    assert compatibility_problems(old, new, "FULL") == []
    assert compatibility_problems(new, old, "FULL") == []  # and dropping it again
    assert last_type is cols[last]
