"""`topology test`: lines of Debezium JSON -> output records as JSON lines, errors per line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ops_fixtures import people

from streamapp.ops.eventfile import FileEvent, offline_encoder, parse_line, run_lines
from streamapp.ops.render import decoder_for

SOURCE = {"connector": "postgresql", "db": "app", "schema": "public", "table": "people", "lsn": 5}


def change(op: str = "c", **after: Any) -> dict[str, Any]:
    row = {"id": 1, "email": "ann@example.com", "qty": "3", "note": "hi", **after}
    return {"before": None, "after": row, "source": {**SOURCE, "ts_ms": 1000}, "op": op}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"op": "c"}', FileEvent(None, b'{"op": "c"}')),
        ("null", FileEvent(None, None)),
        ('{"key": {"id": 1}, "value": {"op": "c"}}', FileEvent(b'{"id": 1}', b'{"op": "c"}')),
        ('{"key": {"id": 1}, "value": null}', FileEvent(b'{"id": 1}', None)),
        ('{"value": "{\\"op\\": \\"c\\"}"}', FileEvent(None, b'{"op": "c"}')),  # text as is
        ('{"key": 1, "value": {}, "x": 2}', FileEvent(None, b'{"key": 1, "value": {}, "x": 2}')),
        (
            '{"schema": {}, "payload": {"op": "c"}}',
            FileEvent(None, b'{"schema": {}, "payload": {"op": "c"}}'),
        ),
    ],
)
def test_parse_line(text: str, expected: FileEvent) -> None:
    assert parse_line(text) == expected


def test_a_line_that_is_not_json_names_the_column_only() -> None:
    with pytest.raises(ValueError, match=r"^not JSON \(Expecting value at column 1\)$"):
        parse_line("secret-value")


def run(lines: list[str], *, cast_qty: bool = True) -> tuple[list[dict[str, Any]], list[str]]:
    top = people(cast_qty=cast_qty)
    out: list[str] = []
    err: list[str] = []
    tally = run_lines(
        top, decoder_for(top), lines, out=out.append, err=err.append, encoder=offline_encoder(top)
    )
    assert tally.records == len(out)
    return [json.loads(line) for line in out], err


def test_records_errors_and_skips_each_on_its_line() -> None:
    lines = [
        json.dumps(change()),
        "",
        "# a comment",
        json.dumps({"key": {"id": 2}, "value": change(id=2, qty="many")}),
        json.dumps({"key": {"id": 1}, "value": None}),
        "{broken",
        json.dumps(
            {"schema": {"type": "struct", "fields": []}, "payload": change("u", id=3, note=None)}
        ),
    ]
    records, errors = run(lines)
    assert [(r["line"], r["op"], r["key"]) for r in records] == [
        (1, "c", {"id": 1}),
        (7, "u", {"id": 3}),
    ]
    assert records[0]["value"]["qty"] == 3 and records[0]["value"]["remark"] == "hi"
    assert records[0]["value"]["__op"] == "c" and records[0]["deleted"] is False
    assert errors[0].startswith("line 4: transform: TransformError: ")
    assert "qty" in errors[0] and "many" not in errors[0]
    assert errors[1] == "line 5: no record (a tombstone event)"
    assert (
        errors[2]
        == "line 6: input: not JSON (Expecting property name enclosed in double quotes at column 2)"
    )
    assert len(errors) == 3


def test_a_decode_error_is_reported_with_its_stage() -> None:
    _, errors = run(['{"op": "c", "after": {"id": "x"}, "source": {}}'])
    assert errors and errors[0].startswith("line 1: decode: DecodeError: ")


@given(st.emails(), st.text(min_size=1, max_size=20))
def test_masked_values_never_appear_in_clear(email: str, qty: str) -> None:
    records, errors = run([json.dumps(change(email=email, qty=qty))])
    printed = json.dumps(records) + "\n".join(errors)
    assert email not in printed
    for r in records:
        assert len(r["value"]["email"]) == 64  # the HMAC, hex
