"""Lazy before-images in the Avro reader: skipping every Avro type exactly, block layouts."""

from __future__ import annotations

import io
import random
from typing import Any

import fastavro
import pytest
from avro_gen import Branch, encode, rows
from decode_helpers import DictResolver, field, opt
from hypothesis import given
from hypothesis import strategies as st

from streamapp.decode import Decoder
from streamapp.decode.avro import compile_plan
from streamapp.decode.avroread import compile_reader
from streamapp.decode.schema import from_avro
from streamapp.errors import DecodeError
from streamapp.wire import frame

OPS = ("c", "u", "d", "r", "t", "m")


def _plain(value: Any) -> Any:
    """A tagged value (unions as Branch) -> what fastavro writes from / reads back."""
    if isinstance(value, Branch):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@given(rows(semantic=False), st.data(), st.randoms(use_true_random=False))
def test_eager_reader_matches_fastavro_for_any_block_layout(
    row: tuple[Any, Any], data: st.DataObject, rnd: random.Random
) -> None:
    """The encoder under test is checked against fastavro, and so is the eager reader."""
    schema, values = row
    value = data.draw(values)
    body = encode(schema, value, rnd)
    parsed = fastavro.parse_schema(schema)
    expected = fastavro.schemaless_reader(io.BytesIO(body), parsed)
    assert expected == _plain(value)
    read = compile_reader(from_avro(parsed), rows=frozenset(), raw=frozenset())
    assert read(body, 0) == (expected, len(body))


def _envelope(row_schema: Any, order: list[str], before_optional: bool) -> dict[str, Any]:
    ref = f"{row_schema['namespace']}.{row_schema['name']}"
    types = {
        "before": ["null", row_schema] if before_optional else row_schema,
        "after": ["null", ref],
        "op": "string",
        "tail": "long",
    }
    if order.index("before") > order.index("after"):  # the full definition comes first
        types["before"], types["after"] = (
            ["null", ref] if before_optional else ref,
            ["null", row_schema],
        )
    return {
        "type": "record",
        "name": "Envelope",
        "namespace": "db.public.t",
        "fields": [{"name": n, "type": types[n]} for n in order],
    }


@given(
    rows(semantic=True),
    st.data(),
    st.randoms(use_true_random=False),
    st.sampled_from(OPS),
    st.permutations(["before", "after", "op", "tail"]),
    st.booleans(),
)
def test_lazy_reader_equals_eager_except_before_of_non_deletes(
    row: tuple[Any, Any],
    data: st.DataObject,
    rnd: random.Random,
    op: str,
    order: list[str],
    before_optional: bool,
) -> None:
    """Skipping lands exactly where reading does, for every Avro type and block layout."""
    schema, values = row
    env = _envelope(schema, order, before_optional)
    value = {
        "before": data.draw(values) if not before_optional else data.draw(st.none() | values),
        "after": data.draw(st.none() | values),
        "op": op,
        "tail": data.draw(st.integers(-(2**63), 2**63 - 1)),
    }
    tagged = {
        "before": value["before"]
        if not before_optional
        else Branch(0 if value["before"] is None else 1, value["before"]),
        "after": Branch(0 if value["after"] is None else 1, value["after"]),
        "op": op,
        "tail": value["tail"],
    }
    message = frame(7, encode(env, tagged, rnd))
    parsed = fastavro.parse_schema(env)
    eager = compile_plan(7, parsed).decode(message)
    lazy_plan = compile_plan(7, parsed, lazy_before=True)
    assert lazy_plan.lazy_before
    lazy = lazy_plan.decode(message)
    expected = eager if op == "d" else {**eager, "before": None}
    assert lazy == expected
    assert list(lazy) == list(eager)  # field order kept
    with pytest.raises(DecodeError, match="left over"):
        lazy_plan.decode(message + b"\x00")


ARRAYS = {
    "type": "record",
    "name": "Arrays",
    "fields": [
        field("doubles", {"type": "array", "items": "double"}),
        field("nulls", {"type": "array", "items": "null"}),
        field("pairs", {"type": "array", "items": {"type": "fixed", "name": "P", "size": 2}}),
        field("texts", {"type": "map", "values": "string"}),
        field("empty", {"type": "map", "values": "null"}),
    ],
}


def _skip_env(row: Any) -> dict[str, Any]:
    return {
        "type": "record",
        "name": "Env",
        "fields": [field("before", opt(row)), field("op", "string"), field("after", "long")],
    }


def _zz(n: int) -> bytes:
    return bytes([(n << 1) ^ (n >> 63)])


@pytest.mark.parametrize(
    ("name", "before"),
    [
        ("positive blocks", _zz(2) + b"\x00" * 16 + _zz(0)),
        ("negative count with size", _zz(-2) + _zz(16) + b"\x00" * 16 + _zz(0)),
        ("two blocks", _zz(1) + b"\x00" * 8 + _zz(-1) + _zz(8) + b"\x00" * 8 + _zz(0)),
    ],
)
def test_skip_fixed_width_items_in_one_jump(name: str, before: bytes) -> None:
    body = (
        b"\x02"  # before present
        + before  # doubles
        + _zz(3) + _zz(-2) + _zz(0) + _zz(0)  # nulls: 3 + 2 items of zero bytes
        + _zz(-1) + _zz(2) + b"ab" + _zz(0)  # pairs
        + _zz(-1) + _zz(4) + _zz(1) + b"k" + _zz(1) + b"v" + _zz(0)  # texts
        + _zz(2) + _zz(1) + b"a" + _zz(1) + b"b" + _zz(0)  # empty: keys only
        + _zz(1) + b"u"  # op
        + _zz(42)  # after
    )  # fmt: skip
    env = _skip_env(ARRAYS)
    plan = compile_plan(3, fastavro.parse_schema(env), lazy_before=True)
    assert plan.decode(frame(3, body)) == {"before": None, "op": "u", "after": 42}, name
    eager = compile_plan(3, fastavro.parse_schema(env)).decode(frame(3, body))
    assert eager["after"] == 42 and len(eager["before"]["doubles"]) == 2


@pytest.mark.parametrize(
    ("body", "what"),
    [
        # count -1, then a byte size of -3 that would jump back to the start
        (b"\x02" + _zz(-1) + _zz(-3), "ValueError"),
        (b"\x06", "ValueError"),  # union index 3 of a 2-branch union
        (b"\x02" + _zz(1) + b"\x00" * 3, "shorter than the writer schema"),
    ],
)
def test_skip_rejects_malformed_bodies(body: bytes, what: str) -> None:
    row = {
        "type": "record",
        "name": "R",
        "fields": [field("d", {"type": "array", "items": "double"})],
    }
    env = _skip_env(row)
    dec = Decoder(resolver=DictResolver({3: env}), needs_before=False)
    with pytest.raises(DecodeError, match=f"cannot read field 'before'.*{what}"):
        dec.decode(None, frame(3, body), topic="t")


def test_negative_block_byte_size_is_refused_not_followed() -> None:
    row = {
        "type": "record",
        "name": "R",
        "fields": [field("d", {"type": "array", "items": "long"})],
    }
    plan = compile_plan(3, fastavro.parse_schema(_skip_env(row)), lazy_before=True)
    with pytest.raises(ValueError, match="negative block byte size"):
        plan.read(frame(3, b"\x02" + _zz(-1) + _zz(-3)), 5)
