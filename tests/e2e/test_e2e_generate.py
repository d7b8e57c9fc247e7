"""`streamapp generate` on real PostgreSQL: clean stops, whole transactions, bookkeeping."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.settings import Settings
from streamapp.workload import Workload, _Ids

SUMMARY = re.compile(r"generate: (\d+) changes in (\d+) transactions \((\d+) ins, (\d+) upd")


def _generate(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "streamapp", "generate", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )


def _count(conn: Any, query: str) -> int:
    row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


def _items_match_orders(conn: Any, schema: str) -> bool:
    """Every order's JSONB items list has exactly its order_items rows (one transaction each)."""
    return (
        _count(
            conn,
            f"SELECT count(*) FROM {schema}.orders o WHERE coalesce(jsonb_array_length(o.items), 0)"
            f" <> (SELECT count(*) FROM {schema}.order_items i WHERE i.order_id = o.id)",
        )
        == 0
    )


@pytest.mark.parametrize(
    ("how", "args"),
    [
        ("duration", ("--rate", "300", "--duration", "2")),
        (signal.SIGINT.name, ("--rate", "300")),
        (signal.SIGTERM.name, ("--rate", "300")),
    ],
)
def test_generate_stops_cleanly_with_whole_transactions(
    stack: Settings, shop_schema: str, how: str, args: tuple[str, ...]
) -> None:
    proc = _generate(*args, "--schema", shop_schema, "--seed", "3")
    if how != "duration":
        time.sleep(2.5)
        proc.send_signal(signal.Signals[how])
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    last = out.replace("\r", "\n").strip().splitlines()[-1]
    match = SUMMARY.match(last)
    assert match is not None, last
    changes, transactions, inserts, updates = map(int, match.groups())
    assert changes > 50 and transactions > 10 and inserts > 0 and updates > 0, last
    with psycopg.connect(stack.source_dsn, autocommit=True) as conn:
        assert _count(conn, f"SELECT count(*) FROM {shop_schema}.customers") > 0
        assert _items_match_orders(conn, shop_schema)


def test_generate_names_a_missing_table(stack: Settings) -> None:
    proc = _generate("--duration", "1", "--schema", "no_such_schema")
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "table no_such_schema.customers not found" in err and "shop.sql" in err


def test_workload_bookkeeping_matches_the_database(stack: Settings, shop_schema: str) -> None:
    with psycopg.connect(stack.source_dsn, autocommit=True) as conn:
        work = Workload(conn, schema=shop_schema, seed=11)
        for _ in range(300):
            work.step()
        assert work.counts.conflicts == 0
        assert set(work.counts.by_kind) == set(work.kinds)
        ids = {r[0] for r in conn.execute("SELECT id FROM customers")}
        assert set(work.customers.items) == ids
        orders: dict[int, str] = dict(conn.execute("SELECT id, status FROM orders").fetchall())
        assert set(work.orders.items) == {i for i, s in orders.items() if s != "test"}
        assert set(work.tests.items) == {i for i, s in orders.items() if s == "test"}
        rows = _count(
            conn,
            "SELECT (SELECT count(*) FROM customers) + (SELECT count(*) FROM orders)"
            " + (SELECT count(*) FROM order_items)",
        )
        assert work.counts.inserts - work.counts.deletes >= rows  # cascades delete more
        assert _items_match_orders(conn, shop_schema)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 20)), max_size=200))
def test_ids_behave_like_a_set(ops: list[tuple[bool, int]]) -> None:
    import random

    ids, model = _Ids(), set()
    rng = random.Random(0)
    for add, item in ops:
        if add:
            ids.add(item)
            model.add(item)
        else:
            ids.remove(item)
            model.discard(item)
        assert sorted(ids.items) == sorted(model) and len(ids) == len(model)
        if model:
            assert ids.choice(rng) in model
