"""Slot lag on the real stack: a logical slot of the test's own in the source PostgreSQL, WAL
written past it, then the slot advanced; read directly, by `streamapp status`, and by a worker
into /metrics. MariaDB (no slot) shows its binlog position."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from worker_harness import WorkerHarness, free_port, http_get, wait_until

from streamapp.observability.slot import SlotTrend, read_slots, render_slots
from streamapp.settings import Settings

REPO = Path(__file__).resolve().parents[3]
WAL = 2_000_000  # bytes of WAL one message writes: far above what other tests write meanwhile


def _emit_wal(pg_source: Any) -> None:
    """WAL written by a logical message in the *warehouse* database: WAL positions are
    cluster-wide, so the source slot's lag grows, but logical decoding is per database, so the
    stack's Debezium connector never sees the 2 MB message (in the source database it did:
    its task failed with RecordTooLargeException and every later e2e test with it)."""
    import psycopg

    with psycopg.connect(Settings.from_env().warehouse_dsn, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_logical_emit_message(true, 'streamapp-test', repeat('x', %s))", [WAL]
        )


def _advance(pg_source: Any, slot: str) -> None:
    pg_source.execute("SELECT pg_replication_slot_advance(%s, pg_current_wal_lsn())", [slot])


def _lag(stack: Settings, slot: str) -> int:
    (sample,) = read_slots(stack.source_dsn, (slot,)).slots
    assert sample.lag_bytes is not None
    return sample.lag_bytes


def _mariadb_dsn() -> str:
    port = os.environ.get("STREAMAPP_MARIADB_PORT") or "13306"
    return f"mariadb://streamapp:streamapp@127.0.0.1:{port}/shop"


def test_lag_grows_with_wal_and_drops_when_the_slot_advances(
    stack: Settings, pg_source: Any, logical_slot: str, unique: str
) -> None:
    first = read_slots(stack.source_dsn, (logical_slot, f"{unique}_missing"))
    assert first.problem is None and first.missing == (f"{unique}_missing",)
    (sample,) = first.slots
    assert (sample.slot, sample.plugin, sample.active) == (logical_slot, "test_decoding", False)
    assert sample.lag_bytes is not None and sample.wal_status == "reserved"
    trend = SlotTrend(window=3600)
    trend.add(first)

    _emit_wal(pg_source)
    wait_until(lambda: time.monotonic() - first.at >= 1.0, what="a second between samples")
    grown = read_slots(stack.source_dsn, (logical_slot,))
    assert grown.slots[0].lag_bytes is not None
    assert grown.slots[0].lag_bytes >= sample.lag_bytes + WAL
    rising = trend.add(grown)[logical_slot]
    assert rising > 0

    _advance(pg_source, logical_slot)
    after = read_slots(stack.source_dsn, (logical_slot,))
    assert after.slots[0].lag_bytes is not None
    assert after.slots[0].lag_bytes < grown.slots[0].lag_bytes - WAL // 2
    assert trend.add(after)[logical_slot] < rising

    # `*`: every logical slot of the source database, the test's among them
    assert logical_slot in {s.slot for s in read_slots(stack.source_dsn, None).slots}


def test_status_shows_the_slot_and_a_mariadb_source_its_binlog(
    stack: Settings, pg_source: Any, logical_slot: str, tmp_path: Path
) -> None:
    _emit_wal(pg_source)
    env = dict(
        os.environ,
        # no topology: only the source block (and no growth: the two looks are < 1 s apart)
        STREAMAPP_TOPOLOGIES_DIR=str(tmp_path),
        STREAMAPP_SOURCE_SLOTS=f"{logical_slot},{logical_slot}_typo",
    )
    done = subprocess.run(
        [sys.executable, "-m", "streamapp", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "source postgresql://streamapp:***@" in out and ":streamapp@" not in out
    row = re.search(
        rf"^  {logical_slot}\s+test_decoding\s+NO\s+([\d,]+)\s+(\S+ B/s|-)\s+reserved$", out, re.M
    )
    assert row is not None, out
    assert int(row[1].replace(",", "")) >= WAL
    assert f"slot {logical_slot}_typo: no such replication slot on the source" in out

    env["STREAMAPP_SOURCE_DSN"] = _mariadb_dsn()
    done = subprocess.run(
        [sys.executable, "-m", "streamapp", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"^  binlog        [\w.-]+\.\d+:\d+$", done.stdout, re.M), done.stdout
    assert "slots         none: a MySQL-family source has none" in done.stdout


def test_a_mariadb_source_has_a_binlog_position_and_no_slots() -> None:
    reading = read_slots(_mariadb_dsn(), None)
    assert (reading.kind, reading.slots, reading.problem) == ("mysql", (), None)
    assert reading.binlog is not None and re.fullmatch(r"[\w.-]+\.\d+:\d+", reading.binlog)
    assert render_slots(_mariadb_dsn(), reading, {}, 0)[2] == f"  binlog        {reading.binlog}"


def _gauge(body: str, name: str, slot: str) -> float | None:
    found = re.search(rf'^{name}{{slot="{re.escape(slot)}"}} (\S+)$', body, re.M)
    return None if found is None else float(found[1])


def test_a_worker_samples_the_slot_into_metrics(
    harness: WorkerHarness, pg_source: Any, logical_slot: str, monkeypatch: Any
) -> None:
    monkeypatch.setenv("STREAMAPP_SOURCE_SLOTS", logical_slot)
    monkeypatch.setenv("STREAMAPP_SLOT_LAG_INTERVAL", "1")
    monkeypatch.setenv("STREAMAPP_SLOT_LAG_WINDOW", "10")
    harness.web_port = port = free_port()
    harness.start()

    def gauge(name: str) -> float | None:
        status, body = http_get(port, "/metrics")
        return _gauge(body, name, logical_slot) if status == 200 else None

    lag = "streamapp_source_slot_lag_bytes"
    wait_until(lambda: gauge(lag) is not None, what="the slot lag gauge", harness=harness)
    before = gauge(lag)
    assert before is not None and gauge("streamapp_source_slot_active") == 0.0
    _emit_wal(pg_source)
    wait_until(lambda: (gauge(lag) or 0) >= before + WAL, what="the lag to grow", harness=harness)
    grown = gauge(lag)
    assert grown is not None
    growth = "streamapp_source_slot_lag_growth_bytes_per_second"
    wait_until(lambda: (gauge(growth) or 0) > 0, what="a positive growth", harness=harness)
    _advance(pg_source, logical_slot)
    wait_until(
        lambda: (gauge(lag) or grown) < grown - WAL // 2, what="the lag to drop", harness=harness
    )
    assert "process_start_time_seconds " in http_get(port, "/metrics")[1]
    assert harness.stop() == 0


def test_a_worker_whose_source_is_unreachable_warns_once_and_runs_on(
    harness: WorkerHarness, monkeypatch: Any
) -> None:
    monkeypatch.setenv("STREAMAPP_SOURCE_DSN", "postgresql://streamapp:s3ntinel-pw@127.0.0.1:1/src")
    monkeypatch.setenv("STREAMAPP_SLOT_LAG_INTERVAL", "1")
    harness.web_port = port = free_port()
    harness.start()
    wait_until(lambda: http_get(port, "/readyz")[0] == 200, what="/readyz 200", harness=harness)
    warned = "cannot read replication slots from postgresql://streamapp:***@127.0.0.1:1/src"
    wait_until(lambda: warned in harness.log.read_text(), what="the warning", harness=harness)
    seen = time.monotonic()
    wait_until(lambda: time.monotonic() - seen > 3, what="three more samples", harness=harness)
    assert "streamapp_source_slot_lag_bytes{" not in http_get(port, "/metrics")[1]
    assert http_get(port, "/healthz")[0] == 200
    assert harness.stop() == 0
    log = harness.log.read_text()
    assert log.count(warned) == 1, log
    assert "s3ntinel-pw" not in log
