"""Replay plans: resolving positions to offsets, the counts a dry run prints."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.ops.parse import Position
from streamapp.ops.plan import PartitionPlan, render, resolve


@pytest.mark.parametrize(
    ("position", "by_time", "expected"),
    [
        (Position("earliest"), None, 10),
        (Position("latest"), None, 50),
        (Position("offset", 30), None, 30),
        (Position("offset", 3), None, 10),  # below low: clamped
        (Position("offset", 99), None, 50),  # past the end: clamped
        (Position("timestamp", 1), 25, 25),
        (Position("timestamp", 1), -1, 50),  # no record at or after the time: the end
        (Position("timestamp", 1), None, 50),
        (Position("timestamp", 1), 5, 10),
    ],
)
def test_resolve(position: Position, by_time: int | None, expected: int) -> None:
    assert resolve(position, low=10, end=50, by_time=by_time) == expected


@given(
    st.integers(0, 100),
    st.integers(0, 100),
    st.sampled_from(["earliest", "latest", "offset", "timestamp"]),
    st.integers(-5, 300),
)
def test_resolve_stays_inside_the_partition(low: int, size: int, kind: str, value: int) -> None:
    end = low + size
    pos = Position(kind, value) if kind in ("offset", "timestamp") else Position(kind)  # type: ignore[arg-type]
    assert low <= resolve(pos, low=low, end=end, by_time=value) <= end


@pytest.mark.parametrize(
    ("committed", "target", "stop", "events", "again", "skipped"),
    [
        (100, 0, 120, 120, 100, 0),  # replay everything: 100 of them again
        (100, 40, 120, 80, 60, 0),
        (100, 40, 70, 30, 30, 0),  # bounded below the committed offset
        (None, 0, 120, 120, 0, 0),  # nothing committed yet
        (40, 100, 120, 20, 0, 60),  # moving forward skips 60 events
        (120, 120, 120, 0, 0, 0),
    ],
)
def test_plan_counts(
    committed: int | None, target: int, stop: int, events: int, again: int, skipped: int
) -> None:
    plan = PartitionPlan("t", 0, 0, 120, committed, target, stop)
    assert (plan.events, plan.again, plan.skipped) == (events, again, skipped)


@pytest.mark.parametrize(("target", "stop"), [(5, 4), (-1, 3), (0, 121)])
def test_a_plan_outside_the_partition_is_a_bug(target: int, stop: int) -> None:
    with pytest.raises(ValueError, match="low <= target <= stop <= end"):
        PartitionPlan("t", 0, 0, 120, None, target, stop)


def test_render_aligns_and_totals() -> None:
    plans = [
        PartitionPlan("orders", 0, 0, 130, 120, 0, 130),
        PartitionPlan("orders", 1, 0, 7, None, 0, 7),
    ]
    assert render(plans, bounded=False) == [
        "partition  committed  target  to  end  events  again",
        "orders[0]        120       0   -  130     130    120",
        "orders[1]          -       0   -    7       7      0",
        "total                                     137    120",
    ]
    assert render(plans, bounded=True)[1] == "orders[0]        120       0  130  130     130    120"
