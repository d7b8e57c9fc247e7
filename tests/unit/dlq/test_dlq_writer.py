"""DeadLetterWriter: the DLQ record of a failed record, in clear or sealed."""

from __future__ import annotations

from typing import Any, NamedTuple

from streamapp.dlq import headers as h
from streamapp.dlq.seal import SEALED_KEY_ID, Sealer
from streamapp.dlq.writer import DeadLetterWriter
from streamapp.errors import DecodeError, TransformError
from streamapp.transform.mask import key_id

KEY = bytes(range(32))
PII = b'{"email": "alice@example.com"}'


class Rec(NamedTuple):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None
    headers: Any


class Produced:
    def __init__(self) -> None:
        self.records: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []

    def produce(self, topic: str, key: Any, value: Any, headers: Any = None) -> None:
        self.records.append((topic, key, value, list(headers)))


def _rec(headers: Any = (("trace", b"t1"), ("nothing", None))) -> Rec:
    return Rec("shop.public.people", 1, 17, b"k1", PII, 1234, headers)


def test_a_clear_dlq_record_keeps_the_original_and_the_context() -> None:
    out = Produced()
    error = TransformError("cast(qty='int'): column 'qty' holds a str", field="qty")
    DeadLetterWriter(out, "people", "people.dlq").write(_rec(), error)
    ((topic, key, value, headers),) = out.records
    assert (topic, key, value) == ("people.dlq", b"k1", PII)
    assert headers[0] == ("trace", b"t1")  # original headers first (None values dropped)
    got = h.header_map(headers)
    assert got[h.TOPIC] == "shop.public.people" and got[h.PARTITION] == "1"
    assert got[h.OFFSET] == "17" and got[h.TIMESTAMP] == "1234"
    assert got[h.CONNECTOR] == "people" and got[h.STAGE] == "transform"
    assert got[h.FIELD] == "qty" and got[h.ATTEMPT] == "1"


def test_a_record_that_failed_before_counts_one_more_attempt() -> None:
    out = Produced()
    previous = ((h.ATTEMPT, b"2"), (h.STAGE, b"decode"))
    DeadLetterWriter(out, "people", "people.dlq").write(_rec(previous), DecodeError("bad bytes"))
    got = h.header_map(out.records[0][3])
    assert got[h.ATTEMPT] == "3" and got[h.STAGE] == "decode"


def test_with_a_sealer_the_dlq_record_is_sealed_and_opens_to_the_clear_one() -> None:
    clear, sealed = Produced(), Produced()
    error = TransformError("cast(qty='int'): column 'qty' holds a str", field="qty")
    DeadLetterWriter(clear, "people", "people.dlq").write(_rec(), error)
    sealer = Sealer([KEY])
    DeadLetterWriter(sealed, "people", "people.dlq", sealer).write(_rec(), error)
    _, key, value, headers = sealed.records[0]
    assert key != b"k1" and value is not None and b"alice" not in value
    assert h.header_map(headers)[SEALED_KEY_ID] == key_id(KEY)
    opened_key, opened_value, opened_headers = sealer.open(key, value, headers)
    _, clear_key, clear_value, clear_headers = clear.records[0]
    assert (opened_key, opened_value) == (clear_key, clear_value)
    skip = (h.STACKTRACE, h.FAILED_AT)  # differ between two writes
    assert [(k, v) for k, v in opened_headers if k not in skip] == [
        (k, v) for k, v in clear_headers if k not in skip
    ]
