"""The latency histogram's percentiles are within one bucket (~6%, +-1 ms) of the exact ones."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.observability.latency import LatencyHistogram


def exact(values: list[int], p: float) -> int:
    ordered = sorted(values)
    rank = math.ceil(len(ordered) * p / 100)  # nearest-rank
    return ordered[max(0, rank - 1)]


@given(
    st.lists(st.integers(min_value=2, max_value=10**7), min_size=1, max_size=500),
    st.sampled_from([50.0, 90.0, 99.0, 100.0]),
)
def test_percentile_is_within_one_bucket(values: list[int], p: float) -> None:
    hist = LatencyHistogram()
    for v in values:
        hist.record(v)
    got, want = hist.percentile(p), exact(values, p)
    assert got is not None
    # One bucket is a factor 2**(1/12) (~6%); the reported bound is rounded to whole ms.
    assert want / 1.06 - 1 <= got <= want * 1.06 + 1


def test_empty_and_tiny_values() -> None:
    hist = LatencyHistogram()
    assert hist.percentile(50) is None
    hist.record(-5)  # clock skew: counted as 0
    hist.record(1)
    assert hist.percentile(99) == 1


def test_memory_does_not_grow_with_samples() -> None:
    hist = LatencyHistogram()
    size = len(hist.counts)
    rng = random.Random(7)
    for _ in range(100_000):
        hist.record(rng.randint(0, 10**6))
    assert len(hist.counts) == size and hist.count == 100_000


@pytest.mark.parametrize("ms", [2, 10, 999, 123_456])
def test_single_value_percentiles_are_that_value(ms: int) -> None:
    hist = LatencyHistogram()
    hist.record(ms)
    assert hist.percentile(50) == ms


@given(
    st.integers(min_value=0, max_value=10**7),
    st.lists(st.integers(min_value=0, max_value=10**7), max_size=200),
)
def test_record_many_equals_recording_one_by_one(now: int, stamps: list[int]) -> None:
    many, one = LatencyHistogram(), LatencyHistogram()
    many.record_many(now, stamps)
    for ts in stamps:
        one.record(now - ts)
    assert (many.counts, many.count, many.max_ms) == (one.counts, one.count, one.max_ms)
