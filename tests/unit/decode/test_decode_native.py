"""The native (C) flat-run reader: identical to the pure-Python reader for any schema and bytes."""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Callable
from types import ModuleType
from typing import Any

import fastavro
import pytest
from avro_gen import _PRIMITIVE_VALUES, SEMANTIC, Branch, encode, rows
from hypothesis import given
from hypothesis import strategies as st

from streamapp.decode import avroflat
from streamapp.decode.avroread import Reader, compile_reader
from streamapp.decode.schema import SType, from_avro
from streamapp.decode.semantic import PLACEHOLDER, PLACEHOLDER_BYTES
from streamapp.records import UNCHANGED

_avrorows: ModuleType = pytest.importorskip("streamapp.decode._avrorows")
ROWS = frozenset({"before", "after"})


@pytest.fixture(autouse=True)
def native(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The extension, in use by compile_reader even when STREAMAPP_NATIVE=0 disabled it."""
    _avrorows.configure(PLACEHOLDER_BYTES, UNCHANGED)
    monkeypatch.setattr(avroflat, "NATIVE", _avrorows)
    return _avrorows


def same(a: Any, b: Any) -> bool:
    """Equal values of identical types (bool is not int, NaN equals NaN bit for bit)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def outcome(read: Callable[..., Any], buf: bytes) -> tuple[Any, ...]:
    """("ok", value, end) or ("error", exception class, message)."""
    try:
        value, end = read(buf, 0)
    except Exception as exc:  # noqa: BLE001 - any exception is an outcome to compare
        return ("error", type(exc), str(exc))
    return ("ok", value, end)


def same_outcome(a: tuple[Any, ...], b: tuple[Any, ...], *, message: bool = True) -> bool:
    if a[0] != b[0]:
        return False
    if a[0] == "error":
        return a[1] is b[1] and (not message or a[2] == b[2])
    return same(a[1], b[1]) and a[2] == b[2]


def _flat_node(draw: Callable[..., Any], i: int) -> tuple[Any, st.SearchStrategy[Any]]:
    kind = draw(st.sampled_from(["primitive", "fixed", "semantic", "optional", "optional"]))
    if kind == "fixed":
        size = draw(st.integers(0, 9))
        return {"type": "fixed", "name": f"F{i}", "size": size}, st.binary(
            min_size=size, max_size=size
        )
    if kind == "semantic":
        node: tuple[Any, st.SearchStrategy[Any]] = draw(st.sampled_from(SEMANTIC))
        return node
    if kind == "primitive":
        name = draw(st.sampled_from(sorted(_PRIMITIVE_VALUES)))
        return name, _PRIMITIVE_VALUES[name]
    inner, values = _flat_node(draw, i)
    if inner == "null" or isinstance(inner, list):  # no nested unions
        return inner, values
    nulls = st.none()
    if draw(st.booleans()):
        return ["null", inner], nulls.map(lambda v: Branch(0, v)) | values.map(
            lambda v: Branch(1, v)
        )
    return [inner, "null"], values.map(lambda v: Branch(0, v)) | nulls.map(lambda v: Branch(1, v))


@st.composite
def flat_rows(draw: Callable[..., Any]) -> tuple[Any, st.SearchStrategy[Any]]:
    """A Debezium-like row: 1-25 fields, each a primitive, fixed, semantic type or optional."""
    count = draw(st.integers(1, 25))
    fields = [(f"c{i}", _flat_node(draw, i)) for i in range(count)]
    schema = {
        "type": "record",
        "name": "Row",
        "namespace": "db.public.t",
        "fields": [{"name": n, "type": s} for n, (s, _) in fields],
    }
    return schema, st.fixed_dictionaries({n: v for n, (_, v) in fields})


def envelope(row: Any) -> dict[str, Any]:
    source = {
        "type": "record",
        "name": "Source",
        "fields": [
            {"name": "connector", "type": "string"},
            {"name": "lsn", "type": ["null", "long"]},
            {"name": "snapshot", "type": ["null", "string"]},
        ],
    }
    return {
        "type": "record",
        "name": "Envelope",
        "namespace": "db.public.t",
        "fields": [
            {"name": "before", "type": ["null", row]},
            {
                "name": "after",
                "type": ["null", f"{row.get('namespace', 'db.public.t')}.{row['name']}"],
            },
            {"name": "source", "type": source},
            {"name": "op", "type": "string"},
            {"name": "ts_ms", "type": ["null", "long"]},
        ],
    }


def readers(schema: Any, *, lazy: bool) -> tuple[Reader, Reader]:
    top = from_avro(fastavro.parse_schema(schema))
    native = compile_reader(top, rows=ROWS, raw=frozenset(), lazy_before=lazy)
    pure = compile_reader(top, rows=ROWS, raw=frozenset(), lazy_before=lazy, native=False)
    return native, pure


def event_body(data: st.DataObject, row: Any, rnd: random.Random) -> tuple[dict[str, Any], bytes]:
    schema, values = row
    env = envelope(schema)
    maybe_row = st.none().map(lambda v: Branch(0, v)) | values.map(lambda v: Branch(1, v))
    value = {
        "before": data.draw(maybe_row),
        "after": data.draw(maybe_row),
        "source": {
            "connector": "postgresql",
            "lsn": Branch(1, data.draw(st.integers(0, 2**40))),
            "snapshot": Branch(0, None),
        },
        "op": data.draw(st.sampled_from(["c", "u", "d", "r"])),
        "ts_ms": Branch(1, 1_700_000_000_000),
    }
    return env, encode(env, value, rnd)


@given(flat_rows() | rows(semantic=True), st.data(), st.randoms(use_true_random=False))
def test_native_reader_equals_pure_reader(
    row: tuple[Any, Any], data: st.DataObject, rnd: random.Random
) -> None:
    env, body = event_body(data, row, rnd)
    for lazy in (False, True):
        native, pure = readers(env, lazy=lazy)
        assert "_fr" in native.__globals__  # the source block alone is a run
        native.__globals__["_pure"] = _no_fallback  # valid bytes never need the re-read
        got, want = outcome(native, body), outcome(pure, body)
        assert want[0] == "ok"
        assert same_outcome(got, want), (lazy, got, want)


def _no_fallback(buf: bytes, pos: int) -> tuple[Any, int]:
    raise AssertionError("the native reader failed on a valid body")


def mutate(body: bytes, data: st.DataObject) -> bytes:
    """A truncated, overwritten, inserted-into or shortened copy of ``body``."""
    kind = data.draw(st.sampled_from(["truncate", "overwrite", "insert", "delete"]))
    at = data.draw(st.integers(0, max(len(body) - 1, 0)))
    if kind == "truncate":
        return body[:at]
    byte = bytes([data.draw(st.sampled_from([0, 1, 2, 3, 4, 0x7F, 0x80, 0xC3, 0xFF]))])
    if kind == "overwrite":
        return body[:at] + byte + body[at + 1 :]
    if kind == "insert":
        return body[:at] + byte + body[at:]
    return body[:at] + body[at + 1 :]


@given(flat_rows() | rows(semantic=True), st.data(), st.randoms(use_true_random=False))
def test_corrupt_bytes_give_the_pure_readers_outcome(
    row: tuple[Any, Any], data: st.DataObject, rnd: random.Random
) -> None:
    """Same exception (class and message) or the same value and end, for damaged bodies."""
    env, body = event_body(data, row, rnd)
    for _ in range(3):
        body = mutate(body, data)
        for lazy in (False, True):
            native, pure = readers(env, lazy=lazy)
            got, want = outcome(native, body), outcome(pure, body)
            assert same_outcome(got, want), (lazy, got, want)


def _row_schema(schema: Any) -> tuple[SType, bytes, bytes]:
    """The row's SType and its programs without and with TOAST checks."""
    top = from_avro(fastavro.parse_schema(schema))
    types = [ftype for _, ftype in top.fields]
    return top, avroflat.program(types, toast=False), avroflat.program(types, toast=True)


def _strip_semantics(schema: Any) -> Any:
    """The same physical schema without Connect semantic names (raw values, no conversion)."""
    if isinstance(schema, list):
        return [_strip_semantics(s) for s in schema]
    if isinstance(schema, dict):
        return {k: _strip_semantics(v) for k, v in schema.items() if k != "connect.name"}
    return schema


@given(flat_rows(), st.data(), st.randoms(use_true_random=False))
def test_c_read_and_skip_raise_what_python_raises(
    row: tuple[Any, Any], data: st.DataObject, rnd: random.Random
) -> None:
    """The C functions alone (no pure-Python re-read): same values and exception classes."""
    schema, values = row
    schema = _strip_semantics(schema)
    top, prog, _ = _row_schema(schema)
    body = mutate(encode(schema, data.draw(values), rnd), data)
    pure = compile_reader(top, rows=frozenset(), raw=frozenset(), native=False)
    want = outcome(pure, body)
    got = outcome(lambda b, p: _tuple_to_row(top, _avrorows.read(b, p, prog)), body)
    assert same_outcome(got, want, message=False), (got, want)
    # skip: the pure lazy reader of {before: row, op: string} vs C skip + reading op
    env = {
        "type": "record",
        "name": "E",
        "fields": [{"name": "before", "type": schema}, {"name": "op", "type": "string"}],
    }
    lazy = compile_reader(
        from_avro(fastavro.parse_schema(env)),
        rows=frozenset(),
        raw=frozenset(),
        lazy_before=True,
        native=False,
    )
    text = avroflat.program([SType("string")], toast=False)
    tail = body + b"\x02u"

    def skip_then_op(b: bytes, p: int) -> tuple[Any, int]:
        op, end = _avrorows.read(b, _avrorows.skip(b, p, prog), text)
        return {"before": None, "op": op}, end

    assert same_outcome(outcome(skip_then_op, tail), outcome(lazy, tail), message=False)


def _tuple_to_row(top: SType, result: tuple[Any, ...]) -> tuple[dict[str, Any], int]:
    *values, end = result
    return dict(zip([n for n, _ in top.fields], values, strict=True)), end


FLAT = {
    "type": "record",
    "name": "Flat",
    "fields": [
        {"name": "s", "type": ["null", "string"]},
        {"name": "b", "type": ["bytes", "null"]},
        {"name": "l", "type": "long"},
    ],
}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"\x02\x02a\x00\x02a\x04", ("a", b"a", 2)),
        (b"\x00\x02\x7f", (None, None, -64)),
        (b"\x00\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", (None, None, -(2**63))),
        (b"\x00\x02\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01", (None, None, 2**63 - 1)),
        (b"\x00\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02", ValueError),  # 10th byte > 1
        (b"\x00\x02\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", ValueError),  # 11 bytes
        (b"\x04", ValueError),  # union branch 2 of ["null", string]
        (b"\x02\x01", ValueError),  # negative length, one byte
        (b"\x02\x81\x01", ValueError),  # negative length, two bytes
        (b"\x02\x02\xff\x00\x00\x00", UnicodeDecodeError),
        (b"\x02", IndexError),  # string length missing
        (b"\x00\x00\x02\x01", IndexError),  # the long is missing
        (b"\x02\x06ab", IndexError),  # string truncated: pos passes the end, next read fails
    ],
)
def test_c_read_cases(body: bytes, expected: Any) -> None:
    top, prog, _ = _row_schema(FLAT)
    pure = compile_reader(top, rows=frozenset(), raw=frozenset(), native=False)
    if isinstance(expected, tuple):
        *values, end = _avrorows.read(body, 0, prog)
        assert tuple(values) == expected and end == len(body)
        assert pure(body, 0) == (dict(zip("sbl", expected, strict=True)), len(body))
        return
    with pytest.raises(expected):
        _avrorows.read(body, 0, prog)
    with pytest.raises(expected):
        pure(body, 0)


