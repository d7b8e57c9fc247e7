"""Backpressure pauses, it does not block: a sink outage longer than max.poll.interval keeps the
worker in its group (no eviction, no rebalance), and everything arrives once the sink is back."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from test_worker import row
from worker_harness import WorkerHarness, free_port, http_get, wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "chaos"))
from chaos_proxy import TcpProxy

POLL_INTERVAL = 6  # seconds: the outage below lasts more than three of them


def joins(harness: WorkerHarness) -> int:
    return harness.log.read_text(errors="replace").count("Joined group")


def paused_metric(harness: WorkerHarness) -> float | None:
    status, body = http_get(harness.web_port, "/metrics")
    if status != 200:
        return None
    for line in body.splitlines():
        if line.startswith("streamapp_backpressure_paused{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_a_sink_outage_pauses_the_partitions_and_keeps_the_group(
    harness: WorkerHarness, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = urlsplit(harness.settings.redis_url)
    proxy = TcpProxy(redis.hostname or "127.0.0.1", redis.port or 6379, name="redis-proxy")
    port = proxy.start()
    try:
        monkeypatch.setenv("STREAMAPP_REDIS_URL", f"redis://127.0.0.1:{port}/0")
        monkeypatch.setenv("STREAMAPP_MAX_POLL_INTERVAL", str(POLL_INTERVAL))
        harness.web_port = free_port()
        harness.start()
        harness.send("c", after=row(1), lsn=1)
        harness.flush()
        wait_until(
            lambda: len(harness.redis_rows(redis_client)) == 1,
            what="first row in Redis",
            harness=harness,
        )
        assert joins(harness) == 1
        proxy.cut("blackhole")
        for i in range(2, 1202):  # six batches of 200: more than a lane holds, so it pauses
            harness.send("c", after=row(i), lsn=i)
        harness.flush()
        paused_seen = False
        deadline = time.monotonic() + 3.5 * POLL_INTERVAL
        while time.monotonic() < deadline:
            harness.assert_running()
            paused_seen = paused_seen or paused_metric(harness) == 1.0
            time.sleep(0.5)
        assert joins(harness) == 1, "the worker was evicted from its group during the outage"
        assert paused_seen, "the topology's partitions were never paused"
    finally:
        proxy.restore()
        time.sleep(0.1)
    wait_until(
        lambda: len(harness.redis_rows(redis_client)) == 1201,
        what="Redis to catch up after the outage",
        harness=harness,
        timeout=120,
    )
    assert paused_metric(harness) == 0.0
    assert joins(harness) == 1
    assert harness.stop() == 0
    proxy.close()
