"""`streamapp reconcile` reading an Iceberg sink table through the stack's REST catalog."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from reconcile_env import Rec, rows

from streamapp.records import Op, OutputRecord
from streamapp.settings import Settings
from streamapp.sinks.base import TableSpec
from streamapp.sinks.iceberg import IcebergSink
from streamapp.types import parse_type

# the stack's Iceberg REST catalog (service iceberg-rest, started by make up)
REST = f"http://127.0.0.1:{os.environ.get('STREAMAPP_ICEBERG_REST_PORT') or 18181}"


def _catalog() -> Any:
    from pyiceberg.catalog import load_catalog

    return load_catalog("streamapp", type="rest", uri=REST)


@pytest.fixture
def lake_rec(rec: Rec) -> Iterator[Rec]:
    """``rec`` with a topology whose only sink is the Iceberg table ``<name>.rows``, its
    catalog the REST server; the table is purged and its namespace dropped after."""
    sinks = f'sinks=[Sink.iceberg("{rec.name}.rows")],'
    rec.write_topology()
    path = rec.tmp / "topologies" / f"{rec.name}.py"
    path.write_text(re.sub(r"sinks=\[.*\],", sinks, path.read_text()))
    rec.env["STREAMAPP_ICEBERG_CATALOG_URI"] = REST
    yield rec
    catalog = _catalog()
    if catalog.table_exists((rec.name, "rows")):
        location = urlparse(catalog.load_table((rec.name, "rows")).location())
        catalog.purge_table((rec.name, "rows"))
        if location.scheme == "file" and location.path.endswith(f"/{rec.name}/rows"):
            shutil.rmtree(Path(location.path).parent, ignore_errors=True)
    if (rec.name,) in catalog.list_namespaces():
        catalog.drop_namespace(rec.name)


def _tamper(rec: Rec, records: list[OutputRecord]) -> None:
    """Write ``records`` into the test's Iceberg table through the sink (newer versions)."""
    props, _ = Settings.from_env({**rec.env}).iceberg_catalog()
    assert props["type"] == "rest"

    async def main() -> None:
        sink = IcebergSink(props, commit_interval=0.1)
        await sink.start()
        cols = {"id": parse_type("int"), "amount": parse_type("decimal(10,2)")}
        table = TableSpec(rec.name, f"{rec.name}.rows", ("id",), cols)
        await sink.ensure_table(table)
        await sink.write(table, records)
        await sink.close()

    asyncio.run(main())


def test_reconcile_through_the_rest_catalog_matches_then_names_what_differs(
    lake_rec: Rec, pg_warehouse: Any
) -> None:
    rec = lake_rec
    rec.seed(rows())
    # the table is the REST server's (not the SQL catalog's in the warehouse PostgreSQL)
    table = _catalog().load_table((rec.name, "rows"))
    assert len(table.scan().to_arrow()) > 0
    in_sql = pg_warehouse.execute(
        "SELECT count(*) FROM iceberg_tables WHERE table_namespace = %s", [rec.name]
    ).fetchone()
    assert in_sql == (0,)

    done = rec.reconcile()
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"iceberg:{rec.name}.rows  MATCH" in done.stdout, done.stdout
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


def test_reconcile_names_the_rest_catalog_it_cannot_reach(lake_rec: Rec) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lake_rec.env["STREAMAPP_ICEBERG_CATALOG_URI"] = f"http://127.0.0.1:{port}"
    done = lake_rec.reconcile()
    assert done.returncode == 2, done.stdout + done.stderr
    sink = f"iceberg:{lake_rec.name}.rows"
    error = [line for line in done.stdout.splitlines() if line.startswith(f"{sink}  ERROR")]
    assert error == [
        f"{sink}  ERROR  cannot read the Iceberg catalog http://127.0.0.1:{port} "
        "(ConnectionError); check STREAMAPP_ICEBERG_CATALOG_URI"
    ], done.stdout
    assert done.stdout.splitlines()[-1].startswith("result: NOT VERIFIED"), done.stdout
