"""The sink contract on every real sink: convergence, tombstones, UNCHANGED, drift, rejects."""

from __future__ import annotations

import time
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sinks_harness import COLUMNS, ICEBERG, Harness, record

from streamapp.errors import SinkError
from streamapp.records import UNCHANGED, OutputRecord
from streamapp.sinks.base import Sink
from streamapp.types import parse_type

D = Decimal


def row(key: int, version: int, name: Any, amount: Any = None, note: Any = None) -> dict[str, Any]:
    return {"id": key, "name": name, "amount": amount, "note": note, "__version": version}


def test_inserts_updates_deletes_converge_despite_order_and_duplicates(harness: Harness) -> None:
    table = harness.table()
    first = [
        record(1, 10, name="a", amount=D("1.50")),
        record(2, 10, name="b"),
        record(1, 30, name="a3", amount=D("3.00")),
        record(1, 30, name="a3", amount=D("3.00")),  # duplicate
        record(1, 20, name="a2"),  # older, after the newer one in the same batch
    ]
    second = [
        record(1, 25, name="stale"),  # older than the stored 30
        record(2, 50, deleted=True),
        record(3, 5, name="c"),
        record(4, 7, name="d", note="kept"),
    ]
    third = [
        record(2, 40, name="b-before-delete"),  # older than the delete: no resurrection
        record(3, 8, deleted=True),
        record(3, 9, name="c-again"),  # a newer insert after a delete: it exists again
    ]
    assert harness.write(table, first, second, third, first, second) == []  # + redelivery
    assert harness.read(table) == {
        (1,): row(1, 30, "a3", D("3.00")),
        (3,): row(3, 9, "c-again"),
        (4,): row(4, 7, "d", note="kept"),
    }


def test_an_equal_version_in_a_later_batch_is_applied(harness: Harness) -> None:
    """Versions tie only inside one source transaction; partition order (here: batch order)
    decides, so the later record of an equal version wins in every sink (records.py)."""
    table = harness.table()
    assert harness.write(table, [record(1, 40, name="first")], [record(1, 40, name="second")]) == []
    assert harness.read(table) == {(1,): row(1, 40, "second")}
    assert harness.write(table, [record(1, 39, name="older")]) == []
    assert harness.read(table) == {(1,): row(1, 40, "second")}


def test_an_older_update_after_a_delete_does_not_resurrect(harness: Harness) -> None:
    table = harness.table()
    assert harness.write(table, [record(1, 5, name="x")], [record(1, 9, deleted=True)]) == []
    assert harness.write(table, [record(1, 7, name="late")], [record(1, 8, name="later")]) == []
    assert harness.read(table) == {}
    assert harness.raw_version(table, 1) == (9, True)


def test_unchanged_columns_keep_the_stored_value(harness: Harness) -> None:
    table = harness.table()
    assert harness.write(table, [record(1, 1, name="n1", amount=D("1.00"), note="big toast")]) == []
    # across batches: the stored value is kept
    assert harness.write(table, [record(1, 2, name="n2", amount=D("2.00"), note=UNCHANGED)]) == []
    assert harness.read(table)[(1,)] == row(1, 2, "n2", D("2.00"), "big toast")
    # within a batch: the older record of the batch provides it; a stale one changes nothing
    batch = [
        record(1, 4, name="n4", note=UNCHANGED),
        record(1, 3, name="n3", note="set at 3"),
        record(1, 1, name="stale", note="stale"),
        record(2, 1, name="new key", note=UNCHANGED),  # nothing stored: stays null
    ]
    assert harness.write(table, batch) == []
    assert harness.read(table) == {
        (1,): row(1, 4, "n4", None, "set at 3"),
        (2,): row(2, 1, "new key"),
    }


def test_schema_drift_adds_a_nullable_column(harness: Harness) -> None:
    table = harness.table()
    assert harness.write(table, [record(1, 1, name="before", note="n")]) == []
    wider = harness.table({**COLUMNS, "extra": parse_type("string")})
    assert harness.write(wider, [record(2, 1, name="after", extra="E")]) == []
    assert harness.write(wider, [record(1, 2, name="before2", note=UNCHANGED)]) == []  # idempotent
    assert harness.read(wider) == {
        (1,): {**row(1, 2, "before2", note="n"), "extra": None},
        (2,): {**row(2, 1, "after"), "extra": "E"},
    }


def test_a_refused_merged_row_names_every_record_merged_into_it(harness: Harness) -> None:
    """Two updates of one key in a batch are merged into one row (the second leaves a column
    UNCHANGED); when the sink refuses that row, both input positions come back, so both go
    to the DLQ. (Refusals used to carry the merged copy, which the pipeline could not map back
    to its input: a KeyError that stopped the worker on every restart.)"""
    table = harness.table()
    batch = [
        record(1, 1, name="ok"),
        record(5, 1, name="n5", note="first"),
        record(2, 1, name="two"),
        record(5, 2, name=UNCHANGED, note="second", amount=D("123456789.00")),
    ]
    rejected = harness.write(table, batch)
    assert [(r.positions, r.error.field) for r in rejected] == [((1, 3), "amount")]
    assert set(harness.read(table)) == {(1,), (2,)}


