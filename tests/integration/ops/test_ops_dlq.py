"""The DLQ loop on the real stack: poison -> DLQ -> list/show -> topology fixed -> dlq replay."""

from __future__ import annotations

import re
from typing import Any

from ops_harness import FIXED, OpsHarness, row
from worker_harness import consume_all, wait_until

from streamapp.dlq import headers as h


def test_poison_to_dlq_then_fixed_topology_and_replay(ops: OpsHarness, pg_warehouse: Any) -> None:
    ops.send("c", after=row(1), lsn=10)
    ops.send("c", after=row(2, qty="7 units"), lsn=20)  # fixable: the fix parses "N units"
    ops.send("c", after=row(3, qty="12 units"), lsn=30)  # fixable
    ops.send("c", after=row(4, qty="abc"), lsn=40)  # still bad after the fix
    ops.send_raw(b"k-garbage", b"\x07this is not avro")  # decode error, never replayable
    ops.send("c", after=row(5), lsn=50)
    ops.flush()
    ops.start()
    wait_until(lambda: set(ops.pg_rows(pg_warehouse)) == {1, 5}, what="good rows", harness=ops)
    wait_until(
        lambda: len(consume_all(ops.settings, ops.dlq, expect=4, timeout=5)) == 4,
        what="4 records in the DLQ",
        harness=ops,
    )
    assert ops.stop() == 0, ops.log_tail()

    listing = ops.cli("dlq", "list", ops.unique)
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].startswith(f"DLQ {ops.dlq} of topology {ops.unique}: 4 record(s), 0 replayed")
    assert re.match(r"  transform +streamapp\.errors\.TransformError +3 +3 +1 +\d{4}-", lines[2])
    assert re.match(r"  decode +streamapp\.errors\.DecodeError +1 +1 +1 +\d{4}-", lines[3])

    shown = ops.cli("dlq", "show", ops.unique, "--limit", "10")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("dlq offset ") == 4
    assert "  failure   transform: streamapp.errors.TransformError (field qty)" in shown.stdout
    assert f"  source    {ops.topic}[" in shown.stdout
    assert "  event     data, op c, columns: id, email, amount, qty, note, updated_at" in (
        shown.stdout
    )
    assert "@example.com" not in shown.stdout  # masked fields never in clear
    assert "units" not in shown.stdout and "abc" not in shown.stdout  # nor the raw after-image

    ops.write_topology(FIXED)
    fixed_show = ops.cli("dlq", "show", ops.unique, "--offset", "1", "--limit", "3").stdout
    assert fixed_show.count("dlq offset ") == 3 and "dlq offset 0 " not in fixed_show
    fixed = ops.cli("dlq", "show", ops.unique).stdout  # the current topology's masked output
    assert '"qty": 7' in fixed and '"qty": 12' in fixed and "@example.com" not in fixed
    assert fixed.count("output    fails with the current topology: TransformError") == 1

    dry = ops.cli("dlq", "replay", ops.unique, "--exception", "TransformError", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "3 selected (3 streamapp.errors.TransformError)" in dry.stdout
    assert dry.stdout.count("  would replay dlq offset ") == 3
    assert ops.ends(ops.dlq) == {0: 4}  # the dry run changed nothing

    replay = ops.cli("dlq", "replay", ops.unique, "--exception", "TransformError")
    assert replay.returncode == 0, replay.stderr
    assert "replayed 3 DLQ record(s)" in replay.stdout
    assert "1 failed again" in replay.stdout
    assert f"dlq replay {ops.unique} [########################] 3/3" in replay.stderr
    assert set(ops.pg_rows(pg_warehouse)) == {1, 2, 3, 5}
    assert ops.pg_rows(pg_warehouse)[2][2] == 7 and ops.pg_rows(pg_warehouse)[3][2] == 12

    dlq = consume_all(ops.settings, ops.dlq, expect=5)
    assert len(dlq) == 5
    (original,) = [m for m in dlq[:4] if m.value() == dlq[4].value()]  # "abc", first failure
    first = h.header_map(original.headers() or [])
    again = h.header_map(dlq[4].headers() or [])
    assert first[h.ATTEMPT] == "1"
    assert again[h.ATTEMPT] == "2" and again[h.STAGE] == "transform"
    assert again[h.EXCEPTION_CLASS] == "streamapp.errors.TransformError"
    assert (again[h.TOPIC], again[h.PARTITION], again[h.OFFSET]) == (
        first[h.TOPIC],
        first[h.PARTITION],
        first[h.OFFSET],
    )  # it still points at the original record

    # A second run does not take what was replayed: only the new attempt-2 record is pending.
    again_dry = ops.cli("dlq", "replay", ops.unique, "--exception", "TransformError", "--dry-run")
    assert "3 replayed before, 0 not replayable, 1 selected" in again_dry.stdout
    assert "  would replay dlq offset 4 (partition 0): transform" in again_dry.stdout
    assert "attempt 2" in again_dry.stdout
    relisted = ops.cli("dlq", "list", ops.unique).stdout.splitlines()
    assert relisted[0].startswith(
        f"DLQ {ops.dlq} of topology {ops.unique}: 5 record(s), 3 replayed"
    )
    assert re.match(r"  transform +streamapp\.errors\.TransformError +4 +1 +2 ", relisted[2])

    # Applied once: the output topic got one record per fixed row, not one per run.
    ops.cli("dlq", "replay", ops.unique, "--exception", "DecodeError")  # fails again: DLQ
    out = consume_all(ops.settings, ops.output, expect=10, timeout=10)
    ids = sorted(m.key() for m in out)
    assert len(ids) == 4 and len(set(ids)) == 4  # rows 1, 5 by the worker; 2, 3 by the replay
