"""`streamapp status` on the real stack, with a worker running and after it stopped."""

from __future__ import annotations

import re
from typing import Any

from ops_harness import OpsHarness, row
from worker_harness import wait_until


def test_status_shows_lag_dlq_sinks_and_last_applied(ops: OpsHarness, pg_warehouse: Any) -> None:
    for i in range(1, 31):
        ops.send("c", after=row(i), lsn=i)
    ops.send("c", after=row(31, qty="x"), lsn=31)  # one record for the DLQ
    ops.flush()
    ops.start()
    wait_until(lambda: len(ops.pg_rows(pg_warehouse)) == 30, what="30 rows", harness=ops)
    ends = ops.ends()
    wait_until(lambda: ops.committed() == ends, what="offsets committed", harness=ops)

    done = ops.cli("status", ops.unique)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"streamapp status at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", lines[0])
    assert lines[1].startswith(f"group '{ops.unique}-group': Stable, 1 member(s): ")
    assert lines[3] == f"{ops.unique}: {ops.topic} -> {ops.output}"
    for p, end in ends.items():
        assert any(
            re.fullmatch(rf"  {re.escape(ops.topic)}\[{p}\] +{end} +{end} +0", x) for x in lines
        )
    assert re.search(r"^  total +0$", done.stdout, re.M)
    assert f"  dlq           {ops.dlq}: 1 record(s), 0 replayed, 1 pending" in lines
    sinks = "\n".join(x for x in lines if "clickhouse:" in x or "postgres:" in x or "redis:" in x)
    assert re.search(r"clickhouse:\S+ +busy .*embedded chDB held by a running worker", sinks)
    assert re.search(r"postgres:public\.\S+ +ok ", sinks)
    assert re.search(r"redis:\S+ +ok ", sinks)
    assert re.search(r"^  last applied  \d{4}-.*Z \(\d+s ago\)$", done.stdout, re.M)
    assert ops.stop() == 0

    ops.send("c", after=row(40), lsn=40)  # lag while no worker runs
    ops.flush()
    done = ops.cli("status", ops.unique)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"group '{ops.unique}-group': Empty, no active members" in done.stdout
    assert re.search(r"^  total +1$", done.stdout, re.M)
    assert re.search(r"clickhouse:\S+ +ok ", done.stdout)
