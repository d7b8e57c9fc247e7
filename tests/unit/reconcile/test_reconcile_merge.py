"""The merge-join, the tally's verdict, the on-disk sort and the order check, on plain data."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.ops import OpsError
from streamapp.reconcile.expected import Counts, OutOfOrder, ascending
from streamapp.reconcile.extsort import external_sort
from streamapp.reconcile.layout import Canon, Expected, differing_columns, digest
from streamapp.reconcile.merge import DIFFERS, OK, SAMPLES, UNVERIFIED, OrderedJoin, Tally

NAMES = ("a", "b")


def _join(expected: list[tuple[int, Canon]], sink: list[tuple[int, Canon]]) -> Tally:
    tally = Tally("sink", NAMES)
    join = OrderedJoin(tally, iter([((k,), c) for k, c in sink]))
    for k, c in expected:
        join.feed(Expected((k,), c, ()))
    join.finish()
    return tally


@pytest.mark.parametrize(
    ("expected", "sink", "missing", "extra", "differing", "cols"),
    [
        ([(1, ("x", None))], [(1, ("x", None))], [], [], [], {}),
        ([(1, ("x", None)), (2, ("y", "1"))], [(1, ("x", None))], [2], [], [], {}),
        (
            [(2, ("y", "1"))],
            [(1, ("x", None)), (2, ("y", "1")), (3, ("z", "1"))],
            [],
            [1, 3],
            [],
            {},
        ),
        ([(1, ("x", None))], [(1, ("x", ""))], [], [], [1], {1: ("b",)}),  # null != ""
        (
            [(1, ("x", "1")), (2, ("y", "2"))],
            [(1, ("X", "1")), (2, ("y", "3"))],
            [],
            [],
            [1, 2],
            {1: ("a",), 2: ("b",)},
        ),
        ([], [(5, ("x", "1"))], [], [5], [], {}),
        ([(5, ("x", "1"))], [], [5], [], [], {}),
    ],
)
def test_merge_join_counts_and_names_keys_and_columns(
    expected: list[tuple[int, Canon]],
    sink: list[tuple[int, Canon]],
    missing: list[int],
    extra: list[int],
    differing: list[int],
    cols: dict[int, tuple[str, ...]],
) -> None:
    tally = _join(expected, sink)
    assert (tally.expected, tally.rows) == (len(expected), len(sink))
    assert tally.missing_keys == [(k,) for k in missing]
    assert tally.extra_keys == [(k,) for k in extra]
    assert [k for (k,), _ in tally.differing_keys] == differing
    assert {k: c for (k,), c in tally.differing_keys} == cols


@given(
    st.dictionaries(st.integers(0, 60), st.tuples(st.sampled_from(["x", "y", None]), st.just("1"))),
    st.dictionaries(st.integers(0, 60), st.tuples(st.sampled_from(["x", "y", None]), st.just("1"))),
)
def test_merge_join_agrees_with_set_arithmetic(
    expected: dict[int, Canon], sink: dict[int, Canon]
) -> None:
    tally = _join(sorted(expected.items()), sorted(sink.items()))
    both = expected.keys() & sink.keys()
    assert tally.missing == len(expected.keys() - sink.keys())
    assert tally.extra == len(sink.keys() - expected.keys())
    assert tally.matched == len(both)
    assert tally.differing == sum(expected[k] != sink[k] for k in both)
    assert len(tally.missing_keys) == min(tally.missing, SAMPLES)
    nulls = sum(1 for c in sink.values() if c[0] is None)
    assert tally.nulls_sink[0] == nulls and tally.read == len(sink)


def test_a_sink_stream_out_of_key_order_is_an_error() -> None:
    with pytest.raises(OpsError, match="ascending key order"):
        _join([(1, ("x", "1"))], [(2, ("x", "1")), (1, ("x", "1"))])


@pytest.mark.parametrize(
    ("state", "expected", "bad", "tolerance", "verdict"),
    [
        ("ok", 1000, 0, 0.0, OK),
        ("ok", 1000, 1, 0.0, DIFFERS),
        ("ok", 1000, 1, 0.001, OK),
        ("ok", 1000, 2, 0.001, DIFFERS),
        ("ok", 0, 0, 0.0, OK),
        ("busy", 1000, 0, 0.0, UNVERIFIED),
        ("error", 0, 0, 1.0, UNVERIFIED),
    ],
)
def test_verdict_within_tolerance(
    state: str, expected: int, bad: int, tolerance: float, verdict: int
) -> None:
    tally = Tally("sink", NAMES, state=state, expected=expected, missing=bad)
    assert tally.verdict(tolerance) == verdict


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ((None,), ("",), False),
        (("ab", "c"), ("a", "bc"), False),
        (("x", None), ("x", None), True),
        ((), (), True),
    ],
)
def test_digest_separates_nulls_and_boundaries(a: Canon, b: Canon, same: bool) -> None:
    assert (digest(a) == digest(b)) is same


def test_differing_columns_names_only_the_columns() -> None:
    assert differing_columns(("a", "b", "c"), ("1", None, "3"), ("1", "2", "4")) == ("b", "c")


@given(st.lists(st.tuples(st.integers(-5, 5), st.text(max_size=3))), st.integers(1, 7))
def test_external_sort_is_a_stable_sort(pairs: list[tuple[int, str]], run_rows: int) -> None:
    items = [Expected((k,), (v,), (str(i),)) for i, (k, v) in enumerate(pairs)]
    assert list(external_sort(items, run_rows=run_rows)) == sorted(items, key=lambda e: e.key)


@pytest.mark.parametrize(
    ("keys", "kept", "duplicates"),
    [([1, 2, 3], [1, 2, 3], 0), ([1, 1, 2, 2, 2], [1, 2], 3), ([], [], 0)],
)
def test_ascending_drops_repeated_keys(keys: list[int], kept: list[int], duplicates: int) -> None:
    counts = Counts()
    items = [Expected((k,), (), ()) for k in keys]
    assert [e.key[0] for e in ascending(items, counts, check=True)] == kept
    assert (counts.duplicates, counts.expected) == (duplicates, len(kept))


def test_ascending_signals_keys_out_of_source_order() -> None:
    items = [Expected((k,), (), ()) for k in (1, 3, 2)]
    with pytest.raises(OutOfOrder):
        list(ascending(items, Counts(), check=True))
    assert len(list(ascending(sorted(items), Counts(), check=False))) == 3
