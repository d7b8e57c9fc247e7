"""Worker replicas share a topology's partitions; joining and leaving mid-stream loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from typing import Any

from worker_harness import WorkerHarness, wait_until


def row(i: int, v: int) -> dict[str, Any]:
    return {
        "id": i,
        "email": f"r{i}@example.com",
        "amount": Decimal(v) / 4,
        "qty": str(v),
        "note": f"v{v}",
        "updated_at": None,
    }


def replica(harness: WorkerHarness, n: int) -> subprocess.Popen[bytes]:
    """Another worker in the same group, with its own chDB directory and log."""
    env = dict(harness.env, STREAMAPP_CLICKHOUSE_DSN=f"chdb://{harness.tmp / f'chdb-{n}'}")
    log = open(harness.tmp / f"replica-{n}.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamapp",
            "worker",
            "--batch-size",
            "200",
            "--batch-max-wait",
            "0.05",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_replicas_join_and_leave_under_load(
    harness: WorkerHarness, pg_warehouse: Any, redis_client: Any
) -> None:
    ids, rounds = 300, 24  # ~20 s of stream: every join and leave below happens mid-stream
    expected = {i: row(i, rounds - 1) for i in range(1, ids + 1)}
    done = threading.Event()

    def produce() -> None:  # a steady stream: every id updated `rounds` times
        lsn = 0
        for v in range(rounds):
            for i in range(1, ids + 1):
                lsn += 1
                harness.send("c" if v == 0 else "u", after=row(i, v), lsn=lsn)
            harness.flush()
            time.sleep(0.8)
        done.set()

    harness.start()
    producer = threading.Thread(target=produce)
    producer.start()
    replicas: list[subprocess.Popen[bytes]] = []
    try:
        time.sleep(2)
        replicas.append(replica(harness, 2))  # a second replica joins mid-stream
        time.sleep(3)
        replicas.append(replica(harness, 3))  # and a third
        time.sleep(4)
        replicas[0].send_signal(signal.SIGTERM)  # one leaves gracefully
        assert replicas[0].wait(60) == 0
        time.sleep(2)
        assert harness.proc is not None
        os.killpg(harness.proc.pid, signal.SIGKILL)  # the first worker dies
        harness.proc.wait(30)
        done_early = done.is_set()
        producer.join(120)
        assert done.is_set()
        assert not done_early, "the stream ended before the replicas changed"
        survivor = replicas[1]

        def converged() -> bool:
            assert survivor.poll() is None, "the surviving replica exited"
            got = {i: (r[1], int(r[2]), r[3]) for i, r in harness.pg_rows(pg_warehouse).items()}
            return got == {i: (r["amount"], int(r["qty"]), r["note"]) for i, r in expected.items()}

        wait_until(converged, what="PostgreSQL to hold the final state", timeout=180)
        redis = harness.redis_rows(redis_client)
        assert {i: r["note"] for i, r in redis.items()} == {
            i: r["note"] for i, r in expected.items()
        }
        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(60) == 0
    finally:
        for proc in replicas:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
