"""uuid_from_text is uuid.UUID(text): same value, hash, pickle, and exception type."""

from __future__ import annotations

import pickle
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.decode.fastuuid import uuid_from_text
from streamapp.decode.schema import SType
from streamapp.decode.semantic import leaf_converter


def _outcome(fn: object, text: object) -> tuple[str, object]:
    try:
        value = fn(text)  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - the exception type is the outcome compared
        return "raises", type(exc)
    return "value", (value, value.is_safe, pickle.dumps(value))


@pytest.mark.parametrize(
    "text",
    [
        "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "3FA85F64-5717-4562-B3FC-2C963F66AFA6",
        "3fa85f6457174562b3fc2c963f66afa6",
        "{3fa85f64-5717-4562-b3fc-2c963f66afa6}",
        "urn:uuid:3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "00000000-0000-0000-0000-000000000000",
        "ffffffff-ffff-ffff-ffff-ffffffffffff",
        "0x" + "a" * 30,  # int() accepts the prefix; so does uuid.UUID
        "g" * 32,  # alphanumeric, not hex
        "-" * 36,
        "3fa85f64_5717_4562_b3fc_2c963f66afa6",
        " 3fa85f64-5717-4562-b3fc-2c963f66af ",
        "٣" * 32,  # non-ASCII decimal digits: int() reads them
        "+" + "a" * 31,
        "\t" + "a" * 30 + " ",
        "{" + "a" * 30 + "}",
        "urn:" + "a" * 28,
        "",
    ],
)
def test_same_outcome_as_uuid(text: str) -> None:
    assert _outcome(uuid_from_text, text) == _outcome(uuid.UUID, text)


@given(
    st.text(alphabet="0123456789abcdefABCDEFxgz-{}:_ urn٣+\t", max_size=40)
    | st.text(alphabet="0123456789abcdef-{}:_+ x", min_size=31, max_size=38)
)
def test_same_outcome_for_any_text(text: str) -> None:
    assert _outcome(uuid_from_text, text) == _outcome(uuid.UUID, text)


@given(st.uuids())
def test_canonical_text_round_trips(value: uuid.UUID) -> None:
    got = uuid_from_text(str(value))
    assert got == value and hash(got) == hash(value) and type(got) is uuid.UUID
    assert got.version == value.version and str(got) == str(value)


@pytest.mark.parametrize("semantic", ["io.debezium.data.Uuid", "avro:uuid"])
def test_uuid_semantics_use_it(semantic: str) -> None:
    conv = leaf_converter(SType("string", semantic=semantic), b64=False)
    assert conv is uuid_from_text


def test_non_text_fails_like_uuid() -> None:
    assert _outcome(uuid_from_text, 5) == _outcome(uuid.UUID, 5)
