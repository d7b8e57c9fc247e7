"""Sealed DLQ records: round trip, nothing in clear, tampering and wrong keys refused, rotation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.dlq import headers as h
from streamapp.dlq.seal import (
    SEALED,
    SEALED_HEADERS,
    SEALED_KEY_ID,
    Sealer,
    SealError,
    sealed_key_id,
)
from streamapp.errors import TransformError
from streamapp.transform.mask import key_id

K1, K2 = bytes(range(32)), bytes(range(100, 132))
PII = b'{"email": "alice@example.com", "ssn": "123-45-6789"}'


def _headers(original: list[tuple[str, bytes]] | None = None) -> list[tuple[str, bytes]]:
    ctx = h.FailureContext("shop.public.people", 2, 41, 1000, b"k", PII, original or [])
    return h.build_headers(
        ctx,
        topology="people",
        stage="transform",
        error=TransformError("cast(qty='int'): column 'qty' holds a str", field="qty"),
        attempt=1,
        failed_at_ms=5,
    )


def test_a_sealed_record_holds_nothing_in_clear_and_says_how_it_was_sealed() -> None:
    original = [("traceparent", b"00-alice@example.com-01")]
    key, value, headers = Sealer([K1]).seal(b'{"id": 7}', PII, _headers(original))
    assert key is not None and value is not None
    for part in (key, value, *(v for _, v in headers)):
        assert b"alice" not in part and b"123-45" not in part and b'"id": 7' not in part
    found = dict(headers)
    assert found[SEALED] == b"AES-256-GCM"
    assert found[SEALED_KEY_ID] == key_id(K1).encode()
    assert sealed_key_id(headers) == key_id(K1)
    assert "traceparent" not in found  # the original headers travel sealed
    assert found[h.STAGE] == b"transform" and found[h.OFFSET] == b"41"  # context stays readable


@given(
    key=st.none() | st.binary(max_size=64),
    value=st.none() | st.binary(max_size=512),
    original=st.lists(st.tuples(st.text(min_size=1, max_size=8), st.binary(max_size=16))),
)
def test_open_returns_exactly_what_was_sealed(
    key: bytes | None, value: bytes | None, original: list[tuple[str, bytes]]
) -> None:
    original = [(k, v) for k, v in original if not k.startswith(("__connect.", "streamapp."))]
    headers = _headers(original)
    sealer = Sealer([K1])
    assert sealer.open(*sealer.seal(key, value, headers)) == (key, value, headers)


def test_a_clear_record_opens_unchanged() -> None:
    headers = _headers()
    assert Sealer([K1]).open(b"k", PII, headers) == (b"k", PII, headers)
    assert sealed_key_id(headers) is None


def test_rotation_seals_with_the_first_key_and_opens_with_any() -> None:
    old = Sealer([K1]).seal(b"k", PII, _headers())
    rotated = Sealer([K2, K1])
    assert rotated.can_open(old[2])
    assert rotated.open(*old)[1] == PII
    assert sealed_key_id(rotated.seal(b"k", PII, _headers())[2]) == key_id(K2)


def test_a_record_sealed_with_an_unknown_key_is_refused_by_id() -> None:
    sealed = Sealer([K1]).seal(b"k", PII, _headers())
    other = Sealer([K2])
    assert not other.can_open(sealed[2])
    with pytest.raises(SealError, match=f"sealed with key id {key_id(K1)} .*add that key"):
        other.open(*sealed)


def test_tampered_bytes_do_not_open() -> None:
    key, value, headers = Sealer([K1]).seal(b"k", PII, _headers())
    assert value is not None
    flipped = value[:-1] + bytes([value[-1] ^ 1])
    with pytest.raises(SealError, match="the sealed value does not open"):
        Sealer([K1]).open(key, flipped, headers)


def test_sealed_parts_are_bound_to_their_role_and_record() -> None:
    key, value, headers = Sealer([K1]).seal(b"k", PII, _headers())
    with pytest.raises(SealError, match="does not open"):
        Sealer([K1]).open(value, key, headers)  # key and value swapped
    moved = [(k, b"42" if k == h.OFFSET else v) for k, v in headers]
    with pytest.raises(SealError, match="does not open"):
        Sealer([K1]).open(key, value, moved)  # pretends to be another offset's record


def test_sealing_an_opened_record_again_keeps_one_set_of_seal_headers() -> None:
    sealer = Sealer([K1])
    opened = sealer.open(*sealer.seal(b"k", PII, _headers()))
    _, _, again = sealer.seal(*opened)
    names = [k for k, _ in again]
    assert names.count(SEALED) == names.count(SEALED_HEADERS) == 1
