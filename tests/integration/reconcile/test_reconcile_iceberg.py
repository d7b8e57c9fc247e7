"""`streamapp reconcile` reading an Iceberg sink table (SQL catalog on the stack PostgreSQL)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from reconcile_env import Rec, rows

from streamapp.records import Op, OutputRecord
from streamapp.settings import Settings
from streamapp.sinks.base import TableSpec
from streamapp.sinks.iceberg import IcebergSink
from streamapp.types import parse_type


@pytest.fixture
def lake_rec(rec: Rec, pg_warehouse: Any) -> Iterator[Rec]:
    """``rec`` with a topology whose only sink is the Iceberg table ``<name>.rows``."""
    sinks = f'sinks=[Sink.iceberg("{rec.name}.rows")],'
    rec.write_topology()
    path = rec.tmp / "topologies" / f"{rec.name}.py"
    text = path.read_text()
    path.write_text(re.sub(r"sinks=\[.*\],", sinks, text))
    rec.env["STREAMAPP_ICEBERG_WAREHOUSE"] = str(rec.tmp / "iceberg")
    yield rec
    pg_warehouse.execute(
        "DELETE FROM iceberg_tables WHERE catalog_name = 'streamapp' AND table_namespace = %s",
        [rec.name],
    )
    pg_warehouse.execute(
        "DELETE FROM iceberg_namespace_properties WHERE catalog_name = 'streamapp' "
        "AND namespace = %s",
        [rec.name],
    )


def _tamper(rec: Rec, records: list[OutputRecord]) -> None:
    """Write ``records`` into the test's Iceberg table through the sink (newer versions)."""
    env = Settings.from_env({**rec.env})
    props, _ = env.iceberg_catalog()

    async def main() -> None:
        sink = IcebergSink(props, commit_interval=0.1)
        await sink.start()
        cols = {"id": parse_type("int"), "amount": parse_type("decimal(10,2)")}
        table = TableSpec(rec.name, f"{rec.name}.rows", ("id",), cols)
        await sink.ensure_table(table)
        await sink.write(table, records)
        await sink.close()

    asyncio.run(main())


def test_reconcile_matches_then_names_what_differs(lake_rec: Rec) -> None:
    rec = lake_rec
    rec.seed(rows())
    done = rec.reconcile()
    assert done.returncode == 0, done.stdout + done.stderr
    sink = f"iceberg:{rec.name}.rows"
    assert f"{sink}  MATCH" in done.stdout, done.stdout
    assert done.stdout.splitlines()[-1] == "result: MATCH, 1 of 1 sink(s) within tolerance 0"

    big = 1 << 60
    _tamper(
        rec,
        [
            OutputRecord(rec.name, (2,), {"id": 2}, big, Op.DELETE, True, frozenset(), None),
            OutputRecord(
                rec.name,
                (3,),
                {"id": 3, "amount": Decimal("1.00")},
                big,
                Op.UPDATE,
                False,
                frozenset(),
                None,
            ),
        ],
    )
    done = rec.reconcile()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "  missing keys    id=2\n" in done.stdout, done.stdout
    assert "  differing keys  id=3 (" in done.stdout, done.stdout
