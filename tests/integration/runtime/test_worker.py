"""`streamapp worker` on the real stack: convergence, DLQ, SIGKILL, a sink that goes away."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from worker_harness import (
    WorkerHarness,
    committed_lag,
    consume_all,
    free_port,
    http_get,
    rss_bytes,
    wait_until,
)

from streamapp.dlq import headers as h

REPO = Path(__file__).resolve().parents[3]


def row(i: int, v: int = 0, **over: Any) -> dict[str, Any]:
    base = {
        "id": i,
        "email": f"person{i}@example.com",
        "amount": Decimal(v * 100 - 50) / 10,
        "qty": str(v),
        "note": f"v{v}",
        "updated_at": None,
    }
    return {**base, **over}


def expected_pg(state: dict[int, dict[str, Any]]) -> dict[int, tuple[Any, ...]]:
    return {i: (r["amount"], int(r["qty"]), r["note"]) for i, r in state.items()}


def pg_view(h_: WorkerHarness, conn: Any) -> dict[int, tuple[Any, ...]]:
    return {i: r[1:] for i, r in h_.pg_rows(conn).items()}


def test_changes_converge_in_every_sink_despite_duplicates_and_reordering(
    harness: WorkerHarness, pg_warehouse: Any, redis_client: Any
) -> None:
    state: dict[int, dict[str, Any]] = {}
    lsn = 1000
    for i in range(1, 41):  # inserts
        lsn += 10
        harness.send("c", after=row(i), lsn=lsn)
        state[i] = row(i)
    for i in range(1, 41, 2):  # updates, each sent twice (a duplicate delivery)
        lsn += 10
        for _ in range(2):
            harness.send("u", before=row(i), after=row(i, 1), lsn=lsn)
        state[i] = row(i, 1)
    for i in range(1, 41, 5):  # an older update arriving after the newer one: ignored
        harness.send("u", before=row(i), after=row(i, 9), lsn=1005)
    for i in range(3, 41, 7):  # deletes (+ tombstones)
        lsn += 10
        harness.send("d", before=state[i], lsn=lsn)
        del state[i]
    harness.send("u", before=row(3), after=row(3, 7), lsn=1015)  # stale: must not resurrect
    harness.flush()

    harness.start()
    wait_until(
        lambda: pg_view(harness, pg_warehouse) == expected_pg(state),
        what="PostgreSQL sink to converge",
        harness=harness,
    )
    wait_until(
        lambda: (
            {
                i: (Decimal(r["amount"]), r["qty"], r["note"])
                for i, r in harness.redis_rows(redis_client).items()
            }
            == {i: (r["amount"], int(r["qty"]), r["note"]) for i, r in state.items()}
        ),
        what="Redis sink to converge",
        harness=harness,
    )
    assert harness.stop() == 0, harness.log_tail()

    ch = harness.clickhouse_rows()
    assert [(r[0], Decimal(r[2]), r[3], r[4]) for r in ch] == [
        (i, r["amount"], int(r["qty"]), r["note"]) for i, r in sorted(state.items())
    ]
    # PII never reaches a sink in clear: the email is a keyed HMAC.
    emails = [e for e, *_ in harness.pg_rows(pg_warehouse).values()] + [r[1] for r in ch]
    assert emails and all("@" not in e and len(e) == 64 for e in emails)
    # The output topic carries one Avro record per change (+ a tombstone per delete).
    out = consume_all(harness.settings, harness.output, expect=1)
    assert out and out[0].value()[0] == 0  # Confluent wire format


def test_poison_messages_go_to_the_dlq_with_context_while_good_events_flow(
    harness: WorkerHarness, pg_warehouse: Any
) -> None:
    from streamapp.wire import frame

    harness.send("c", after=row(1), lsn=10)
    harness.send_raw(b"k-garbage", b"\x07this is not avro")  # garbage bytes
    harness.send_raw(b"k-unknown", frame(987_654_321, b"\x02\x04"))  # unknown schema id
    harness.send("c", after=row(2, qty="abc"), lsn=20)  # uncastable: qty -> int
    harness.send_raw(None, b'{"op": "c", "after": {"email": "x"}, "source": {}}')  # no key
    harness.send("c", after=row(3), lsn=30)
    harness.flush()
    harness.start()
    wait_until(
        lambda: set(harness.pg_rows(pg_warehouse)) == {1, 3},
        what="good rows in PostgreSQL",
        harness=harness,
    )
    dlq = consume_all(harness.settings, harness.dlq, expect=4)
    assert harness.stop() == 0
    assert len(dlq) == 4, [m.value() for m in dlq]
    context = {}
    for msg in dlq:
        headers = h.header_map(msg.headers())
        assert headers[h.TOPIC] == harness.topic
        assert headers[h.CONNECTOR] == harness.unique
        assert headers[h.ATTEMPT] == "1"
        assert int(headers[h.PARTITION]) in range(harness.partitions)
        assert int(headers[h.OFFSET]) >= 0 and headers[h.STACKTRACE]
        context[msg.key()] = (headers[h.STAGE], headers[h.EXCEPTION_CLASS], headers.get(h.FIELD))
    assert context[b"k-garbage"][:2] == ("decode", "streamapp.errors.DecodeError")
    assert context[b"k-unknown"][:2] == ("decode", "streamapp.errors.DecodeError")
    assert ("transform", "streamapp.errors.TransformError", "qty") in context.values()
    values = {m.value() for m in dlq}
    assert b"\x07this is not avro" in values  # original bytes, unchanged
    for msg in dlq:  # no masked value in clear anywhere in the DLQ headers
        assert b"person2@example.com" not in b"".join(v or b"" for _, v in msg.headers())


def test_sigkill_mid_stream_then_restart_converges(
    harness: WorkerHarness, pg_warehouse: Any, redis_client: Any
) -> None:
    state: dict[int, dict[str, Any]] = {}
    lsn = 0
    for v in range(3):
        for i in range(1, 801):
            lsn += 1
            harness.send("c" if v == 0 else "u", after=row(i, v), lsn=lsn)
            state[i] = row(i, v)
    harness.flush()
    harness.start()
    wait_until(
        lambda: len(harness.pg_rows(pg_warehouse)) > 0, what="the first rows", harness=harness
    )
    assert harness.proc is not None
    harness.proc.kill()  # SIGKILL: no flush, no commit, no goodbye
    harness.proc.wait(30)
    harness.start()
    wait_until(
        lambda: pg_view(harness, pg_warehouse) == expected_pg(state),
        what="PostgreSQL to converge after SIGKILL",
        harness=harness,
        timeout=180,
    )
    wait_until(
        lambda: len(harness.redis_rows(redis_client)) == len(state),
        what="Redis to converge",
        harness=harness,
    )
    assert harness.stop() == 0
    assert len(harness.clickhouse_rows()) == len(state)


def stack(*args: str) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "infra/local/stack"), *args], check=True, capture_output=True
    )


def test_a_sink_down_holds_the_batch_and_nothing_is_lost(
    harness: WorkerHarness, pg_warehouse: Any, redis_client: Any
) -> None:
    harness.web_port = free_port()
    harness.start()
    harness.send("c", after=row(1), lsn=1)
    harness.flush()
    wait_until(
        lambda: len(harness.redis_rows(redis_client)) == 1,
        what="first row in Redis",
        harness=harness,
    )
    stack("down", "redis")
    try:
        state = {1: row(1)}
        for i in range(2, 302):
            harness.send("c", after=row(i), lsn=i)
            state[i] = row(i)
        harness.flush()
        assert harness.proc is not None
        peak = 0
        for _ in range(30):  # ~6 s of outage: the worker holds the batch, memory stays flat
            harness.assert_running()
            peak = max(peak, rss_bytes(harness.proc.pid))
            time.sleep(0.2)
        status, body = http_get(harness.web_port, "/readyz")
        report = json.loads(body)
        assert status == 503 and not report["ready"], body
        assert report["sinks"]["redis"] == "unreachable" and report["sinks"]["postgres"] == "ok"
    finally:
        stack("up", "redis")
    wait_until(
        lambda: len(harness.redis_rows(redis_client)) == len(state),
        what="Redis to catch up after it came back",
        harness=harness,
        timeout=120,
    )
    wait_until(
        lambda: pg_view(harness, pg_warehouse) == expected_pg(state),
        what="PostgreSQL complete",
        harness=harness,
    )
    assert harness.stop() == 0
    assert len(harness.clickhouse_rows()) == len(state)
    print(f"worker peak RSS during the Redis outage: {peak / 2**20:.0f} MiB")
    assert peak < 1024 * 2**20


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_graceful_stop_commits_and_exits_zero(
    harness: WorkerHarness, pg_warehouse: Any, sig: signal.Signals
) -> None:
    for i in range(1, 51):
        harness.send("c", after=row(i), lsn=i)
    harness.flush()
    harness.start()
    wait_until(lambda: len(harness.pg_rows(pg_warehouse)) == 50, what="50 rows", harness=harness)
    assert harness.stop(sig) == 0, harness.log_tail()
    # Offsets were committed on the way out: the group has nothing left to read.
    assert committed_lag(harness) == 0
    # The output is log lines only: no terminal control codes (Faust's spinner) in between.
    assert "\x1b" not in harness.log.read_text(errors="replace")


def test_metrics_health_and_readiness_endpoints(harness: WorkerHarness, pg_warehouse: Any) -> None:
    harness.web_port = free_port()
    for i in range(1, 31):
        harness.send("c", after=row(i), lsn=i)
    harness.send("c", after=row(99, qty="not-a-number"), lsn=99)  # one record to the DLQ
    harness.flush()
    harness.start()
    wait_until(
        lambda: http_get(harness.web_port, "/healthz")[0] == 200, what="/healthz", harness=harness
    )
    wait_until(
        lambda: http_get(harness.web_port, "/readyz")[0] == 200, what="/readyz 200", harness=harness
    )
    wait_until(lambda: len(harness.pg_rows(pg_warehouse)) == 30, what="30 rows", harness=harness)
    name = harness.unique

    def metric(text: str, line_start: str) -> float:
        for line in text.splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
        return -1.0

    def metrics_show_all() -> bool:
        text = http_get(harness.web_port, "/metrics")[1]
        return metric(text, f'streamapp_events_in_total{{topology="{name}"}}') == 31

    wait_until(metrics_show_all, what="/metrics to count 31 events", harness=harness)
    text = http_get(harness.web_port, "/metrics")[1]
    assert metric(text, f'streamapp_records_out_total{{topology="{name}"}}') == 30
    assert metric(text, f'streamapp_dlq_records_total{{topology="{name}"}}') == 1
    assert (
        metric(text, f'streamapp_records_failed_total{{stage="transform",topology="{name}"}}') == 1
    )
    assert metric(text, "streamapp_partitions_assigned") == harness.partitions
    assert (
        metric(text, f'streamapp_circuit_breaker_state{{sink="postgres:{name}",topology="{name}"}}')
        == 0
    )
    assert (
        f'streamapp_sink_write_seconds_count{{sink="clickhouse:{name}",topology="{name}"}}' in text
    )
    assert "streamapp_consumer_lag{" in text and "streamapp_freshness_seconds{" in text
    assert harness.stop() == 0


def test_a_record_a_sink_refuses_goes_to_the_dlq_and_reaches_no_sink(
    harness: WorkerHarness, pg_warehouse: Any, redis_client: Any
) -> None:
    """Redis has no JSON form for NaN and refuses the record by its own rules (its precheck);
    the record goes to the DLQ with stage=sink, and no other sink stores it either (it used to
    be stored by PostgreSQL and ClickHouse: in the DLQ and half-stored at once)."""
    harness.send("c", after=row(1), lsn=10)
    harness.send("c", after=row(2, score=float("nan")), lsn=20)
    harness.send("c", after=row(3), lsn=30)
    harness.flush()
    harness.start()
    wait_until(
        lambda: set(harness.pg_rows(pg_warehouse)) == {1, 3},
        what="rows 1 and 3 in PG",
        harness=harness,
    )
    dlq = consume_all(harness.settings, harness.dlq, expect=1)
    assert harness.stop() == 0
    assert len(dlq) == 1
    headers = h.header_map(dlq[0].headers())
    assert headers[h.STAGE] == "sink" and headers[h.EXCEPTION_CLASS] == "streamapp.errors.SinkError"
    assert headers[h.FIELD] == "score"
    assert set(harness.redis_rows(redis_client)) == {1, 3}
    assert set(harness.pg_rows(pg_warehouse)) == {1, 3}
    assert {r[0] for r in harness.clickhouse_rows()} == {1, 3}
    out = consume_all(harness.settings, harness.output, expect=2)
    assert len(out) == 2  # nor the output topic


def test_systemic_failure_stops_the_worker_instead_of_draining_the_topic(
    harness: WorkerHarness,
) -> None:
    for i in range(1500):  # every record is garbage: something systemic is wrong
        harness.send_raw(f"k{i}".encode(), b"\x07not avro at all")
    harness.flush()
    harness.start()
    assert harness.proc is not None
    try:
        code = harness.proc.wait(150)  # the crash exit bound (runtime/app.py) is 60 s
    except subprocess.TimeoutExpired:
        raise AssertionError(
            "worker still running after 150 s; log:\n" + harness.log_tail(60)
        ) from None
    log = harness.log.read_text()
    assert code != 0, log[-2000:]
    # it stopped by itself: the exit watchdog (a last resort) did not have to end it. It did
    # about one run in three while the stop waited for an offset commit through a consumer
    # thread the crash had already stopped.
    assert "did not exit after" not in log, log[-6000:]
    assert "records failed in a row" in log and harness.dlq in log
    dlq = consume_all(harness.settings, harness.dlq, expect=1500, timeout=10)
    assert 0 < len(dlq) < 1500  # it stopped instead of dead-lettering everything
    assert committed_lag(harness) > 0  # the failing batch was not committed


def test_an_edited_module_is_picked_up_on_restart_and_a_broken_one_never_half_starts(
    harness: WorkerHarness, pg_warehouse: Any
) -> None:
    module = next((harness.tmp / "topologies").glob("*.py"))
    harness.send("c", after=row(1), lsn=10)
    harness.flush()
    harness.start()
    wait_until(lambda: set(harness.pg_rows(pg_warehouse)) == {1}, what="row 1", harness=harness)
    assert harness.stop() == 0

    # A broken edit: the worker refuses to start, says why in one line, touches nothing.
    good = module.read_text()
    module.write_text(good.replace('t.cast(qty="int")', 't.cast(qty="int", nope="int")'))
    harness.send("c", after=row(2), lsn=20)
    harness.flush()
    harness.start()
    assert harness.proc is not None and harness.proc.wait(60) == 2
    errors = [ln for ln in harness.log.read_text().splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "nope" in errors[0] and module.name in errors[0], errors
    assert committed_lag(harness) == 1  # row 2 still waits: nothing was consumed
    assert set(harness.pg_rows(pg_warehouse)) == {1}

    # A good edit (a new derived column) is picked up by the next start; the table evolves.
    module.write_text(
        good.replace(
            "t.metadata(",
            't.derive("note_len", lambda r: len(r["note"] or ""), type="int"),\n'
            "        t.metadata(",
        )
    )
    harness.start()
    wait_until(lambda: set(harness.pg_rows(pg_warehouse)) == {1, 2}, what="row 2", harness=harness)
    assert harness.stop() == 0
    lengths = dict(
        pg_warehouse.execute(f'SELECT id, note_len FROM "{harness.table}" ORDER BY id').fetchall()
    )
    assert lengths == {1: None, 2: len(row(2)["note"])}