@pytest.mark.parametrize("kind", ["string", "bytes"])
@pytest.mark.parametrize("length", [b"\x01", b"\x03", b"\x81\x01", b"\xff\x7f"])
def test_negative_lengths_are_refused(kind: str, length: bytes) -> None:
    prog = avroflat.program([SType(kind), SType("long")], toast=False)
    for fn in (_avrorows.read, _avrorows.skip):
        with pytest.raises(ValueError, match="negative length"):
            fn(length + b"\x02\x02", 0, prog)


@pytest.mark.parametrize("byte", [0, 1, 2, 5, 0x80, 0xFF])
def test_any_nonzero_byte_is_true(byte: int) -> None:
    schema = {
        "type": "record",
        "name": "B",
        "fields": [{"name": "a", "type": "boolean"}, {"name": "b", "type": ["null", "boolean"]}],
    }
    top, prog, _ = _row_schema(schema)
    body = bytes([byte, 2, byte])
    pure = compile_reader(top, rows=frozenset(), raw=frozenset(), native=False)
    want = ({"a": byte != 0, "b": byte != 0}, 3)
    assert pure(body, 0) == want
    assert same(_tuple_to_row(top, _avrorows.read(body, 0, prog)), want)


def test_huge_length_past_the_end_gives_pythons_position() -> None:
    """A corrupt length near 2**63 truncates the value and moves past the end, exactly."""
    schema = {
        "type": "record",
        "name": "T",
        "fields": [{"name": "a", "type": "bytes"}, {"name": "b", "type": "bytes"}],
    }
    top, prog, _ = _row_schema(schema)
    big = b"\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01"  # 2**63 - 1
    with pytest.raises(IndexError):
        _avrorows.read(big + b"xy", 0, prog)
    huge = {"type": "record", "name": "H", "fields": [{"name": "a", "type": "bytes"}]}
    top, prog, _ = _row_schema(huge)
    pure = compile_reader(top, rows=frozenset(), raw=frozenset(), native=False)
    value, end = _avrorows.read(big + b"xy", 0, prog)
    assert (value, end) == (b"xy", 10 + 2**63 - 1)
    assert pure(big + b"xy", 0) == ({"a": b"xy"}, end)
    jumps = avroflat.program([SType("bytes"), SType("boolean"), SType("double")], toast=False)
    assert _avrorows.skip(big, 0, jumps) == 10 + 2**63 - 1 + 1 + 8  # fixed widths: not read


