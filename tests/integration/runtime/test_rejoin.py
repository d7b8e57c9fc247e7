"""Recovery: a worker restarted after kill -9 gets its partitions back within the session
timeout (at once as a static member), and a sink that comes back is probed soon and logged."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from worker_harness import WorkerHarness, free_port, http_get, wait_until

MARGIN = 20.0  # seconds on top of the session timeout: start-up, join and sync on a busy box


@pytest.fixture
def extra_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Settings added to the harness's worker environment for this test."""
    extra: dict[str, str] = {}
    base = WorkerHarness.env.fget  # type: ignore[attr-defined]
    monkeypatch.setattr(WorkerHarness, "env", property(lambda self: {**base(self), **extra}))
    return extra


def assigned(port: int) -> int:
    status, body = http_get(port, "/readyz")
    return int(json.loads(body)["partitions_assigned"]) if status in (200, 503) else 0


def kill_and_restart(harness: WorkerHarness) -> float:
    """SIGKILL the worker, start it again on a new web port; seconds until it owns every
    partition again."""
    assert harness.proc is not None
    harness.proc.send_signal(signal.SIGKILL)
    harness.proc.wait(30)
    harness.web_port = free_port()
    started = time.monotonic()
    harness.start()
    wait_until(
        lambda: assigned(harness.web_port) == harness.partitions,
        what="the restarted worker to own every partition",
        harness=harness,
        timeout=120,
    )
    return time.monotonic() - started


def test_a_restart_after_kill_9_rejoins_within_the_session_timeout(
    harness: WorkerHarness, extra_env: dict[str, str]
) -> None:
    extra_env["STREAMAPP_SESSION_TIMEOUT"] = "6"
    harness.web_port = free_port()
    harness.start()
    wait_until(
        lambda: assigned(harness.web_port) == harness.partitions,
        what="partitions assigned",
        harness=harness,
    )
    took = kill_and_restart(harness)
    log = harness.log.read_text(errors="replace")
    # the restarted worker says why it may wait, with the timeout it uses
    line = "session timeout 6s (STREAMAPP_SESSION_TIMEOUT); a worker restarted after a crash"
    assert log.count(line) == 2, harness.log_tail()
    print(f"partitions back {took:.1f}s after the restart (session timeout 6 s)")
    # Kafka expired the killed member after 6 s, not after Faust's default of 60 s
    assert took < 6 + MARGIN, harness.log_tail()
    assert harness.stop() == 0


def test_a_static_member_restarted_after_kill_9_rejoins_at_once(
    harness: WorkerHarness, extra_env: dict[str, str]
) -> None:
    extra_env["STREAMAPP_SESSION_TIMEOUT"] = "60"
    extra_env["STREAMAPP_GROUP_INSTANCE_ID"] = f"{harness.unique}-w1"
    harness.web_port = free_port()
    harness.start()
    wait_until(
        lambda: assigned(harness.web_port) == harness.partitions,
        what="partitions assigned",
        harness=harness,
    )
    took = kill_and_restart(harness)
    log = harness.log.read_text(errors="replace")
    assert log.count(f"static member '{harness.unique}-w1'") == 2, harness.log_tail()
    print(f"static member: partitions back {took:.1f}s after the restart (session timeout 60 s)")
    # a dynamic member would wait for the killed one's 60 s session to expire
    assert took < 60 / 2, harness.log_tail()
    assert harness.stop() == 0


class Proxy:
    """A TCP proxy to ``target`` on a local port that a test can take down and bring back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        """Stop listening and cut every connection (as a restarting server does)."""
        self._call(self._down())

    def close(self) -> None:
        self.down()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)

    async def _up(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self.port, reuse_address=True
        )

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._conns):
            writer.transport.abort()
        self._conns.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._conns |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self._conns.discard(writer)
            writer.transport.abort()


@pytest.fixture
def redis_proxy(harness: WorkerHarness) -> Iterator[Proxy]:
    host, port = harness.settings.redis_url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)
    proxy = Proxy((socket.gethostbyname(host), int(port)))
    proxy.up()
    yield proxy
    proxy.close()


def row(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "email": f"p{i}@example.com",
        "amount": Decimal("1.50"),
        "qty": "1",
        "note": "n",
        "updated_at": None,
    }


def test_a_short_redis_outage_is_probed_soon_and_its_end_is_logged(
    harness: WorkerHarness, redis_client: Any, extra_env: dict[str, str], redis_proxy: Proxy
) -> None:
    db = harness.settings.redis_url.rsplit("/", 1)[1]
    extra_env["STREAMAPP_REDIS_URL"] = f"redis://127.0.0.1:{redis_proxy.port}/{db}"
    harness.start()
    harness.send("c", after=row(1), lsn=1)
    harness.flush()
    wait_until(
        lambda: len(harness.redis_rows(redis_client)) == 1, what="row 1 in Redis", harness=harness
    )
    redis_proxy.down()
    for i in range(2, 52):
        harness.send("c", after=row(i), lsn=i)
    harness.flush()
    wait_until(
        lambda: "unavailable, holding the batch" in harness.log.read_text(errors="replace"),
        what="the worker to hold the batch for Redis",
        harness=harness,
        timeout=60,
    )
    time.sleep(5)  # a short restart
    redis_proxy.up()
    back = time.monotonic()
    wait_until(
        lambda: len(harness.redis_rows(redis_client)) == 51,
        what="Redis to catch up",
        harness=harness,
        timeout=120,
    )
    took = time.monotonic() - back
    print(f"Redis caught up {took:.1f}s after it came back")
    # cool-downs of 1, 2, 4, 8 s: the probe after it came back is seconds away, not the 30 s
    # of a fixed cool-down
    assert took < 15, harness.log_tail()
    log = harness.log.read_text(errors="replace")
    assert "is available again after" in log and "writing resumes" in log, harness.log_tail()
    assert harness.stop() == 0
