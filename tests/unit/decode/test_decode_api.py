"""The decode API for library users and `topology test`: inputs, lenient versions, error types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from decode_helpers import pg_source

from streamapp.decode import Decoder
from streamapp.decode.envelope import source_info
from streamapp.decode.version import (
    MissingPosition,
    event_version,
    fallback_version,
    missing_position,
    version_note,
)
from streamapp.errors import DecodeBug, DecodeError
from streamapp.records import EventKind


def change(source: dict[str, Any]) -> dict[str, Any]:
    return {"before": None, "after": {"id": 1}, "source": source, "op": "c", "ts_ms": 5}


NO_LSN = pg_source(lsn=None, ts_ms=7)  # type: ignore[arg-type]


def test_value_as_text_or_parsed_json_and_no_topic() -> None:
    payload = change(pg_source())
    as_bytes = Decoder().decode(None, json.dumps(payload).encode(), topic="t")
    assert Decoder().decode(None, json.dumps(payload)) == as_bytes
    assert Decoder().decode({"id": 1}, payload).after == {"id": 1}
    assert Decoder().decode('{"id": 1}', payload).key == {"id": 1}


def test_a_postgres_event_without_lsn_decodes_outside_the_worker_and_says_so() -> None:
    event = Decoder().decode(None, change(NO_LSN), offset=3)
    assert event.kind is EventKind.DATA and event.after == {"id": 1}
    assert event.version == fallback_version(5, 3)
    note = version_note(event)
    assert note is not None and "no source.lsn" in note and "derived from ts_ms" in note
    assert version_note(Decoder().decode(None, change(pg_source()))) is None


def test_the_worker_decoder_refuses_it_by_type() -> None:
    with pytest.raises(MissingPosition, match=r"no source\.lsn; cannot order it"):
        Decoder(strict_versions=True).decode(None, change(NO_LSN), topic="t")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ({"connector": "postgresql"}, "PostgreSQL event has no source.lsn"),
        ({"connector": "mysql", "file": "mysql-bin.000001"}, "MySQL event has no source.file/pos"),
        ({"connector": "mongodb"}, "MongoDB event has no source.ts_ms"),
        ({"connector": "postgresql", "lsn": 1}, None),
        ({"connector": "sqlserver"}, None),
    ],
)
def test_missing_position_matches_strict_refusal(raw: dict[str, Any], why: str | None) -> None:
    source = source_info(raw)
    assert missing_position(source) == why
    if why is None:
        event_version(source, 1, 0, data=True)
    else:
        with pytest.raises(MissingPosition):
            event_version(source, 1, 0, data=True)
        assert event_version(source, 1, 0, data=True, strict=False) == fallback_version(1, 0)


def test_internal_errors_are_a_type_of_their_own() -> None:
    class Broken:
        def parsed_schema(self, schema_id: int) -> Any:
            raise RuntimeError("boom")

    from decode_helpers import avro_message, envelope, field

    schema = envelope({"type": "record", "name": "V", "fields": [field("id", "long")]})
    message = avro_message(
        1,
        schema,
        {
            "before": None,
            "after": {"id": 1},
            "op": "c",
            "source": pg_source(),
            "ts_ms": 1,
            "transaction": None,
        },
    )
    with pytest.raises(DecodeBug) as info:
        Decoder(resolver=Broken()).decode(None, message, topic="t")
    assert isinstance(info.value, DecodeError)  # still routed to the DLQ
    with pytest.raises(DecodeError) as bad:
        Decoder().decode(None, b"{not json", topic="t")
    assert not isinstance(bad.value, DecodeBug)