@pytest.mark.parametrize(
    ("kind", "width", "body"),
    [("float", 4, b"\x00\x00\x80"), ("double", 8, b"\x00" * 7), ("double", 8, b"")],
)
def test_short_float_is_a_struct_error(kind: str, width: int, body: bytes) -> None:
    prog = avroflat.program([SType(kind), SType(kind)], toast=False)
    with pytest.raises(struct.error):
        _avrorows.read(b"\x00" * width + body, 0, prog)
    assert _avrorows.skip(body, 0, prog) == 2 * width  # skipping never reads fixed widths


@pytest.mark.parametrize(
    ("toast", "value", "expected"),
    [
        (True, PLACEHOLDER.encode(), (UNCHANGED, UNCHANGED)),
        (False, PLACEHOLDER.encode(), (PLACEHOLDER, PLACEHOLDER_BYTES)),
        (True, PLACEHOLDER.encode()[:-1], (PLACEHOLDER[:-1], PLACEHOLDER_BYTES[:-1])),
        (
            True,
            PLACEHOLDER.encode()[:-1] + b"X",
            (PLACEHOLDER[:-1] + "X", PLACEHOLDER_BYTES[:-1] + b"X"),
        ),
    ],
)
def test_toast_flag_replaces_only_the_exact_placeholder(
    toast: bool, value: bytes, expected: tuple[Any, Any]
) -> None:
    _, plain, checked = _row_schema(FLAT)
    n = bytes([len(value) * 2])
    body = b"\x02" + n + value + b"\x00" + n + value + b"\x00"
    *values, _ = _avrorows.read(body, 0, checked if toast else plain)
    assert tuple(values[:2]) == expected


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((bytearray(b"\x00"), 0, b"\x01\x00\x02"), TypeError),
        ((b"\x00", -1, b"\x01\x00\x02"), ValueError),
        ((b"\x00", 0, b"\x01"), ValueError),
        ((b"\x00", 0, b"\x02\x00\x02"), ValueError),  # program shorter than its count
        ((b"\x00", 0), TypeError),
    ],
)
def test_bad_arguments_are_refused(args: tuple[Any, ...], error: type[Exception]) -> None:
    for fn in (_avrorows.read, _avrorows.skip):
        with pytest.raises(error):
            fn(*args)


