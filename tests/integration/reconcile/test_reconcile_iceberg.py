"""`streamapp reconcile` reading an Iceberg sink table (SQL catalog on the stack PostgreSQL), its
warehouse a directory or the stack's S3 store (s3://, see s3_store)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from reconcile_env import Rec, rows
from s3_store import CHECKSUM_ENV, delete_s3_prefix, s3_settings, use_checksum_env

from streamapp.records import Op, OutputRecord
from streamapp.settings import Settings
from streamapp.sinks.base import TableSpec
from streamapp.sinks.iceberg import IcebergSink
from streamapp.types import parse_type


@pytest.fixture(params=["dir", "s3"])
def lake_rec(
    request: pytest.FixtureRequest, rec: Rec, pg_warehouse: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Rec]:
    """``rec`` with a topology whose only sink is the Iceberg table ``<name>.rows``, its
    warehouse a directory of the test or (param ``s3``) a prefix of the stack's S3 bucket."""
    sinks = f'sinks=[Sink.iceberg("{rec.name}.rows")],'
    rec.write_topology()
    path = rec.tmp / "topologies" / f"{rec.name}.py"
    text = path.read_text()
    path.write_text(re.sub(r"sinks=\[.*\],", sinks, text))
    if request.param == "s3":
        s3 = s3_settings(rec.settings, rec.name)
        rec.env["STREAMAPP_ICEBERG_WAREHOUSE"] = s3.iceberg_warehouse
        rec.env["STREAMAPP_ICEBERG_PROPERTIES"] = s3.iceberg_properties
        rec.env.update(CHECKSUM_ENV)
        use_checksum_env(monkeypatch)  # _tamper writes from this process
    else:
        rec.env["STREAMAPP_ICEBERG_WAREHOUSE"] = str(rec.tmp / "iceberg")
    yield rec
    if request.param == "s3":
        delete_s3_prefix(rec.name)
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
    from pyiceberg.catalog import load_catalog

    props, _ = Settings.from_env({**rec.env}).iceberg_catalog()
    location = load_catalog("streamapp", **props).load_table((rec.name, "rows")).location()
    scheme = "s3://" if rec.env["STREAMAPP_ICEBERG_WAREHOUSE"].startswith("s3://") else "file://"
    assert location.startswith(scheme), location  # the data is where the warehouse says
    done = rec.reconcile()
    assert done.returncode == 0, done.stdout + done.stderr
    sink = f"iceberg:{rec.name}.rows"
    assert f"{sink}  MATCH" in done.stdout, done.stdout
    assert done.stdout.splitlines()[-1] == "result: MATCH, 1 of 1 sink(s) within tolerance 0"

    # `streamapp status` shows when the sink last committed: the table's current snapshot
    snapshot = load_catalog("streamapp", **props).load_table((rec.name, "rows")).current_snapshot()
    assert snapshot is not None
    stamp = datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    status = rec.run("-m", "streamapp", "status", rec.name)
    line = next((x for x in status.stdout.splitlines() if sink in x), status.stdout + status.stderr)
    assert re.search(rf"{re.escape(sink)} +ok .* last commit {stamp}\.\d{{3}}Z \(\d+s ago\)$", line)

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
