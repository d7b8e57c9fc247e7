"""Sealed DLQ on the real stack: the worker seals, `dlq show`/`replay` open with the key (also
after a rotation), and without it show only the context and replay nothing."""

from __future__ import annotations

from typing import Any

import pytest
from ops_harness import FIXED, OpsHarness, row
from worker_harness import consume_all, wait_until

from streamapp.dlq import headers as h
from streamapp.dlq.seal import SEALED, SEALED_KEY_ID
from streamapp.transform.mask import key_id

K1, K2 = "a1" * 32, "b2" * 32


def test_sealed_dlq_records_open_only_with_their_key(
    ops: OpsHarness, pg_warehouse: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMAPP_DLQ_KEY", K1)
    ops.send("c", after=row(1), lsn=10)
    ops.send("c", after=row(2, qty="7 units"), lsn=20)  # fixable by FIXED
    ops.send_raw(b"k-garbage", b"\x07person9@example.com is not avro")  # never replayable
    ops.flush()
    ops.start()
    wait_until(
        lambda: len(consume_all(ops.settings, ops.dlq, expect=2, timeout=5)) == 2,
        what="2 records in the DLQ",
        harness=ops,
    )
    assert ops.stop() == 0, ops.log_tail()
    dlq = consume_all(ops.settings, ops.dlq, expect=2)
    for msg in dlq:
        found = h.header_map(msg.headers() or [])
        assert found[SEALED] == "AES-256-GCM"
        assert found[SEALED_KEY_ID] == key_id(bytes.fromhex(K1))
        assert found[h.TOPIC] == ops.topic  # the context stays readable
        for part in (msg.key() or b"", msg.value() or b""):
            assert b"person2@example.com" not in part and b"7 units" not in part
            assert b"person9" not in part and b"k-garbage" not in part

    shown = ops.cli("dlq", "show", ops.unique)
    assert shown.returncode == 0, shown.stderr
    assert "  event     data, op c, columns: id, email, amount, qty, note, updated_at" in (
        shown.stdout
    )
    assert "@example.com" not in shown.stdout

    monkeypatch.delenv("STREAMAPP_DLQ_KEY")
    blind = ops.cli("dlq", "show", ops.unique)
    assert blind.returncode == 0, blind.stderr
    assert (
        blind.stdout.count(f"  sealed    sealed with DLQ key id {key_id(bytes.fromhex(K1))}") == 2
    )
    assert "  event " not in blind.stdout and "@example.com" not in blind.stdout
    refused = ops.cli("dlq", "replay", ops.unique, "--exception", "TransformError")
    assert refused.returncode == 1
    assert "1 selected DLQ record(s) of " in refused.stderr and "nothing replayed" in refused.stderr
    assert ops.ends(ops.dlq) == {0: 2} and 2 not in ops.pg_rows(pg_warehouse)

    # Rotation: K2 seals from now on, K1 still opens what it sealed.
    monkeypatch.setenv("STREAMAPP_DLQ_KEY", f"{K2},{K1}")
    ops.write_topology(FIXED)
    replay = ops.cli("dlq", "replay", ops.unique)
    assert replay.returncode == 0, replay.stderr
    assert "replayed 2 DLQ record(s)" in replay.stdout and "1 failed again" in replay.stdout
    assert 2 in ops.pg_rows(pg_warehouse)
    again = consume_all(ops.settings, ops.dlq, expect=3)[2]  # the garbage, failed again
    found = h.header_map(again.headers() or [])
    assert found[SEALED_KEY_ID] == key_id(bytes.fromhex(K2))
    assert found[h.ATTEMPT] == "2" and found[h.STAGE] == "decode"
    assert b"person9" not in (again.value() or b"")