def test_switch_off_and_missing_extension_use_the_pure_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAMAPP_NATIVE", "0")
    assert avroflat.load() is None
    monkeypatch.setenv("STREAMAPP_NATIVE", "1")
    assert avroflat.load() is _avrorows
    monkeypatch.setattr(avroflat, "NATIVE", None)
    native, pure = readers(envelope(FLAT), lazy=True)
    assert "_fr" not in native.__globals__ and "_fr" not in pure.__globals__


@pytest.mark.parametrize(
    ("names", "exclude", "expected"),
    [
        ("sl", frozenset(), [["s", "l"]]),
        ("s", frozenset(), [["s"]]),
        ("slAsl", frozenset(), [["s", "l"], ["A"], ["s", "l"]]),
        ("slAs", frozenset(), [["s", "l"], ["A"], ["s"]]),
        ("lsl", frozenset({"s"}), [["l"], ["s"], ["l"]]),
    ],
)
def test_runs_keep_order_and_break_at_other_fields(
    names: str, exclude: frozenset[str], expected: list[list[str]]
) -> None:
    types = {"s": SType("string"), "l": SType("long", optional=True), "A": SType("array")}
    fields = [(n, types[n]) for n in names]
    got = avroflat.runs(fields, enabled=True, exclude=exclude)
    assert [[n for n, _ in g] for g in got] == expected
    assert [[n] for n in names] == [[n for n, _ in g] for g in avroflat.runs(fields, enabled=False)]
