"""reconcile --repair's key logs: spilled and merged in order, what the joins log, strays
confirmed by two passes, and the tombstone's version."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamapp.ops import OpsError
from streamapp.reconcile.keylog import KeyLog
from streamapp.reconcile.layout import Expected
from streamapp.reconcile.merge import Diffs, OrderedJoin, Tally
from streamapp.reconcile.repair import confirmed
from streamapp.reconcile.tombstones import tombstone_version
from streamapp.sinks.base import MAX_VERSION


@settings(max_examples=50)
@given(st.lists(st.tuples(st.integers(-50, 50), st.text(max_size=3))), st.integers(1, 7))
def test_keylog_yields_distinct_keys_in_order_across_spilled_runs(
    keys: list[tuple[int, str]], run: int
) -> None:
    with KeyLog(run_keys=run) as log:
        for k in keys:
            log.add(k, ("payload", k))
        assert list(log.sorted_keys()) == sorted(set(keys))
        assert list(log.sorted_keys()) == sorted(set(keys))  # may be read again
        assert all(p == ("payload", k) for k, p in log.entries())
        assert log.added == len(keys)


def _tally() -> Tally:
    return Tally("postgres:public.t", ("a",), diffs=Diffs(KeyLog(run_keys=2), KeyLog(run_keys=2)))


def test_the_join_logs_source_keys_of_missing_and_differing_rows_and_strays() -> None:
    tally = _tally()
    sink = [((1,), ("x",), ((1,), 10)), ((2,), ("old",), ((2,), 11)), ((5,), ("s",), ((5,), 12))]
    join = OrderedJoin(tally, iter(sink))
    for key, value in [(1, "x"), (2, "new"), (3, "m"), (4, "m")]:
        join.feed(Expected((key,), (value,), (), (f"src{key}",)))
    join.finish()
    assert (tally.missing, tally.differing, tally.extra) == (2, 1, 1)
    assert tally.diffs is not None
    assert list(tally.diffs.resnap.sorted_keys()) == [("src2",), ("src3",), ("src4",)]
    assert list(tally.diffs.strays.entries()) == [((5,), ((5,), 12))]


def test_without_diffs_nothing_is_logged() -> None:
    tally = Tally("t", ("a",))
    join = OrderedJoin(tally, iter([((9,), ("x",))]))  # readers without a stored payload too
    join.feed(Expected((1,), ("x",), ()))
    join.finish()
    assert (tally.missing, tally.extra, tally.diffs) == (1, 1, None)


def test_a_stray_is_confirmed_only_when_two_passes_saw_it_with_the_same_version() -> None:
    before, now = _tally(), _tally()
    assert before.diffs is not None and now.diffs is not None
    for key, version in [(1, 5), (2, 6), (4, 9)]:
        before.diffs.strays.add((key,), ((key,), version))
    for key, version in [(1, 5), (2, 7), (3, 1), (4, 9)]:  # 2 was rewritten, 3 is new
        now.diffs.strays.add((key,), ((key,), version))
    assert list(confirmed(before, now)) == [((1,), 5), ((4,), 9)]
    assert list(confirmed(None, now)) == []  # the first pass confirms nothing


def test_the_tombstone_beats_exactly_the_stored_version() -> None:
    assert tombstone_version(41) == 42
    assert tombstone_version(None) == 1
    with pytest.raises(OpsError):
        tombstone_version(MAX_VERSION - 1)


def test_external_sort_keeps_items_whose_fields_share_objects() -> None:
    # Two columns holding one object ("true" twice): pickle memoizes it within an item, and a
    # memo cleared between items made later items read earlier items' objects.
    from streamapp.reconcile.extsort import external_sort

    items = []
    for i in range(7):
        flag = "true" if i % 2 else "false"
        items.append(Expected((i,), (flag, flag, f"v{i}"), ()))
    assert list(external_sort(reversed(items), run_rows=3)) == items


def test_external_sort_keeps_source_keys_sharing_the_key_object() -> None:
    from streamapp.reconcile.extsort import external_sort

    items = [Expected((f"k{i}",), ("v",), ()) for i in range(7)]
    items = [e._replace(source_key=e.key) for e in items]  # one str object in both
    assert list(external_sort(reversed(items), run_rows=3)) == items
