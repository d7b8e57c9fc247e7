"""DLQ headers and the error budget (pure logic; the DLQ topic itself is tested on Kafka)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.dlq import headers as h
from streamapp.dlq.budget import ErrorBudget, ErrorBudgetExceeded, ErrorBudgetPolicy
from streamapp.errors import TransformError

CTX = h.FailureContext(
    topic="shop.public.orders",
    partition=3,
    offset=42,
    timestamp_ms=1_700_000_000_123,
    key=b"k",
    value=b"v",
    headers=[("trace", b"abc"), (h.ATTEMPT, b"2"), (h.STAGE, b"decode")],
)


def _fail() -> TransformError:
    try:
        raise TransformError("cast(total='int'): value of type str is not an int", field="total")
    except TransformError as exc:
        return exc


def test_headers_carry_connect_names_and_context() -> None:
    got = h.header_map(
        h.build_headers(
            CTX, topology="orders", stage="transform", error=_fail(), attempt=3, failed_at_ms=5
        )
    )
    assert got[h.TOPIC] == "shop.public.orders"
    assert got[h.PARTITION] == "3"
    assert got[h.OFFSET] == "42"
    assert got[h.TIMESTAMP] == "1700000000123"
    assert got[h.CONNECTOR] == "orders"
    assert got[h.STAGE] == "transform"
    assert got[h.EXCEPTION_CLASS] == "streamapp.errors.TransformError"
    assert got[h.EXCEPTION_MESSAGE].startswith("cast(total='int')")
    assert "TransformError" in got[h.STACKTRACE]
    assert got[h.FIELD] == "total"
    assert got[h.ATTEMPT] == "3"
    assert got["trace"] == "abc"  # the original record's own headers are kept


def test_old_failure_headers_are_replaced_not_duplicated() -> None:
    built = h.build_headers(
        CTX, topology="orders", stage="transform", error=_fail(), attempt=3, failed_at_ms=5
    )
    names = [k for k, _ in built]
    assert names.count(h.ATTEMPT) == 1
    assert names.count(h.STAGE) == 1


@pytest.mark.parametrize(
    ("headers", "expected"), [({}, 0), ({h.ATTEMPT: "4"}, 4), ({h.ATTEMPT: "x"}, 0)]
)
def test_previous_attempt(headers: dict[str, str], expected: int) -> None:
    assert h.previous_attempt(headers) == expected


def test_budget_stops_after_consecutive_failures() -> None:
    budget = ErrorBudget("orders", "orders.dlq", ErrorBudgetPolicy(max_consecutive=3, window=100))
    budget.observe([True, True, False, True, True])
    with pytest.raises(ErrorBudgetExceeded, match=r"3 records failed in a row.*orders\.dlq"):
        budget.observe([True])


def test_budget_stops_when_the_ratio_over_the_window_is_exceeded() -> None:
    budget = ErrorBudget(
        "orders", "orders.dlq", ErrorBudgetPolicy(max_consecutive=10_000, max_ratio=0.5, window=10)
    )
    budget.observe([True, False] * 5)  # 50%: at the limit, not past it
    with pytest.raises(ErrorBudgetExceeded, match="failed"):
        budget.observe([True, True, True, False])


def test_old_successes_do_not_dilute_a_new_failure_spike() -> None:
    budget = ErrorBudget(
        "orders", "orders.dlq", ErrorBudgetPolicy(max_consecutive=10_000, max_ratio=0.5, window=10)
    )
    budget.observe([False] * 100)
    # Cumulatively 6 of 110 failed (5%), but 6 of the last 10 is past the limit.
    with pytest.raises(ErrorBudgetExceeded, match="6 of the last 10"):
        budget.observe([True] * 6 + [False] * 4)


def _reference_run(batches: list[list[bool]]) -> list[int | None]:
    """The consecutive-failure counter, one record at a time: the batch at which it trips."""
    run, trips = 0, []
    for outcomes in batches:
        tripped = None
        for failed in outcomes:
            run = run + 1 if failed else 0
            if run >= 4 and tripped is None:
                tripped = run
        trips.append(tripped)
        if tripped is not None:
            break
    return trips


@given(st.lists(st.lists(st.booleans(), max_size=12), max_size=8))
def test_observe_failed_counts_failures_in_a_row_across_batches_like_one_by_one(
    batches: list[list[bool]],
) -> None:
    budget = ErrorBudget("t", "t.dlq", ErrorBudgetPolicy(max_consecutive=4, window=10**9))
    trips: list[int | None] = []
    for outcomes in batches:
        try:
            budget.observe_failed(len(outcomes), [i for i, f in enumerate(outcomes) if f])
            trips.append(None)
        except ErrorBudgetExceeded as exc:
            trips.append(int(str(exc).split(": ")[1].split(" ")[0]))
            break
    assert trips == _reference_run(batches)
