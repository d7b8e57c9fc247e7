"""t.flatten: records, JSON with a shape, maps, arrays, depth, collisions, never losing a leaf."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from transform_fixtures import compiled, event, problems, run

from streamapp.errors import TransformError
from streamapp.records import UNCHANGED
from streamapp.topology import t
from streamapp.types import FLOAT, INT, JSON, STRING, parse_type

ADDRESS = {"street": "string", "city": "string", "geo": {"lat": "float", "lon": "float"}}
COLS: dict[str, Any] = {"id": "int", "address": ADDRESS, "doc": "json", "tags": "map<int>"}
ADDR = {"street": "Main 1", "city": "Berlin", "geo": {"lat": 52.5, "lon": 13.4}}


def _row(**values: Any) -> dict[str, Any]:
    return {"id": 1, "address": dict(ADDR), "doc": None, "tags": None, **values}


@pytest.mark.parametrize(
    ("transform", "expected"),
    [
        (
            t.flatten("address"),
            {
                "address_street": "Main 1",
                "address_city": "Berlin",
                "address_geo_lat": 52.5,
                "address_geo_lon": 13.4,
            },
        ),
        (
            t.flatten("address", sep="__"),
            {
                "address__street": "Main 1",
                "address__city": "Berlin",
                "address__geo__lat": 52.5,
                "address__geo__lon": 13.4,
            },
        ),
        (
            t.flatten("address", max_depth=1),
            {
                "address_street": "Main 1",
                "address_city": "Berlin",
                "address_geo": {"lat": 52.5, "lon": 13.4},
            },
        ),
        (
            t.flatten(),  # every record column
            {
                "address_street": "Main 1",
                "address_city": "Berlin",
                "address_geo_lat": 52.5,
                "address_geo_lon": 13.4,
            },
        ),
    ],
)
def test_flatten_record(transform: Any, expected: dict[str, Any]) -> None:
    out = run(COLS, [transform], _row())
    assert {k: v for k, v in out.items() if k.startswith("address")} == expected
    assert list(out)[:2] == ["id", next(iter(expected))]  # in place of the column
    assert "doc" in out and "address" not in out


def test_flatten_types() -> None:
    top = compiled(COLS, [t.flatten("address", max_depth=1)])
    assert top.output_columns == {
        "id": INT,
        "address_street": STRING,
        "address_city": STRING,
        "address_geo": JSON,
        "doc": JSON,
        "tags": parse_type("map<int>"),
    }


@pytest.mark.parametrize("value", [None, UNCHANGED])
def test_null_and_unchanged_spread_to_every_leaf(value: Any) -> None:
    top = compiled(COLS, [t.flatten("address"), t.flatten("doc", shape={"a": "int"})])
    out = top.process(event("u", after=_row(address=value, doc=value)))[0]
    leaves = [k for k in out.value if k.startswith(("address_", "doc_"))]
    assert len(leaves) == 6
    assert all(out.value[k] is value for k in leaves)
    assert out.unchanged == (frozenset(leaves) if value is UNCHANGED else frozenset())


def test_nested_null_record() -> None:
    out = run(COLS, [t.flatten("address")], _row(address={**ADDR, "geo": None}))
    assert out["address_geo_lat"] is None and out["address_geo_lon"] is None


def test_typed_record_of_the_wrong_shape_is_a_transform_error() -> None:
    top = compiled(COLS, [t.flatten("address")])
    with pytest.raises(TransformError) as info:
        top.process(event("c", after=_row(address={**ADDR, "geo": "52.5,13.4"})))
    assert str(info.value) == (
        "flatten('address'): address.geo holds a str, not the declared record; "
        "check the column's declared source type"
    )


SHIPPING = {"method": "string", "address": {"city": "string", "zip": "string"}}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {"method": "dhl", "address": {"city": "Rome", "zip": "00100"}},
            ("dhl", "Rome", "00100", None),
        ),
        (
            {"method": "dhl", "address": {"city": "Rome", "zip": "1", "floor": 3}, "gift": True},
            ("dhl", "Rome", "1", {"address": {"floor": 3}, "gift": True}),
        ),
        ({"method": 7}, (None, None, None, {"method": 7})),  # wrong type: kept in the rest
        ({"address": "Via Roma 1"}, (None, None, None, {"address": "Via Roma 1"})),
        (["not", "an", "object"], (None, None, None, ["not", "an", "object"])),
        ({}, (None, None, None, None)),
        (None, (None, None, None, None)),
    ],
)
def test_flatten_json_with_shape(doc: Any, expected: tuple[Any, ...]) -> None:
    out = run(COLS, [t.flatten("doc", shape=SHIPPING)], _row(doc=doc))
    names = ("doc_method", "doc_address_city", "doc_address_zip", "doc__rest")
    assert tuple(out[n] for n in names) == expected


def test_json_leaves_are_read_with_the_cast_rules() -> None:
    shape = {"n": "float", "price": "decimal(6,2)", "day": "date", "ok": "bool", "i": "int"}
    doc = {"n": 2, "price": "12.5", "day": "2024-01-02", "ok": "yes", "i": 1.5}
    out = run(COLS, [t.flatten("doc", shape=shape)], _row(doc=doc))
    assert out["doc_n"] == 2.0 and type(out["doc_n"]) is float
    assert out["doc_price"] == Decimal("12.50")
    assert str(out["doc_day"]) == "2024-01-02"
    assert out["doc_ok"] is None and out["doc_i"] is None  # not JSON's bool / int: remainder
    assert out["doc__rest"] == {"ok": "yes", "i": 1.5}


def test_flatten_json_array_with_max_items() -> None:
    shape = [{"sku": "string", "qty": "int"}]
    items = [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2, "gift": True}, {"sku": "C", "qty": 3}]
    top = compiled(COLS, [t.flatten("doc", shape=shape, max_items=2, rest="doc_more")])
    assert [c for c in top.output_columns if c.startswith("doc")] == [
        "doc_0_sku",
        "doc_0_qty",
        "doc_1_sku",
        "doc_1_qty",
        "doc_more",
    ]
    out = top.process(event("c", after=_row(doc=items)))[0].value
    assert (out["doc_0_sku"], out["doc_0_qty"], out["doc_1_sku"], out["doc_1_qty"]) == (
        "A",
        1,
        "B",
        2,
    )
    assert out["doc_more"] == {"1": {"gift": True}, "2": {"sku": "C", "qty": 3}}
    short = top.process(event("c", after=_row(doc=items[:1])))[0].value
    assert short["doc_1_sku"] is None and short["doc_more"] is None


def test_json_array_without_max_items_stays_json() -> None:
    top = compiled(COLS, [t.flatten("doc", shape={"a": "int", "list": ["int"]})])
    assert top.output_columns["doc_list"] == JSON
    out = top.process(event("c", after=_row(doc={"a": 1, "list": [1, 2]})))[0].value
    assert out["doc_list"] == [1, 2] and out["doc__rest"] is None


def test_flatten_typed_array() -> None:
    cols = {"id": "int", "xs": "array<string>"}
    top = compiled(cols, [t.flatten("xs", max_items=2)])
    assert list(top.output_columns) == ["id", "xs_0", "xs_1", "xs__rest"]
    out = top.process(event("c", after={"id": 1, "xs": ["a", "b", "c"]}))[0].value
    assert out == {"id": 1, "xs_0": "a", "xs_1": "b", "xs__rest": {"2": "c"}}


def test_flatten_map_with_shape() -> None:
    top = compiled(COLS, [t.flatten("tags", shape={"a": "int", "b": "string"})])
    assert top.output_columns["tags_a"] == INT and top.output_columns["tags_b"] == STRING
    out = top.process(event("c", after=_row(tags={"a": 1, "b": 2, "zz": 3})))[0].value
    assert (out["tags_a"], out["tags_b"], out["tags__rest"]) == (1, "2", {"zz": 3})


def test_depth_limit_keeps_deeper_values_as_json() -> None:
    shape = {"a": {"b": {"c": "int"}}}
    top = compiled(COLS, [t.flatten("doc", shape=shape, max_depth=2)])
    assert top.output_columns["doc_a_b"] == JSON
    out = top.process(event("c", after=_row(doc={"a": {"b": {"c": 1, "d": [Decimal(1)]}}})))
    assert out[0].value["doc_a_b"] == {"c": 1, "d": ["1"]}


@pytest.mark.parametrize(
    ("cols", "transforms", "line"),
    [
        (
            {"id": "int", "a": {"b_c": "int", "b": {"c": "int"}}},
            [t.flatten("a")],
            "flatten('a'): a.b_c and a.b.c both become column 'a_b_c'; pass another sep=",
        ),
        (
            {"id": "int", "a_b": "int", "a": {"b": "int"}},
            [t.flatten("a")],
            "flatten('a'): a.b becomes column 'a_b', which already exists; pass another sep= "
            "or rename the existing column first",
        ),
        (
            {"id": "int", "doc__rest": "int", "doc": "json"},
            [t.flatten("doc", shape={"x": "int"})],
            "flatten('doc', shape={'x': 'int'}): doc.<remainder> becomes column 'doc__rest', "
            "which already exists; pass another sep= or rename the existing column first",
        ),
        (
            {"id": "int", "doc": "json"},
            [t.flatten("doc")],
            "flatten('doc'): cannot flatten 'doc' (json): its keys are not declared; "
            "pass shape={...}",
        ),
        (
            {"id": "int", "xs": "array<int>"},
            [t.flatten("xs")],
            "flatten('xs'): cannot flatten 'xs' (array<int>): pass max_items=n to turn "
            "positions 0..n-1 into columns",
        ),
        (
            {"id": "int", "n": "int"},
            [t.flatten("n")],
            "flatten('n'): cannot flatten 'n' (int): it is not nested",
        ),
        (
            {"id": "int", "a": {"b": "int"}},
            [t.flatten("a", shape={"b": "int"})],
            "flatten('a', shape={'b': 'int'}): shape= is for json and map columns; 'a' is {b: int}",
        ),
        (
            {"id": "int", "doc": "json"},
            [t.flatten("doc", shape=["a", "b"])],
            "flatten('doc', shape=['a', 'b']): shape: an array shape is a list of one item "
            "shape, e.g. [{'sku': 'string'}]",
        ),
        (
            {"id": "int", "doc": "json"},
            [t.flatten("doc", shape={"b": "bytes"})],
            "flatten('doc', shape={'b': 'bytes'}): doc.b: a bytes cannot be read from here",
        ),
        (
            {"id": "int", "a": {"b": "int"}},
            [t.flatten("a", max_depth=0, sep="")],
            "flatten('a', sep='', max_depth=0): sep must be a non-empty string",
        ),
        (
            {"id": "int", "a": {"b": "int"}},
            [t.flatten("zz")],
            "flatten('zz'): unknown field 'zz' at this point of the chain; columns here: id, a",
        ),
    ],
)
def test_flatten_problems(cols: dict[str, Any], transforms: list[Any], line: str) -> None:
    assert problems(cols, transforms)[0] == line


def test_float_leaf_type() -> None:
    assert compiled(COLS, [t.flatten("address")]).output_columns["address_geo_lat"] == FLOAT


# Property: a leaf is never lost. Build random JSON documents over a small key alphabet, flatten
# them with a fixed shape, rebuild the document from the columns and the remainder, and compare
# (null values and empty containers are not leaves).
SHAPE = {"a": "string", "b": {"c": "int", "d": "json", "e": ["string"]}, "f": ["bool"]}
KEYS = st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])
SCALARS = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3)
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=15,
)
NEAR_SHAPE = st.fixed_dictionaries(
    {},
    optional={
        "a": DOCS,
        "b": st.fixed_dictionaries(
            {}, optional={"c": DOCS, "d": DOCS, "e": st.lists(DOCS, max_size=4), "g": DOCS}
        ),
        "f": st.lists(DOCS, max_size=4),
        "g": DOCS,
    },
)
FLAT = compiled({"id": "int", "doc": "json"}, [t.flatten("doc", shape=SHAPE, max_items=2)])


def _normal(value: Any) -> Any:
    if isinstance(value, dict):
        items = {str(k): _normal(v) for k, v in value.items()}
        return {k: v for k, v in items.items() if v is not None} or None
    if isinstance(value, list):
        return _normal({str(i): v for i, v in enumerate(value)})
    return value


def _put(target: dict[str, Any], path: list[str], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target.setdefault(path[-1], value)


def _merge(into: Any, rest: Any) -> Any:
    if isinstance(into, dict) and isinstance(rest, dict):
        for k, v in rest.items():
            into[k] = _merge(into.get(k), v)
        return into
    return rest if into is None else into


@given(DOCS | NEAR_SHAPE)
@example({"f": [True, False, True], "b": {"e": ["x", "y", "z"], "c": "3"}})
def test_flatten_never_loses_a_leaf(doc: Any) -> None:
    out = FLAT.process(event("c", after={"id": 1, "doc": doc}))[0].value
    rest = out["doc__rest"]
    columns = {k: v for k, v in out.items() if k.startswith("doc_") and k != "doc__rest"}
    if not isinstance(doc, dict):  # not the declared object: all of it is the remainder
        assert all(v is None for v in columns.values())
        assert rest == doc
        return
    rebuilt: dict[str, Any] = {}
    for column, value in columns.items():
        if value is not None:
            _put(rebuilt, column.split("_")[1:], value)
    assert _normal(_merge(rebuilt, rest)) == _normal(doc)


def test_missing_nested_key_is_null() -> None:
    out = run(COLS, [t.flatten("address")], _row(address={"street": "s", "geo": {"lat": 1.0}}))
    assert (out["address_street"], out["address_city"]) == ("s", None)
    assert (out["address_geo_lat"], out["address_geo_lon"]) == (1.0, None)


def test_typed_record_flatten_is_straight_line_code() -> None:
    source = compiled(COLS, [t.flatten("address")]).source_code
    assert "['street']" in source and "['geo']" in source
