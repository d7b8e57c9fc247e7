"""The sink contract helpers: TableSpec validation, key checks, in-batch collapse, bisection."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.errors import ConfigError
from streamapp.records import UNCHANGED, Op, OutputRecord
from streamapp.sinks.base import TableSpec, bisect, check_keys, collapse
from streamapp.types import INT, STRING

COLS = {"id": INT, "a": STRING, "b": STRING}


def rec(
    key: Any,
    version: int,
    *,
    deleted: bool = False,
    unchanged: frozenset[str] = frozenset(),
    **values: Any,
) -> OutputRecord:
    value = {"id": key, **values, **{c: UNCHANGED for c in unchanged}}
    op = Op.DELETE if deleted else Op.UPDATE
    return OutputRecord("t", (key,), value, version, op, deleted, unchanged, None)


@pytest.mark.parametrize(
    ("keys", "columns", "target", "message"),
    [
        ((), COLS, "orders", "no key columns"),
        (("id", "id"), COLS, "orders", "repeat"),
        (("nope",), COLS, "orders", "not output columns"),
        (("id",), COLS, "", "target is empty"),
    ],
)
def test_table_spec_rejects_bad_declarations(
    keys: tuple[str, ...], columns: dict[str, Any], target: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        TableSpec("topo", target, keys, columns)


def test_table_spec_signature_ignores_options_and_is_hashable() -> None:
    a = TableSpec("topo", "orders", ("id",), COLS, {"schema": "x"})
    b = TableSpec("topo", "orders", ("id",), dict(COLS), {"schema": "y"})
    assert hash(a.signature) == hash(b.signature)
    assert a.signature != TableSpec("topo", "orders", ("id",), {**COLS, "c": INT}).signature


TABLE = TableSpec("topo", "orders", ("id",), COLS)


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (OutputRecord("t", (), {}, 1, Op.CREATE, False, frozenset(), None), "non-null"),
        (OutputRecord("t", (1, 2), {}, 1, Op.CREATE, False, frozenset(), None), "non-null"),
        (OutputRecord("t", (None,), {}, 1, Op.CREATE, False, frozenset(), None), "non-null"),
        (rec(1, -1), "version"),
        (rec(1, 1 << 63), "version"),
        (OutputRecord("t", (1,), {}, True, Op.CREATE, False, frozenset(), None), "version"),
    ],
)
def test_check_keys_rejects_unstorable_records(record: OutputRecord, reason: str) -> None:
    good, positions, bad = check_keys(TABLE, [record, rec(2, 1)])
    assert [r.key for r in good] == [(2,)] and positions == [1]
    assert [r.positions for r in bad] == [(0,)]
    assert reason in str(bad[0].error) and "orders" in str(bad[0].error)
    assert not bad[0].error.retriable


def test_check_keys_lists_a_sentinel_the_record_forgot() -> None:
    forgot = OutputRecord(
        "t", (1,), {"id": 1, "a": UNCHANGED}, 3, Op.UPDATE, False, frozenset(), None
    )
    (good,), _, _ = check_keys(TABLE, [forgot])
    assert good.unchanged == {"a"}


_RECORDS = st.builds(
    lambda key, version, deleted, a, listed: OutputRecord(
        "t",
        key,
        {"id": 1, "a": a},
        version,
        Op.DELETE if deleted else Op.UPDATE,
        deleted,
        frozenset({"a"}) if listed else frozenset(),
        None,
    ),
    st.sampled_from([(1,), (2,), (), (None,), (1, 2)]),
    st.sampled_from([1, 7, -1, 1 << 63, (1 << 63) - 1, True, 2.0]),
    st.booleans(),
    st.sampled_from(["x", None, UNCHANGED]),
    st.booleans(),
)


@given(st.lists(_RECORDS, max_size=12))
def test_check_keys_on_a_batch_equals_check_keys_on_each_record(
    batch: list[OutputRecord],
) -> None:
    good, positions, bad = check_keys(TABLE, batch)
    singles = [check_keys(TABLE, [r]) for r in batch]
    assert good == [r for g, _, _ in singles for r in g]
    assert positions == [i for i, (g, _, _) in enumerate(singles) if g]
    assert [(b.positions, str(b.error)) for b in bad] == [
        ((i,), str(b.error)) for i, (_, _, bs) in enumerate(singles) for b in bs
    ]


@pytest.mark.parametrize(
    ("batch", "expected"),
    [
        # highest version wins whatever the order, duplicates collapse
        ([rec(1, 2, a="new"), rec(1, 1, a="old"), rec(1, 2, a="new")], [rec(1, 2, a="new")]),
        # unchanged filled from an older record of the batch
        (
            [rec(1, 5, a="x", b="y"), rec(1, 6, b="z", unchanged=frozenset({"a"}))],
            [rec(1, 6, a="x", b="z")],
        ),
        # unchanged twice in a row still unchanged: the sink keeps the stored value
        (
            [
                rec(1, 5, b="y", unchanged=frozenset({"a"})),
                rec(1, 6, b="z", unchanged=frozenset({"a"})),
            ],
            [rec(1, 6, b="z", unchanged=frozenset({"a"}))],
        ),
        # after a delete there is nothing to keep
        (
            [rec(1, 5, deleted=True), rec(1, 6, b="z", unchanged=frozenset({"a"}))],
            [rec(1, 6, a=None, b="z")],
        ),
        # a delete wins over older updates; keys keep first-seen order
        (
            [rec(2, 1, a="k2"), rec(1, 9, deleted=True), rec(1, 3, a="old")],
            [rec(2, 1, a="k2"), rec(1, 9, deleted=True)],
        ),
    ],
)
def test_collapse_table(batch: list[OutputRecord], expected: list[OutputRecord]) -> None:
    assert collapse(batch)[0] == expected


# -- property: collapse + one versioned write per key == every record applied in version order --


@dataclass
class Stored:
    version: int
    deleted: bool
    values: dict[str, Any] = field(default_factory=dict)


def apply(store: dict[Any, Stored], r: OutputRecord) -> None:
    """What every sink does for one record: version guard, tombstone, unchanged kept."""
    cur = store.get(r.key)
    if cur is not None and cur.version >= r.version:
        return
    if r.deleted:
        store[r.key] = Stored(r.version, True)
        return
    values: dict[str, Any] = {}
    for c in ("a", "b"):
        if c in r.unchanged:
            values[c] = None if cur is None or cur.deleted else cur.values.get(c)
        else:
            values[c] = r.value.get(c)
    store[r.key] = Stored(r.version, False, values)


@st.composite
def batches(draw: st.DrawFn) -> tuple[dict[Any, Stored], list[OutputRecord]]:
    records = []
    store: dict[Any, Stored] = {}
    for key in draw(st.sets(st.integers(0, 3), min_size=1)):
        versions = draw(st.lists(st.integers(10, 60), min_size=1, max_size=6, unique=True))
        for v in versions:
            deleted = draw(st.booleans())
            unchanged = frozenset() if deleted else draw(st.frozensets(st.sampled_from("ab")))
            vals = {c: draw(st.sampled_from(["x", "y", None])) for c in "ab" if c not in unchanged}
            records.append(rec(key, v, deleted=deleted, unchanged=unchanged, **vals))
        if draw(st.booleans()):  # a stored row older or newer than the whole batch
            older = draw(st.booleans())
            version = min(versions) - 1 if older else max(versions) + 1
            store[(key,)] = Stored(version, draw(st.booleans()), {"a": "s", "b": "t"})
    dupes = draw(st.lists(st.sampled_from(records), max_size=3))
    order = draw(st.permutations(records + dupes))
    return store, list(order)


@given(batches())
def test_collapse_then_write_equals_sequential_application(
    case: tuple[dict[Any, Stored], list[OutputRecord]],
) -> None:
    initial, batch = case
    sequential = {k: Stored(s.version, s.deleted, dict(s.values)) for k, s in initial.items()}
    for r in sorted(batch, key=lambda r: r.version):
        apply(sequential, r)
    collapsed = {k: Stored(s.version, s.deleted, dict(s.values)) for k, s in initial.items()}
    out, origins = collapse(batch)
    # every record of the batch is an origin of exactly one collapsed record
    assert sorted(p for o in origins for p in o) == list(range(len(batch)))
    assert len({r.key for r in out}) == len(out)
    for r in out:
        apply(collapsed, r)
    assert collapsed == sequential


@given(batches(), st.randoms())
def test_collapse_ignores_batch_order(
    case: tuple[dict[Any, Stored], list[OutputRecord]], rnd: random.Random
) -> None:
    _, batch = case
    shuffled = list(batch)
    rnd.shuffle(shuffled)
    by_key = {r.key: r for r in collapse(batch)[0]}
    assert by_key == {r.key: r for r in collapse(shuffled)[0]}


# -- bisect --


class Bad(Exception):
    pass


class Down(Exception):
    pass


def run_bisect(items: Sequence[int], culprits: set[int]) -> tuple[list[int], list[int], int]:
    stored: list[int] = []
    calls = 0

    async def attempt(part: Sequence[int]) -> None:
        nonlocal calls
        calls += 1
        if culprits & set(part):
            raise Bad("content")
        stored.extend(part)

    failed = asyncio.run(bisect(items, attempt, lambda e: isinstance(e, Bad)))
    assert all(isinstance(e, Bad) for _, e in failed)
    return [i for i, _ in failed], stored, calls


@given(
    st.integers(1, 300).flatmap(
        lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1), max_size=4))
    )
)
def test_bisect_finds_exactly_the_culprits_and_stores_the_rest(case: tuple[int, set[int]]) -> None:
    n, culprits = case
    failed, stored, calls = run_bisect(range(n), culprits)
    assert sorted(failed) == sorted(culprits)
    assert sorted(stored) == sorted(set(range(n)) - culprits)
    assert calls <= 1 + 2 * max(1, len(culprits)) * n.bit_length()


def test_bisect_propagates_other_errors() -> None:
    async def attempt(part: Sequence[int]) -> None:
        raise Down("connection reset")

    with pytest.raises(Down):
        asyncio.run(bisect([1, 2, 3], attempt, lambda e: isinstance(e, Bad)))
