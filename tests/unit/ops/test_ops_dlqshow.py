"""`dlq list` / `dlq show` text: context from headers, masked output, never a raw value."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from ops_fixtures import dlq_record, people

from streamapp.errors import DecodeError
from streamapp.ops.dlqentry import parse_entry
from streamapp.ops.dlqshow import render_entry, render_summary
from streamapp.ops.dlqstore import DlqState
from streamapp.ops.done import Done
from streamapp.ops.render import decoder_for


def value(email: str, qty: str) -> bytes:
    row = {"id": 7, "email": email, "qty": qty, "note": "n"}
    return json.dumps({"before": None, "after": row, "source": {"lsn": 9}, "op": "c"}).encode()


def show(raw: bytes, *, cast_qty: bool) -> list[str]:
    top = people(cast_qty=cast_qty)
    entry = parse_entry(dlq_record(4, value=raw))
    return render_entry(entry, top, decoder_for(top), replayed=False, trace=True)


def test_a_record_the_topology_still_rejects_shows_column_names_only() -> None:
    lines = show(value("ann@example.com", "lots"), cast_qty=True)
    assert (
        lines[0]
        == "dlq offset 4 (partition 0), failed 1970-01-01T00:16:40.000Z, attempt 1, pending"
    )
    assert (
        lines[1]
        == "  source    app.public.people[2] offset 104, record time 1970-01-01T00:00:00.999Z"
    )
    assert lines[2] == "  failure   transform: streamapp.errors.TransformError (field qty)"
    assert lines[4].startswith("  bytes     key 9 bytes, value ")
    assert lines[5] == "  event     data, op c, columns: id, email, qty, note"
    assert lines[6].startswith("  output    fails with the current topology: TransformError: ")
    assert any(
        line.startswith("  | Traceback") or line.startswith("  | streamapp") for line in lines
    )


def test_a_record_the_fixed_topology_accepts_shows_the_masked_output() -> None:
    lines = show(value("ann@example.com", "lots"), cast_qty=False)
    output = json.loads(lines[6].removeprefix("  output    "))
    assert output["key"] == {"id": 7} and output["value"]["qty"] == "lots"
    assert len(output["value"]["email"]) == 64


def test_an_undecodable_record_says_why_without_its_bytes() -> None:
    lines = show(b"\x07secret-bytes", cast_qty=True)
    assert lines[5].startswith("  decoded   no: topic 'app.public.people' partition 2 offset 104:")
    assert "secret" not in "\n".join(lines)


@given(st.emails(), st.text(max_size=10))
def test_masked_fields_are_never_printed_in_clear(email: str, qty: str) -> None:
    for cast_qty in (True, False):
        assert email not in "\n".join(show(value(email, qty), cast_qty=cast_qty))


def test_summary() -> None:
    state = DlqState("app.public.people.dlq", {0: (0, 3)}, {0: Done(1)})
    entries = [
        parse_entry(dlq_record(0, failed_at=1000)),
        parse_entry(dlq_record(1, error=DecodeError("bad"), failed_at=2000)),
        parse_entry(dlq_record(2, failed_at=3000, attempt=2)),
    ]
    assert render_summary(people(), state, entries, "g.dlq-replay") == [
        "DLQ app.public.people.dlq of topology people: 3 record(s), 1 replayed, 2 pending "
        "(replay progress: group 'g.dlq-replay')",
        "  stage      exception                        records  pending  attempt  oldest failure"
        "            newest failure",
        "  transform  streamapp.errors.TransformError        2        1        2  "
        "1970-01-01T00:00:01.000Z  1970-01-01T00:00:03.000Z",
        "  decode     streamapp.errors.DecodeError           1        1        1  "
        "1970-01-01T00:00:02.000Z  1970-01-01T00:00:02.000Z",
    ]


def test_summary_of_a_missing_topic() -> None:
    lines = render_summary(people(), DlqState("x.dlq"), [], "g")
    assert lines == [
        "DLQ x.dlq of topology people: the topic does not exist yet (no record has failed)"
    ]
