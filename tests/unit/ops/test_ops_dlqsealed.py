"""Sealed DLQ records in `dlq show`/`replay`: opened with the key, context only without it."""

from __future__ import annotations

import json

from ops_fixtures import dlq_record, people

from streamapp.dlq.seal import Sealer
from streamapp.ops.dlqentry import parse_entry
from streamapp.ops.dlqshow import render_entry
from streamapp.ops.reader import Record
from streamapp.ops.render import decoder_for
from streamapp.transform.mask import key_id

K1, K2 = bytes(range(32)), bytes(range(50, 82))
ROW = {"id": 7, "email": "ann@example.com", "qty": "3", "note": "n"}
RAW = json.dumps({"before": None, "after": ROW, "source": {"lsn": 9}, "op": "c"}).encode()


def sealed(sealer: Sealer) -> Record:
    rec = dlq_record(4, value=RAW)
    key, value, headers = sealer.seal(rec.key, rec.value, rec.headers)
    return rec._replace(key=key, value=value, headers=tuple(headers))


def test_a_sealed_record_opens_to_the_record_as_written() -> None:
    entry = parse_entry(sealed(Sealer([K1])), Sealer([K1]))
    clear = parse_entry(dlq_record(4, value=RAW))
    assert entry.sealed is None
    assert entry.record == clear.record
    assert (entry.topic, entry.offset, entry.stage) == (clear.topic, clear.offset, clear.stage)
    assert entry.original().value == RAW


def test_show_decodes_an_opened_record_through_the_topology() -> None:
    top = people(cast_qty=False)
    entry = parse_entry(sealed(Sealer([K1])), Sealer([K2, K1]))  # rotated: the old key opens
    lines = render_entry(entry, top, decoder_for(top), replayed=False)
    assert "  event     data, op c, columns: id, email, qty, note" in lines
    assert "ann@example.com" not in "\n".join(lines)


def test_without_its_key_a_sealed_record_shows_its_context_and_why_not_more() -> None:
    top = people(cast_qty=False)
    for sealer in (None, Sealer([K2])):
        entry = parse_entry(sealed(Sealer([K1])), sealer)
        assert entry.sealed is not None and key_id(K1) in entry.sealed
        assert entry.replayable and entry.stage == "transform"  # headers stay readable
        lines = render_entry(entry, top, decoder_for(top), replayed=False)
        assert lines[2] == "  failure   transform: streamapp.errors.TransformError (field qty)"
        assert lines[5] == f"  sealed    {entry.sealed}"
        assert not any(line.startswith(("  event", "  decoded", "  output")) for line in lines)