def test_a_content_rejected_record_is_returned_and_the_rest_stored(harness: Harness) -> None:
    table = harness.table()
    batch = [record(i, 1, name=f"n{i}", amount=D(i)) for i in range(60)]
    batch[7] = record(7, 1, name="n7", amount=D("123456789.00"))  # decimal(10,2): 8 digits max
    batch[40] = record(40, 1, name=40)  # an int in a string column
    rejected = harness.write(table, batch)
    assert sorted((r.positions, r.error.field) for r in rejected) == [
        ((7,), "amount"),
        ((40,), "name"),
    ]
    assert all(not r.error.retriable and "123456789" not in str(r.error) for r in rejected)
    stored = harness.read(table)
    assert sorted(stored) == [(i,) for i in range(60) if i not in (7, 40)]


def test_an_unreachable_service_is_a_retriable_error(harness: Harness) -> None:
    table = harness.table()

    async def body(sink: Sink) -> None:
        await sink.ensure_table(table)
        await sink.write(table, [record(1, 1, name="x")])

    sink = harness.unreachable_sink()
    with pytest.raises(SinkError) as info:
        harness.run(body, sink)
    assert info.value.retriable
    assert "streamapp:streamapp" not in str(info.value)  # credentials redacted


def test_a_batch_of_5000_rows_in_one_call(
    harness: Harness, capsys: pytest.CaptureFixture[str]
) -> None:
    table = harness.table()

    def batch(version: int) -> list[OutputRecord]:
        return [
            record(i, version, name=f"name {i}", amount=D(i) / 4, note="x" * 40)
            for i in range(5000)
        ]

    async def body(sink: Sink) -> list[float]:
        await sink.ensure_table(table)
        took = []
        for version in (1, 2):  # inserts into a new table, then updates of every row
            started = time.perf_counter()
            assert await sink.write(table, batch(version)) == []
            took.append(time.perf_counter() - started)
        return took

    inserts, updates = harness.run(body)
    with capsys.disabled():
        print(
            f"\n{harness.kind}: 5000 rows per write: inserts {5000 / inserts:,.0f} rows/s, "
            f"updates {5000 / updates:,.0f} rows/s"
        )
    stored = harness.read(table)
    assert len(stored) == 5000 and stored[(4999,)] == row(
        4999, 2, "name 4999", D("1249.75"), "x" * 40
    )


# -- property: any history, split into batches in any order and redelivered, converges ---------


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[OutputRecord]], dict[int, tuple[int, str]]]:
    """Random per-key event histories, cut into shuffled batches; the expected live rows."""
    events: list[OutputRecord] = []
    expected: dict[int, tuple[int, str]] = {}
    for key in range(draw(st.integers(1, 6))):
        version = 0
        for _ in range(draw(st.integers(1, 5))):
            version += draw(st.integers(1, 3))
            if draw(st.booleans()) and version > 1:
                events.append(record(key, version, deleted=True))
                expected.pop(key, None)
            else:
                name = f"k{key}v{version}"
                events.append(record(key, version, name=name))
                expected[key] = (version, name)
    events += draw(st.lists(st.sampled_from(events), max_size=5))  # redelivered duplicates
    shuffled = draw(st.permutations(events))
    cuts = sorted(draw(st.lists(st.integers(0, len(shuffled)), max_size=3)))
    bounds = [0, *cuts, len(shuffled)]
    batches = [list(shuffled[a:b]) for a, b in pairwise(bounds) if b > a]
    return batches, expected


@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=histories())
def test_any_delivery_order_converges(
    harness: Harness, case: tuple[list[list[OutputRecord]], dict[int, tuple[int, str]]]
) -> None:
    batches, expected = case
    table = harness.table()
    if harness.kind == "postgres":
        harness.pg.execute(f'DROP TABLE IF EXISTS "{harness.unique}" CASCADE')
    elif harness.kind == "clickhouse":
        harness.clickhouse.command(f"DROP TABLE IF EXISTS `{harness.unique}`.`rows` SYNC")
    elif harness.kind in ICEBERG:
        harness.drop_iceberg_table()
    elif harness.kind == "opensearch":
        harness.drop_opensearch_index()
    else:
        for key in harness.redis.scan_iter(match=f"{harness.unique}:*"):
            harness.redis.delete(key)
    assert harness.write(table, *batches) == []
    assert harness.read(table) == {(k,): row(k, v, name) for k, (v, name) in expected.items()}
