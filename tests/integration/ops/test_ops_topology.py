"""`streamapp topology show|test` over a generated topology module, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ops_harness import FIXED, OpsHarness


def test_show_prints_the_compiled_chain(ops: OpsHarness) -> None:
    done = ops.cli("topology", "show", ops.unique)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[:2] == [f"topology {ops.unique}", f"source   {ops.topic}"]
    assert "  amount      decimal(10,2)" in lines
    at = lines.index("transforms")
    assert lines[at + 1 : at + 7] == [
        "   1. mask('email', hmac_sha256())",
        "      masks email",
        "   2. cast(qty='int')",
        "      qty: string -> int",
        "   3. metadata('__op', '__source_ts_ms')",
        "      adds __op: string, __source_ts_ms: int",
    ]
    assert f"output   {ops.output} (derived schema), key id" in lines
    assert "  qty             int" in lines
    assert lines[-3:] == [
        f"sinks    clickhouse:{ops.table}, postgres:public.{ops.table}, redis:{ops.table}:{{id}}",
        f"dlq      {ops.dlq} (on_error=dlq)",
        "gaps     on_gap=snapshot (events deleted by retention before they were read)",
    ]
    ops.write_topology(FIXED)  # the edit loop: show reflects the module as it is now
    lines = ops.cli("topology", "show", ops.unique).stdout.splitlines()
    assert "      adds qty_n: int" in lines and "      renames qty_n -> qty" in lines


def test_test_runs_the_topology_over_a_file_without_kafka(ops: OpsHarness, tmp_path: Path) -> None:
    after: dict[str, Any] = {"id": 1, "email": "ann@example.com", "amount": 12.5, "qty": "3"}
    source = {"connector": "postgresql", "db": "source", "schema": "public", "lsn": 77}
    insert = {
        "before": None,
        "after": after,
        "source": {**source, "ts_ms": 1_714_557_600_000},
        "op": "c",
    }
    bad = {**insert, "after": {**after, "id": 2, "qty": "7 units"}}
    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(
            [
                json.dumps(insert),
                json.dumps({"key": {"id": 2}, "value": bad}),
                json.dumps({"key": {"id": 1}, "value": None}),
            ]
        )
        + "\n"
    )
    done = ops.cli("topology", "test", ops.unique, "--events", str(events))
    assert done.returncode == 1  # one line failed
    record = json.loads(done.stdout.splitlines()[0])
    assert record["line"] == 1 and record["key"] == {"id": 1} and record["op"] == "c"
    assert record["value"]["qty"] == 3 and record["value"]["amount"] == "12.50"
    assert len(record["value"]["email"]) == 64 and "ann@" not in done.stdout
    # the local dev mask key's warning comes first (issue 16 item 8), then the report
    warned, *err = done.stderr.splitlines()
    assert warned.startswith("STREAMAPP_MASK_SECRET is unset") and "key id" in warned
    assert err[0].startswith("line 2: transform: TransformError: ") and "qty" in err[0]
    assert err[1:] == [
        "line 3: no record (a tombstone event)",
        "3 event(s): 1 record(s), 1 without a record, 1 error(s)",
    ]
    ops.write_topology(FIXED)  # after the fix, line 2 passes
    done = ops.cli("topology", "test", ops.unique, "--events", str(events))
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["value"]["qty"] for x in done.stdout.splitlines()] == [3, 7]
