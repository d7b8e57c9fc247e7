"""Restarts in the middle of the stream lose nothing: the connector (REST restart, stop/resume)
and the worker (SIGTERM, then SIGKILL) while the generator keeps changing rows.

Afterwards every sink equals the source and nothing is in a dead-letter topic: Debezium resumes
from its committed offsets (re-sending what it had not committed), the worker from its
group's, and versioned upserts absorb whatever arrives twice. Avro only.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from shop_checks import converge, dlq_size, read_events
from shop_harness import ShopHarness, wait_until

SEED = 20251126


class Generator:
    """The shop workload in a thread, one transaction every ``pause`` seconds."""

    def __init__(self, shop: ShopHarness, pause: float = 0.02) -> None:
        self.work = shop.workload(SEED)
        self.pause = pause
        self.steps = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.work.step()
                self.steps += 1
                time.sleep(self.pause)
        except BaseException as exc:  # noqa: BLE001 - surfaced by advance()/stop()
            self.error = exc

    def start(self) -> None:
        self._thread.start()

    def advance(self, steps: int) -> None:
        """Wait until ``steps`` more transactions were applied."""
        target = self.steps + steps
        wait_until(lambda: self.steps >= target or self.error is not None, what="DML", timeout=60)
        assert self.error is None, repr(self.error)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        assert self.error is None, repr(self.error)


@pytest.mark.parametrize("shop", ["avro"], indirect=True)
def test_restarts_mid_stream_lose_nothing(
    shop: ShopHarness, kafka_admin: Any, redis_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A SIGKILLed worker stays in the group until its session times out (Faust: 60 s); the
    # restarted worker gets its partitions only then. Shorter here, to keep the test short.
    monkeypatch.setenv("BROKER_SESSION_TIMEOUT", "10")
    monkeypatch.setenv("BROKER_HEARTBEAT_INTERVAL", "3")
    shop.create_schema()
    shop.write_topologies()
    shop.workload(SEED).populate(20, 40)
    shop.create_topics(kafka_admin)
    shop.start_worker()
    shop.register_connector()
    converge(shop, redis_client, "snapshot")
    before = len(read_events(shop, "orders"))

    gen = Generator(shop)
    gen.start()
    try:
        gen.advance(40)
        shop.restart_connector()  # POST /connectors/<n>/restart?includeTasks=true
        gen.advance(40)
        assert shop.stop_worker() == 0, shop.worker_tail()  # SIGTERM: clean stop
        gen.advance(40)  # changes pile up while no worker runs
        shop.start_worker()
        gen.advance(40)
        shop.stop_resume_connector()  # tasks shut down, offsets kept, resumed
        gen.advance(40)
        assert shop.kill_worker() == -9  # SIGKILL: no flush, no commit, no goodbye
        gen.advance(20)
        shop.start_worker()
        gen.advance(40)
    finally:
        gen.stop()
    assert gen.steps >= 260
    converge(shop, redis_client, "restarts")
    assert dlq_size(shop, kafka_admin) == 0, shop.worker_tail()
    assert len(read_events(shop, "orders")) > before  # the stream did reach the topic
    assert shop.stop_worker() == 0, shop.worker_tail()
