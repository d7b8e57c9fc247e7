"""A block count that cannot fit the message is refused, not looped over without bound."""

from __future__ import annotations

import io
from typing import Any

import fastavro
import pytest

from streamapp.decode.avroread import MAX_EMPTY_ITEMS, compile_reader
from streamapp.decode.schema import from_avro

SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "r",
    "fields": [{"name": "nulls", "type": {"type": "array", "items": "null"}}],
}
READ = compile_reader(from_avro(fastavro.parse_schema(SCHEMA)), rows=frozenset(), raw=frozenset())


def zigzag(n: int) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema({"type": "long"}), n)
    return out.getvalue()


@pytest.mark.parametrize("count", [0, 3, MAX_EMPTY_ITEMS])
def test_arrays_of_nulls_within_the_limit_decode(count: int) -> None:
    body = (zigzag(count) if count else b"") + zigzag(0)
    assert READ(body, 0) == ({"nulls": [None] * count}, len(body))


@pytest.mark.parametrize("count", [MAX_EMPTY_ITEMS + 100, 10**12])
def test_a_block_count_that_cannot_fit_is_refused(count: int) -> None:
    body = zigzag(count) + zigzag(0)
    with pytest.raises(ValueError, match=f"block of {count} items does not fit"):
        READ(body, 0)
