"""DLQ replay progress: a committed offset plus replayed ranges, kept in commit metadata."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.ops.done import Done


@pytest.mark.parametrize(
    ("start", "added", "committed", "ranges", "metadata"),
    [
        (0, [], 0, (), ""),
        (0, [0, 1, 2], 3, (), ""),
        (0, [1, 2, 5], 0, ((1, 3), (5, 6)), "1-2,5"),
        (0, [1, 0], 2, (), ""),
        (10, [3, 4], 10, (), ""),  # below the committed offset: already done
        (10, [11, 12, 13, 20], 10, ((11, 14), (20, 21)), "11-13,20"),
        (10, [10, 11, 13], 12, ((13, 14),), "13"),
    ],
)
def test_add(
    start: int, added: list[int], committed: int, ranges: tuple[tuple[int, int], ...], metadata: str
) -> None:
    done = Done(start).add(added)
    assert (done.committed, done.ranges, done.metadata()) == (committed, ranges, metadata)


offsets = st.sets(st.integers(0, 300), max_size=60)


@given(st.integers(0, 50), offsets, offsets)
def test_membership_is_exactly_what_was_added(
    start: int, first: set[int], second: set[int]
) -> None:
    done = Done(start).add(first).add(second)
    for o in range(0, 320):
        assert (o in done) == (o < start or o in first or o in second)
    # the invariants: sorted, disjoint, non-adjacent ranges strictly above the committed offset
    previous = done.committed
    for a, b in done.ranges:
        assert previous < a < b
        previous = b


@given(st.integers(0, 50), offsets, st.integers(0, 50))
def test_metadata_round_trips(start: int, added: set[int], low: int) -> None:
    done = Done(start).add(added)
    back = Done.parse(done.committed, done.metadata(), low=low)
    for o in range(0, 320):
        assert (o in back) == (o in done or o < low)


@given(st.integers(0, 50), offsets, st.integers(0, 100), st.integers(0, 250))
def test_count_matches_membership(start: int, added: set[int], low: int, size: int) -> None:
    done = Done(start).add(added)
    end = low + size
    assert done.count(low, end) == sum(1 for o in range(low, end) if o in done)


@pytest.mark.parametrize("metadata", ["garbage", "1-x", "--", "3,a"])
def test_unreadable_metadata_keeps_only_the_committed_offset(metadata: str) -> None:
    assert Done.parse(7, metadata) == Done(7)


def test_nothing_committed_starts_at_low() -> None:
    assert Done.parse(None, "", low=5) == Done(5)


def test_too_many_scattered_ranges_cannot_be_stored() -> None:
    done = Done(0).add(range(1, 4000, 2))
    with pytest.raises(ValueError, match="too many to track; replay the remaining"):
        done.metadata()
