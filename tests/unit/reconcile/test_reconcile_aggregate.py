"""reconcile of an Aggregate: the batch fold (SQL GROUP BY semantics), the incremental runtime
equal to it after any change history, the expected rows in key order with Redis keys."""

from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streamapp.reconcile.aggfold import fold
from streamapp.reconcile.aggrun import aggregate_layout, expected_groups
from streamapp.records import UNCHANGED
from streamapp.sinks.redis.reader import RedisTarget
from streamapp.state.aggemit import Aggregator
from streamapp.state.table import Table
from streamapp.topology import Sink, agg
from streamapp.types import Kind

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "state"))
from agg_fixtures import aggregate, order

EPOCH = datetime(2024, 1, 1)
COMPILED = aggregate()
BY_REGION = aggregate(group_by=("region", "customer_id"))
WHERE = aggregate(where=lambda row: row.get("status") != "void")


def row(key: int, **values: Any) -> dict[str, Any]:
    return {"id": key, **values}


def test_fold_is_a_group_by_with_sql_null_rules() -> None:
    rows = [
        row(1, customer_id=7, total=Decimal("10.50"), qty=2, placed_at=EPOCH),
        row(2, customer_id=7, total=None, qty=None, placed_at=EPOCH + timedelta(3)),
        row(3, customer_id=7, total=Decimal("-0.25"), qty=UNCHANGED, placed_at=None),
        row(4, customer_id=8, total=None, qty=None, placed_at=None),
        row(5, customer_id=None, total=Decimal(1)),  # no group
        row(6, customer_id=UNCHANGED, total=Decimal(1)),  # unknown: no group
    ]
    groups, outside = fold(COMPILED, rows)
    assert outside == 2
    assert groups == {
        (7,): {
            "customer_id": 7,
            "order_count": 3,
            "total_spent": Decimal("10.25"),
            "items": 2,
            "first_order_at": EPOCH,
            "last_order_at": EPOCH + timedelta(3),
            "with_qty": 1,
        },
        (8,): {
            "customer_id": 8,
            "order_count": 1,
            "total_spent": None,
            "items": None,
            "first_order_at": None,
            "last_order_at": None,
            "with_qty": 0,
        },
    }


def test_fold_where_and_a_where_that_raises() -> None:
    def where(r: Any) -> bool:
        if r["status"] == "boom":
            raise ValueError("user code")
        return bool(r["status"] != "void")

    compiled = aggregate(columns={"n": agg.count()}, where=where)
    rows = [row(i, customer_id=1, status=s) for i, s in enumerate(["new", "void", "boom", "paid"])]
    groups, outside = fold(compiled, rows)
    assert groups == {(1,): {"customer_id": 1, "n": 2}}
    assert outside == 2


def test_fold_decimal_sums_are_exact_beyond_28_digits() -> None:
    big = Decimal("1234567890123456789012345678901234.56")
    groups, _ = fold(COMPILED, [row(1, customer_id=1, total=big), row(2, customer_id=1, total=big)])
    assert groups[(1,)]["total_spent"] == Decimal("2469135780246913578024691357802469.12")


# -- the incremental runtime ends where the fold says, whatever the history ------------------
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
history = st.lists(
    st.tuples(st.integers(0, 6), st.sampled_from(["write", "write", "delete"]), values),
    max_size=80,
)


@given(plan=history, seed=st.integers(0, 2**16))
def test_incremental_runtime_equals_the_batch_fold(plan: list[Any], seed: int) -> None:
    per_key: dict[int, list[Any]] = {}
    for version, (key, what, vals) in enumerate(plan, start=1):
        per_key.setdefault(key, []).append(order(key, version, what == "delete", **vals))
    for compiled in (COMPILED, BY_REGION, WHERE):
        table = Table("orders", ("id",))
        aggregator = Aggregator(table, [(compiled, [])])
        queues = {k: list(v) for k, v in per_key.items()}
        rnd = random.Random(seed)
        while queues:
            key = rnd.choice(sorted(queues))
            aggregator.apply([queues[key].pop(0)])
            if not queues[key]:
                del queues[key]
        state = aggregator.states[0]
        live = {k: r for k in state.groups if (r := state.row(k)) is not None}
        want, _ = fold(compiled, [r for _, r in table.rows()])
        assert live == want


def test_expected_groups_in_key_order_with_redis_keys() -> None:
    compiled = aggregate(
        columns={"n": agg.count(), "spent": agg.sum("total")},
        sinks=[Sink.postgres("stats"), Sink.redis("stats:{customer_id}")],
    )
    layout = aggregate_layout(compiled)
    assert layout.key_names == ("customer_id",) and layout.names == ("n", "spent")
    assert layout.types[1].kind is Kind.DECIMAL and layout.types[1].precision == 38
    groups, _ = fold(
        compiled, [row(i, customer_id=c, total=Decimal(i)) for i, c in enumerate([10, 2, 10])]
    )
    target = RedisTarget(compiled.sinks[1], layout.key_names)  # type: ignore[arg-type]
    items = expected_groups(compiled, groups, layout, [target])
    assert [item.redis_keys for item in items] == [("stats:2",), ("stats:10",)]
    assert [item.key for item in items] == sorted(item.key for item in items)
    assert items[1].canon == ("2", "2.00")
