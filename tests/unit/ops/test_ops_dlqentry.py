"""DLQ records read back: context from headers, the replay selection, the summary."""

from __future__ import annotations

import pytest
from ops_fixtures import dlq_record

from streamapp.errors import DecodeError
from streamapp.ops.dlqentry import Selection, exception_matches, parse_entry, summarize


def test_an_entry_carries_the_failure_context() -> None:
    entry = parse_entry(dlq_record(3, attempt=2, failed_at=5000))
    assert (entry.topic, entry.partition, entry.offset) == ("app.public.people", 2, 103)
    assert (entry.stage, entry.exception, entry.field) == (
        "transform",
        "streamapp.errors.TransformError",
        "qty",
    )
    assert entry.message.startswith("cast(qty='int')")
    assert (entry.attempt, entry.failed_at, entry.source_timestamp) == (2, 5000, 999)
    original = entry.original()
    assert (original.topic, original.partition, original.offset, original.timestamp) == (
        "app.public.people",
        2,
        103,
        999,
    )
    assert original.headers == entry.record.headers  # so a new failure counts attempt + 1


def test_a_foreign_record_is_not_replayable() -> None:
    entry = parse_entry(dlq_record(0, headers=False))
    assert not entry.replayable
    assert (entry.stage, entry.exception, entry.attempt) == ("unknown", "unknown", 0)
    assert entry.failed_at == 1_000_005  # the DLQ record's own time
    assert not Selection().matches(entry, 0)


@pytest.mark.parametrize(
    ("exception", "wanted", "expected"),
    [
        ("streamapp.errors.TransformError", "TransformError", True),
        ("streamapp.errors.TransformError", "streamapp.errors.TransformError", True),
        ("streamapp.errors.TransformError", "transformerror", False),
        ("streamapp.errors.TransformError", "errors.TransformError", False),
        ("streamapp.errors.TransformError", "Error", False),
    ],
)
def test_exception_matching(exception: str, wanted: str, expected: bool) -> None:
    assert exception_matches(exception, wanted) is expected


NOW = 10 * 3_600_000  # failed_at of the record below is 1 h before NOW


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (Selection(), True),
        (Selection(from_offset=5), True),
        (Selection(from_offset=6), False),
        (Selection(to_offset=5), True),
        (Selection(to_offset=4), False),
        (Selection(exception="TransformError"), True),
        (Selection(exception="DecodeError"), False),
        (Selection(older_than_ms=3_600_000), True),
        (Selection(older_than_ms=3_600_001), False),
        (Selection(newer_than_ms=3_600_001), True),
        (Selection(newer_than_ms=3_600_000), False),
        (Selection(from_offset=5, to_offset=5, exception="TransformError"), True),
    ],
)
def test_selection(selection: Selection, expected: bool) -> None:
    entry = parse_entry(dlq_record(5, failed_at=NOW - 3_600_000))
    assert selection.matches(entry, NOW) is expected


def test_summary_counts_by_stage_and_class_with_times_and_pending() -> None:
    bad = DecodeError("value starts with byte 0x07")
    entries = [
        parse_entry(dlq_record(0, failed_at=300)),
        parse_entry(dlq_record(1, error=bad, failed_at=100)),
        parse_entry(dlq_record(2, failed_at=200, attempt=3)),
        parse_entry(dlq_record(3, failed_at=400)),
    ]
    rows = summarize(entries, [True, False, False, False])
    assert [(r.stage, r.count, r.pending, r.max_attempt, r.oldest, r.newest) for r in rows] == [
        ("transform", 3, 2, 3, 200, 400),
        ("decode", 1, 1, 1, 100, 100),
    ]
