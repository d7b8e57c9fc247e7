"""The per-message item budget: array/map items of one message, over all blocks and containers,
may not exceed its size + MAX_EMPTY_ITEMS; a message past it is refused, not looped over."""

from __future__ import annotations

import contextlib
import importlib
import io
import tracemalloc
from collections.abc import Callable
from typing import Any

import fastavro
import pytest

from streamapp.decode import avroflat
from streamapp.decode.avroread import Reader, compile_reader
from streamapp.decode.limits import MAX_EMPTY_ITEMS
from streamapp.decode.schema import from_avro
from streamapp.decode.semantic import PLACEHOLDER_BYTES
from streamapp.errors import DecodeError
from streamapp.records import UNCHANGED

NULLS = {"type": "array", "items": "null"}
SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "r",
    "fields": [{"name": "nulls", "type": NULLS}],
}
NESTED: dict[str, Any] = {
    "type": "record",
    "name": "n",
    "fields": [{"name": "rows", "type": {"type": "array", "items": NULLS}}],
}
# A Debezium-like envelope: the lazy reader skips ``before`` unless op is "d".
ROW = {
    "type": "record",
    "name": "Row",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "n", "type": "long"},  # id and n: a flat run the native reader reads
        {"name": "tags", "type": NULLS},
    ],
}
ENVELOPE: dict[str, Any] = {
    "type": "record",
    "name": "Envelope",
    "fields": [
        {"name": "before", "type": ["null", ROW]},
        {"name": "after", "type": ["null", "Row"]},
        {"name": "op", "type": "string"},
    ],
}


def reader(schema: dict[str, Any], **options: Any) -> Reader:
    top = from_avro(fastavro.parse_schema(schema))
    return compile_reader(top, rows=frozenset({"before", "after"}), raw=frozenset(), **options)


READ = reader(SCHEMA)


def zigzag(n: int) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema({"type": "long"}), n)
    return out.getvalue()


def blocks(count: int, n: int) -> bytes:
    """``n`` blocks of ``count`` zero-byte items each, then the end of the array."""
    return zigzag(count) * n + zigzag(0)


def peak_bytes(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    with contextlib.suppress(DecodeError):
        fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


@pytest.mark.parametrize("count", [0, 3, MAX_EMPTY_ITEMS])
def test_arrays_of_nulls_within_the_budget_decode(count: int) -> None:
    body = (zigzag(count) if count else b"") + zigzag(0)
    assert READ(body, 0) == ({"nulls": [None] * count}, len(body))


def test_the_budget_is_the_message_size_plus_the_empty_items() -> None:
    fits = blocks(MAX_EMPTY_ITEMS // 2, 2)
    assert len(READ(fits, 0)[0]["nulls"]) == MAX_EMPTY_ITEMS
    one_more = zigzag(MAX_EMPTY_ITEMS // 2) + zigzag(MAX_EMPTY_ITEMS // 2 + len(fits) + 1)
    with pytest.raises(DecodeError, match="more array/map items"):
        READ(one_more + zigzag(0), 0)


@pytest.mark.parametrize("count", [MAX_EMPTY_ITEMS + 100, 10**12])
def test_a_block_count_past_the_budget_is_refused(count: int) -> None:
    with pytest.raises(DecodeError, match="field 'nulls': the message holds more") as info:
        READ(zigzag(count) + zigzag(0), 0)
    assert "MAX_EMPTY_ITEMS" in str(info.value) and info.value.field == "nulls"


def test_many_blocks_of_empty_items_are_refused_with_bounded_work() -> None:
    """The 308-byte message: 100 blocks of 100,000 nulls each passed a per-block check
    (10 million items, +610 MiB); the budget is per message and stops at the second block."""
    body = blocks(MAX_EMPTY_ITEMS, 100)
    assert len(body) <= 308
    with pytest.raises(DecodeError, match=r"field 'nulls'.*100,000 items of zero bytes"):
        READ(body, 0)
    assert peak_bytes(lambda: READ(body, 0)) < 4 * 2**20  # ~100k list slots, not 10 million


def test_items_of_nested_containers_share_the_budget() -> None:
    """20,000 inner arrays of 10 nulls (2 bytes each): every block fits on its own, the
    message's 220,000 items do not."""
    body = zigzag(20_000) + (zigzag(10) + zigzag(0)) * 20_000 + zigzag(0)
    assert len(body) < 41_000
    with pytest.raises(DecodeError, match=r"field 'rows\[\]': the message holds more"):
        reader(NESTED)(body, 0)
    fewer = zigzag(5_000) + (zigzag(10) + zigzag(0)) * 5_000 + zigzag(0)
    assert len(reader(NESTED)(fewer, 0)[0]["rows"]) == 5_000


def test_negative_count_blocks_count_too() -> None:
    """A block written with a negative count (followed by its byte size) holds |count| items."""
    body = (zigzag(-MAX_EMPTY_ITEMS) + zigzag(0)) * 3 + zigzag(0)
    with pytest.raises(DecodeError, match="field 'nulls'"):
        READ(body, 0)


def envelope_body(op: str, before_tags: bytes) -> bytes:
    before = zigzag(1) + zigzag(1) + zigzag(5) + before_tags  # branch "Row", id 1, n 5, tags
    after = zigzag(1) + zigzag(2) + zigzag(5) + zigzag(0)  # branch "Row", id 2, n 5, no tags
    return before + after + zigzag(len(op)) + op.encode()


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("op", ["u", "d"])
def test_a_lazily_skipped_before_image_counts_against_the_budget(
    native: bool, op: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if native:  # in use even when STREAMAPP_NATIVE=0 disabled it (as in test_decode_native)
        module = importlib.import_module("streamapp.decode._avrorows")
        module.configure(PLACEHOLDER_BYTES, UNCHANGED)
        monkeypatch.setattr(avroflat, "NATIVE", module)
    body = envelope_body(op, blocks(MAX_EMPTY_ITEMS, 100))
    for lazy in (False, True):
        read = reader(ENVELOPE, lazy_before=lazy, native=native)
        with pytest.raises(DecodeError, match=r"field 'before\.tags'") as info:
            read(body, 0)
        assert info.value.field == "before.tags"
    ok = envelope_body(op, blocks(3, 2))
    eager = reader(ENVELOPE, native=native)(ok, 0)[0]
    lazy_value = reader(ENVELOPE, lazy_before=True, native=native)(ok, 0)[0]
    assert eager["before"]["tags"] == [None] * 6
    assert lazy_value["before"] == (eager["before"] if op == "d" else None)
