"""Property: for any per-key-ordered changes (inserts, updates incl. group moves, deletes,
redeliveries), the incremental aggregate equals a full recompute from the final table, each
group's version is the largest version of the changes that altered it, and any interleaving
of the partitions ends with the same rows and versions."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from agg_fixtures import aggregate, order
from hypothesis import given
from hypothesis import strategies as st

from streamapp.records import OutputRecord
from streamapp.state.aggemit import Aggregator
from streamapp.state.aggregate import recompute
from streamapp.state.table import Table

COMPILED = aggregate()
BY_REGION = aggregate(group_by=("region", "customer_id"))
WHERE = aggregate(where=lambda row: row.get("status") != "void")
EPOCH = datetime(2024, 1, 1)

values = st.fixed_dictionaries(
    {
        "customer_id": st.one_of(st.none(), st.integers(1, 4)),
        "region": st.sampled_from(["eu", "us"]),
        "total": st.one_of(
            st.none(), st.decimals(-1000, 1000, places=2, allow_nan=False, allow_infinity=False)
        ),
        "qty": st.one_of(st.none(), st.integers(-5, 5)),
        "placed_at": st.one_of(st.none(), st.integers(0, 20).map(lambda d: EPOCH + timedelta(d))),
        "status": st.sampled_from(["new", "paid", "void"]),
    }
)
# per step: which key, what happens to it (write a row, delete it, or redeliver an old change)
WHAT = st.sampled_from(["write", "write", "delete", "redeliver"])
steps = st.lists(st.tuples(st.integers(0, 5), WHAT, values), max_size=60)


def changes_of(plan: list[tuple[int, str, dict[str, Any]]]) -> dict[int, list[OutputRecord]]:
    """Per key, its changes in order (what one partition delivers for it)."""
    out: dict[int, list[OutputRecord]] = {}
    for version, (key, what, row) in enumerate(plan, start=1):
        mine = out.setdefault(key, [])
        if what == "redeliver" and mine:
            mine.append(mine[version % len(mine)])  # an earlier change again (or the last one)
        elif what == "delete":
            mine.append(order(key, version, deleted=True, **row))
        else:
            mine.append(order(key, version, **row))
    return out


def apply(
    compiled: Any, per_key: dict[int, list[OutputRecord]], seed: int
) -> tuple[Table, Aggregator]:
    """Apply every key's changes in order, keys interleaved at random (two partitions read
    in any order)."""
    table = Table("orders", ("id",))
    aggregator = Aggregator(table, [(compiled, [])])
    queues = {k: list(v) for k, v in per_key.items()}
    rnd = random.Random(seed)
    while queues:
        key = rnd.choice(sorted(queues))
        aggregator.apply([queues[key].pop(0)])
        if not queues[key]:
            del queues[key]
    return table, aggregator


def expected_versions(compiled: Any, per_key: dict[int, list[OutputRecord]]) -> dict[Any, int]:
    """Per group, the largest version among the changes that altered it, walked key by key
    apart from the runtime: a change applies unless older than the key's last applied one,
    and alters the groups whose one-row aggregate of the key's row differs before and after."""
    out: dict[Any, int] = {}
    for changes in per_key.values():
        applied, before = -1, None
        for change in changes:
            if change.version < applied:
                continue
            applied = change.version
            after = None if change.deleted else dict(change.value)
            old = recompute(compiled, [] if before is None else [before])
            new = recompute(compiled, [] if after is None else [after])
            if old != new:
                for group in {*old, *new}:
                    out[group] = max(out.get(group, 0), change.version)
            before = after
    return out


def live(aggregator: Aggregator) -> dict[Any, Any]:
    state = aggregator.states[0]
    return {k: row for k in state.groups if (row := state.row(k)) is not None}


@given(plan=steps, seed=st.integers(0, 2**16))
def test_incremental_equals_recompute(plan: list[Any], seed: int) -> None:
    per_key = changes_of(plan)
    for compiled in (COMPILED, BY_REGION, WHERE):
        table, aggregator = apply(compiled, per_key, seed)
        expected = recompute(compiled, [row for _, row in table.rows()])
        assert live(aggregator) == expected
        for key, group in aggregator.states[0].groups.items():
            assert group.rows == (expected[key]["order_count"] if key in expected else 0)
        versions = {k: g.version for k, g in aggregator.states[0].groups.items()}
        assert versions == expected_versions(compiled, per_key)


@given(plan=steps, seeds=st.tuples(st.integers(0, 2**16), st.integers(0, 2**16)))
def test_any_interleaving_ends_with_the_same_rows_and_versions(
    plan: list[Any], seeds: tuple[int, int]
) -> None:
    per_key = changes_of(plan)
    _, one = apply(COMPILED, per_key, seeds[0])
    _, two = apply(COMPILED, per_key, seeds[1])
    assert live(one) == live(two)
    versions = {k: g.version for k, g in one.states[0].groups.items()}
    assert versions == {k: g.version for k, g in two.states[0].groups.items()}


def test_decimal_sums_are_exact_at_38_digits() -> None:
    big = Decimal("1234567890123456789012345678901234.56")  # 36 digits
    per_key = {
        1: [order(1, 1, customer_id=1, total=big)],
        2: [order(2, 2, customer_id=1, total=Decimal("0.01"))],
    }
    per_key[1].append(order(1, 3, deleted=True, customer_id=1, total=big))
    _, aggregator = apply(COMPILED, per_key, 0)
    assert live(aggregator)[(1,)]["total_spent"] == Decimal("0.01")
