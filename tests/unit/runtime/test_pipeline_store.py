"""Pipeline.store: the output topic's flush runs while the sinks write; DLQ records after them.

The sink writers and the producer are plain recorders here (what they are asked, in which
order); the real ones are covered on the real stack in tests/integration/runtime.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pipeline_stubs import Rec

from streamapp.dlq.budget import ErrorBudget, ErrorBudgetExceeded, ErrorBudgetPolicy
from streamapp.errors import DecodeError, SinkError
from streamapp.pipeline import Pipeline, Prepared
from streamapp.producer import DeliveryError
from streamapp.records import Op, OutputRecord
from streamapp.sinks.base import Rejected


class Producer:
    def __init__(self, log: list[str], fail_first_flush: bool = False) -> None:
        self.log = log
        self.fail_first_flush = fail_first_flush
        self.flushes = 0

    def produce_many(self, topic: str, messages: list[tuple[bytes, bytes]]) -> None:
        self.log.append(f"produce {topic} x{len(messages)}")

    def produce(self, topic: str, key: Any, value: Any, headers: Any = None) -> None:
        self.log.append(f"produce {topic} {key!r}")

    async def flush(self, timeout: float = 60.0) -> None:
        self.flushes += 1
        self.log.append("flush start")
        await asyncio.sleep(0)
        self.log.append("flush done")
        if self.fail_first_flush and self.flushes == 1:
            raise DeliveryError("1 record(s) rejected by Kafka, first: MSG_SIZE_TOO_LARGE")


class Writer:
    deferred = False  # writes durably now (see test_pipeline_deferred.py for the other kind)

    def __init__(
        self, log: list[str], reject: set[int], merged: tuple[int, ...] | None = None
    ) -> None:
        self.log = log
        self.reject = reject
        self.merged = merged  # positions of records the sink merged into one refused row
        self.prechecked: set[int] = set()  # keys its precheck refuses (found without I/O)
        self.written: list[int] = []

    def precheck(self, records: list[OutputRecord]) -> list[Rejected]:
        return [
            Rejected((i,), SinkError(f"NUL in row {r.key[0]}"))
            for i, r in enumerate(records)
            if r.key[0] in self.prechecked
        ]

    async def write(self, records: list[OutputRecord], stopping: asyncio.Event) -> list[Rejected]:
        self.log.append("sink start")
        self.written.extend(r.key[0] for r in records)
        for _ in range(3):  # a sink that takes a few turns of the event loop
            await asyncio.sleep(0)
        self.log.append("sink done")
        if self.merged is not None:
            return [Rejected(self.merged, SinkError("merged row refused"))]
        return [
            Rejected((i,), SinkError(f"value out of range in row {r.key[0]}"))
            for i, r in enumerate(records)
            if r.key[0] in self.reject
        ]


class Topology:
    name = "things"
    output_topic = "things.out"
    dlq_topic = "things.dlq"

    def __init__(self, on_error: str = "dlq") -> None:
        self.on_error = on_error


def prepared(count: int) -> Prepared:
    recs = [Rec("src", 0, n, b"k%d" % n, b"v%d" % n) for n in range(count)]
    outputs = [
        OutputRecord("things", (n,), {"id": n}, n + 1, Op.UPDATE, False, frozenset(), None)
        for n in range(count)
    ]
    messages = [(b"k%d" % n, b"o%d" % n) for n in range(count)]
    return Prepared(
        {0: recs}, recs, outputs, list(range(count)), messages, list(range(count)), {}, 0.0
    )


def pipeline(
    producer: Producer, writer: Writer, on_error: str = "dlq", budget: ErrorBudget | None = None
) -> Pipeline:
    return Pipeline(
        Topology(on_error),  # type: ignore[arg-type]
        decoder=None,  # type: ignore[arg-type]
        encoder=None,
        writers=[writer],  # type: ignore[list-item]
        producer=producer,  # type: ignore[arg-type]
        budget=budget,  # type: ignore[arg-type]
    )


def test_a_refused_merged_row_sends_every_origin_to_the_dlq_once() -> None:
    """Outputs 1 and 3 were merged by the sink (one key) and refused; input 1 also made output
    2 (two outputs of one input record). Inputs 1 and 3 go to the DLQ, each once, in order."""
    log: list[str] = []
    p = pipeline(Producer(log), Writer(log, reject=set(), merged=(1, 3)))
    batch = prepared(4)
    outputs = [*batch.outputs[:2], batch.outputs[1], batch.outputs[3]]
    batch = batch._replace(outputs=outputs, origins=[0, 1, 1, 3])
    asyncio.run(p.store(batch))
    assert [line for line in log if "things.dlq" in line] == [
        "produce things.dlq b'k1'",
        "produce things.dlq b'k3'",
    ]
    assert p.counters.failed == 2


def test_failures_spread_through_a_batch_do_not_count_as_failures_in_a_row() -> None:
    """A third of the records failing, spread out, is not "1000 in a row" (it was counted as
    if every failure came last in the batch)."""
    budget = ErrorBudget("things", "things.dlq", ErrorBudgetPolicy(max_consecutive=1000))
    log: list[str] = []
    p = pipeline(Producer(log), Writer(log, reject=set()), budget=budget)
    batch = prepared(3000)
    failures = {i: DecodeError("bad bytes") for i in range(0, 3000, 3)}
    asyncio.run(p.store(batch._replace(failures=failures)))
    assert p.counters.failed == 1000 and budget.consecutive == 0


def test_a_sink_refusing_everything_trips_the_error_budget_before_the_dlq() -> None:
    budget = ErrorBudget("things", "things.dlq", ErrorBudgetPolicy(max_consecutive=50))
    log: list[str] = []
    p = pipeline(Producer(log), Writer(log, reject=set(range(200))), budget=budget)
    with pytest.raises(ErrorBudgetExceeded, match="50 records failed in a row"):
        asyncio.run(p.store(prepared(200)))
    assert not any("things.dlq" in line for line in log)  # nothing dead-lettered, uncommitted


def test_output_flush_overlaps_the_sinks_and_the_dlq_follows_them() -> None:
    log: list[str] = []
    p = pipeline(Producer(log), Writer(log, reject={2}))
    asyncio.run(p.store(prepared(4)))
    at = {line: i for i, line in reversed(list(enumerate(log)))}  # first occurrence
    assert log[0] == "produce things.out x4"  # queued before any sink write
    assert at["flush start"] < at["sink done"] and at["flush done"] < at["sink done"]
    # the rejected record's original key goes to the DLQ after the sinks, then a second flush
    assert log[at["sink done"] + 1 :] == ["produce things.dlq b'k2'", "flush start", "flush done"]
    assert p.counters.events_in == 4 and p.counters.failed == 1


def test_without_failures_there_is_one_flush() -> None:
    log: list[str] = []
    p = pipeline(Producer(log), Writer(log, reject=set()))
    asyncio.run(p.store(prepared(3)))
    assert log.count("flush start") == 1 and log[-1] == "sink done"
    assert p.counters.records_out == 3


def test_a_failed_output_delivery_fails_the_store() -> None:
    log: list[str] = []
    p = pipeline(Producer(log, fail_first_flush=True), Writer(log, reject=set()))
    with pytest.raises(DeliveryError, match="MSG_SIZE_TOO_LARGE"):
        asyncio.run(p.store(prepared(2)))
    assert p.counters.events_in == 0  # not counted: the batch is not committed


def test_on_error_fail_raises_the_sink_rejection_and_writes_no_dlq_record() -> None:
    log: list[str] = []
    p = pipeline(Producer(log), Writer(log, reject={1}), on_error="fail")
    with pytest.raises(SinkError, match="value out of range in row 1"):
        asyncio.run(p.store(prepared(3)))
    assert not any("things.dlq" in line for line in log)


def test_a_record_one_sink_refuses_by_its_rules_reaches_no_sink_and_no_output_topic() -> None:
    log: list[str] = []
    strict, lenient = Writer(log, reject=set()), Writer(log, reject=set())
    strict.prechecked = {1}
    p = Pipeline(
        Topology(),  # type: ignore[arg-type]
        decoder=None,  # type: ignore[arg-type]
        encoder=None,
        writers=[strict, lenient],  # type: ignore[list-item]
        producer=Producer(log),  # type: ignore[arg-type]
        budget=None,  # type: ignore[arg-type]
    )
    asyncio.run(p.store(prepared(3)))
    assert strict.written == [0, 2] and lenient.written == [0, 2]
    assert log[0] == "produce things.out x2"  # its message is not produced either
    assert [line for line in log if "things.dlq" in line] == ["produce things.dlq b'k1'"]
    assert p.counters.failed == 1 and p.counters.records_out == 2


class SinkOnly(Topology):
    output_topic = None  # type: ignore[assignment]


def test_a_topology_without_output_topic_produces_no_topic_but_writes_its_sinks() -> None:
    """output=None means the sinks are the only destinations: nothing is produced to any output
    topic (before, a topic named after the topology was written), the sink still gets all."""
    log: list[str] = []
    writer = Writer(log, reject=set())
    p = Pipeline(
        SinkOnly(),  # type: ignore[arg-type]
        decoder=None,  # type: ignore[arg-type]
        encoder=None,
        writers=[writer],  # type: ignore[list-item]
        producer=Producer(log),  # type: ignore[arg-type]
        budget=None,  # type: ignore[arg-type]
    )
    asyncio.run(p.store(prepared(3)._replace(messages=[], message_origins=[])))
    assert not [line for line in log if line.startswith("produce")], log
    assert writer.written == [0, 1, 2]
