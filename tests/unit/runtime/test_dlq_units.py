"""DLQ headers and the error budget (pure logic; the DLQ topic itself is tested on Kafka)."""

from __future__ import annotations

import pytest

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
