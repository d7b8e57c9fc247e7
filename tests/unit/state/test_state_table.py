"""Table semantics: versions, deletes, tombstones, UNCHANGED, indexes, idempotent re-apply."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.records import UNCHANGED, Op, OutputRecord
from streamapp.state import Table


def rec(key: int, version: int, deleted: bool = False, **value: Any) -> OutputRecord:
    unchanged = frozenset(k for k, v in value.items() if v is UNCHANGED)
    op = Op.DELETE if deleted else Op.UPDATE
    row = {"id": key, **value}
    return OutputRecord("customers", (key,), row, version, op, deleted, unchanged, None)


def table(*records: OutputRecord) -> Table:
    t = Table("customers", ("id",))
    t.apply(records)
    return t


# (case, records, key, expected live row, expected version, expected last image)
CASES: list[
    tuple[str, list[OutputRecord], dict[str, Any] | None, int | None, dict[str, Any] | None]
] = [
    ("insert", [rec(1, 10, name="a")], {"id": 1, "name": "a"}, 10, {"id": 1, "name": "a"}),
    (
        "newer update wins",
        [rec(1, 10, name="a"), rec(1, 20, name="b")],
        {"id": 1, "name": "b"},
        20,
        {"id": 1, "name": "b"},
    ),
    (
        "older update ignored",
        [rec(1, 20, name="b"), rec(1, 10, name="a")],
        {"id": 1, "name": "b"},
        20,
        {"id": 1, "name": "b"},
    ),
    (
        "equal version applied in order (two updates in one transaction)",
        [rec(1, 20, name="a"), rec(1, 20, name="b")],
        {"id": 1, "name": "b"},
        20,
        {"id": 1, "name": "b"},
    ),
    (
        "delete keeps a tombstone with the last image",
        [rec(1, 10, name="a", notes="long"), rec(1, 20, deleted=True, name=None, notes=None)],
        None,
        20,
        {"id": 1, "name": "a", "notes": "long"},
    ),
    (
        "an older update cannot resurrect a deleted row",
        [rec(1, 10, name="a"), rec(1, 30, deleted=True), rec(1, 20, name="b")],
        None,
        30,
        {"id": 1, "name": "a"},
    ),
    (
        "a newer insert after a delete",
        [rec(1, 10, name="a"), rec(1, 20, deleted=True), rec(1, 30, name="c")],
        {"id": 1, "name": "c"},
        30,
        {"id": 1, "name": "c"},
    ),
    (
        "UNCHANGED keeps the stored value",
        [rec(1, 10, name="a", notes="long"), rec(1, 20, name="b", notes=UNCHANGED)],
        {"id": 1, "name": "b", "notes": "long"},
        20,
        {"id": 1, "name": "b", "notes": "long"},
    ),
    (
        "UNCHANGED without a stored value stays unknown",
        [rec(1, 10, name="a", notes=UNCHANGED)],
        {"id": 1, "name": "a", "notes": UNCHANGED},
        10,
        {"id": 1, "name": "a", "notes": UNCHANGED},
    ),
    (
        "a delete of an unknown key keeps its known columns",
        [rec(1, 10, deleted=True, notes=UNCHANGED)],
        None,
        10,
        {"id": 1},
    ),
]


@pytest.mark.parametrize(
    ("case", "records", "live", "version", "image"), CASES, ids=[c[0] for c in CASES]
)
def test_apply(
    case: str,
    records: list[OutputRecord],
    live: dict[str, Any] | None,
    version: int | None,
    image: dict[str, Any] | None,
) -> None:
    t = table(*records)
    assert t.get((1,)) == live
    assert t.version((1,)) == version
    assert t.last_image((1,)) == image
    again = table(*records)
    again.apply(records)  # re-applying the same events changes nothing
    assert (again.get((1,)), again.version((1,)), again.last_image((1,))) == (live, version, image)


def test_unknown_key() -> None:
    t = table(rec(1, 10, name="a"))
    assert (t.get((2,)), t.version((2,)), t.last_image((2,))) == (None, None, None)
    assert len(t) == 1


def test_apply_counts_changes() -> None:
    t = Table("customers", ("id",))
    assert t.apply([rec(1, 10), rec(1, 5), rec(2, 1)]) == 2


def test_index_follows_updates_and_deletes() -> None:
    t = Table("orders", ("id",))
    t.index("customer")
    t.apply([rec(1, 1, customer=7), rec(2, 1, customer=7), rec(3, 1, customer=8)])
    assert sorted(t.referencing("customer", 7)) == [(1,), (2,)]
    t.apply([rec(2, 2, customer=8), rec(3, 2, deleted=True)])
    assert sorted(t.referencing("customer", 7)) == [(1,)]
    assert sorted(t.referencing("customer", 8)) == [(2,)]
    assert list(t.referencing("customer", 9)) == []
    t.apply([rec(1, 3, customer=UNCHANGED)])  # the stored value is kept
    assert sorted(t.referencing("customer", 7)) == [(1,)]
    t.apply([rec(4, 1, customer={"json": 1})])  # unhashable values are not indexed
    t.index("customer")  # idempotent
    late = Table("orders", ("id",))
    late.apply([rec(1, 1, customer=7)])
    late.index("customer")  # rows already there are indexed
    assert list(late.referencing("customer", 7)) == [(1,)]
    with pytest.raises(KeyError):
        list(t.referencing("name", "x"))


def test_fill_unchanged_from_old_key() -> None:
    t = table(rec(1, 10, name="a", notes="long", tags=UNCHANGED))
    moved = rec(2, 20, name="a", notes=UNCHANGED, tags=UNCHANGED)
    filled = t.fill_unchanged(moved, (1,))
    assert filled.value == {"id": 2, "name": "a", "notes": "long", "tags": UNCHANGED}
    assert filled.unchanged == {"tags"}
    t.apply([rec(1, 15, deleted=True)])  # the old key's delete may come first
    assert t.fill_unchanged(moved, (1,)).value["notes"] == "long"
    assert t.fill_unchanged(moved, (9,)) is moved


def test_position_and_checkpoint() -> None:
    t = Table("customers", ("id",))
    assert t.position() == {}
    t.apply([rec(1, 1)])
    t.advance({0: 5, 1: 3})
    t.advance({0: 7})
    assert t.position() == {0: 7, 1: 3}
    assert t.checkpoint() == 0  # a MemoryStore keeps no rows


# per key, a few changes in version order; each change: (deleted, value)
_changes = st.lists(st.tuples(st.booleans(), st.integers(0, 3)), min_size=1, max_size=5)


@given(
    per_key=st.dictionaries(st.integers(0, 4), _changes, min_size=1, max_size=4),
    data=st.data(),
)
def test_any_interleaving_with_duplicates_converges(
    per_key: dict[int, list[Any]], data: Any
) -> None:
    """Each key's changes in order, keys interleaved anyhow, any change repeated later: the
    final table is the one of applying each key's changes once, in order."""
    streams = {
        key: [
            rec(key, 10 * (i + 1), deleted=deleted, v=value)
            for i, (deleted, value) in enumerate(changes)
        ]
        for key, changes in per_key.items()
    }
    expected = Table("t", ("id",))
    for records in streams.values():
        expected.apply(records)
    order: list[OutputRecord] = []
    cursors = dict.fromkeys(streams, 0)
    while any(cursors[k] < len(streams[k]) for k in streams):
        key = data.draw(st.sampled_from([k for k in streams if cursors[k] < len(streams[k])]))
        order.append(streams[key][cursors[key]])
        cursors[key] += 1
        if order and data.draw(st.booleans()):  # a duplicate of any earlier change
            order.append(data.draw(st.sampled_from(order)))
    got = Table("t", ("id",))
    got.apply(order)
    for key in streams:
        assert got.get((key,)) == expected.get((key,))
        assert got.version((key,)) == expected.version((key,))
        assert got.last_image((key,)) == expected.last_image((key,))
