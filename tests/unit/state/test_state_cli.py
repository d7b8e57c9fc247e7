"""`topology show` prints tables and lookups; `topology test --table` seeds a looked-up table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CUSTOMERS = """
from streamapp.topology import Source, Topology, t
topology = Topology("customers", Source("shop.public.customers",
    {"id": "int", "name": "string", "email": "string"}), key="id",
    transforms=[t.mask("email")])
"""
ORDERS = """
from streamapp.topology import Source, Topology, t
topology = Topology("orders", Source("shop.public.orders", {"id": "int", "customer_id": "int"}),
    key="id", transforms=[t.lookup("customers", on="customer_id",
    columns={"name": "customer_name", "email": "customer_email"}, missing="dlq")])
"""


def event(op: str, row: dict[str, object], lsn: int) -> str:
    source = {
        "connector": "postgresql",
        "db": "shop",
        "schema": "public",
        "table": "x",
        "ts_ms": 1,
        "lsn": lsn,
        "sequence": json.dumps([None, str(lsn)]),
    }
    after = None if op == "d" else row
    before = row if op == "d" else None
    return json.dumps({"op": op, "before": before, "after": after, "source": source})


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "topologies").mkdir()
    (tmp_path / "topologies" / "customers.py").write_text(CUSTOMERS)
    (tmp_path / "topologies" / "orders.py").write_text(ORDERS)
    return tmp_path


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, STREAMAPP_TOPOLOGIES_DIR=str(folder / "topologies"))
    return subprocess.run(
        [sys.executable, "-m", "streamapp", "topology", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
    )


def test_show_prints_table_and_lookup(folder: Path) -> None:
    shown = run(folder, "show", "orders")
    assert shown.returncode == 0, shown.stderr
    assert "adds customer_name: string, customer_email: string" in shown.stdout
    assert (
        "lookup   customers on customer_id = its key id (as_of=event, missing=dlq)" in shown.stdout
    )
    table = run(folder, "show", "customers")
    assert "table    customers (looked up by orders), key id: global" in table.stdout


def test_test_seeds_the_table(folder: Path) -> None:
    (folder / "customers.jsonl").write_text(
        "\n".join(
            [
                event("c", {"id": 7, "name": "Ann", "email": "a@x"}, 10),
                event("c", {"id": 8, "name": "Bo", "email": "b@x"}, 11),
                event("d", {"id": 8, "name": "Bo", "email": "b@x"}, 12),
            ]
        )
    )
    (folder / "orders.jsonl").write_text(
        "\n".join(
            [
                event("c", {"id": 1, "customer_id": 7}, 20),
                event("c", {"id": 2, "customer_id": 8}, 21),  # deleted customer: missing="dlq"
            ]
        )
    )
    done = run(
        folder, "test", "orders", "--events", "orders.jsonl", "--table", "customers=customers.jsonl"
    )
    assert done.returncode == 1, done.stderr
    first = json.loads(done.stdout.splitlines()[0])
    assert first["value"]["customer_name"] == "Ann"
    assert first["value"]["customer_email"] == "***"
    assert "line 2: transform: TransformError: lookup of 'customers' on customer_id" in done.stderr
    unseeded = run(folder, "test", "orders", "--events", "orders.jsonl")
    assert "not materialised in this process" in unseeded.stderr
    wrong = run(folder, "test", "orders", "--events", "orders.jsonl", "--table", "orders=x")
    assert wrong.returncode != 0
    assert "--table orders: orders does not look it up (its lookups: customers)" in wrong.stderr
