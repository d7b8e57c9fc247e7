"""Per-stage CPU of one worker's batch, in one process: prepare, ClickHouse write, produce.

Builds pipeline_bench's topology (10 transforms, ClickHouse sink into an embedded chDB in a
temp dir, Avro output topic) over transform_bench's 20-column Debezium Avro updates, then runs
``Pipeline.prepare`` and the store steps on B batches of S events and prints, per stage, the
median ``time.process_time`` (CPU of every thread of the process, chDB's included) and wall
time per batch. The output topic goes to a producer with no reachable broker (queueing only).
Usage: python bench/profile_batch.py [batches] [size] [--profile]   (--profile: cProfile top 25)
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import fastavro
from confluent_kafka import Producer

sys.path.insert(0, str(Path(__file__).parent))
from pipeline_bench import TOPOLOGY
from transform_bench import COLUMNS, DictResolver, rows

from streamapp.decode import Decoder
from streamapp.dlq.budget import ErrorBudget, ErrorBudgetPolicy
from streamapp.encode.avro import RecordEncoder
from streamapp.encode.schema import key_schema_for
from streamapp.pipeline import Pipeline, Prepared, default_writer
from streamapp.producer import BatchProducer
from streamapp.runtime.worker import table_specs
from streamapp.sinks.clickhouse.sink import ClickHouseSink
from streamapp.synth import Table
from streamapp.transform.loader import load_topologies
from streamapp.types import parse_type
from streamapp.wire import frame


class Msg(NamedTuple):
    """The fields of an aiokafka ConsumerRecord the pipeline reads."""

    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    timestamp: int
    headers: tuple[()]


class QueueOnlyProducer(BatchProducer):
    """A BatchProducer whose broker never answers: ``produce`` queues, ``flush`` purges."""

    def __init__(self) -> None:
        self._producer = Producer({"bootstrap.servers": "127.0.0.1:9", "log_level": 0})
        self._errors = []

    async def flush(self, timeout: float = 60.0) -> None:
        self._producer.purge()
        self._producer.poll(0)
        self._errors.clear()


def messages(table: Table, n: int, lsn0: int) -> list[Msg]:
    """``n`` Debezium Avro updates of the bench table, framed with schema ids 1 (value), 2."""
    vs, ks = fastavro.parse_schema(table.value_schema), fastavro.parse_schema(table.key_schema)
    out = []
    for i, row in enumerate(rows(n)):
        record = table.event(
            "u", before=dict(row, status="pending"), after=row, lsn=lsn0 + i, ts_ms=1_700_000_000
        )
        v, k = io.BytesIO(), io.BytesIO()
        fastavro.schemaless_writer(v, vs, record)
        fastavro.schemaless_writer(k, ks, table.key_of(row))
        out.append(
            Msg(table.topic, i % 6, i, frame(2, k.getvalue()), frame(1, v.getvalue()), 0, ())
        )
    return out


def build(tmp: Path) -> tuple[Pipeline, Table]:
    """The pipeline a worker builds for pipeline_bench's topology, on a chDB in ``tmp``."""
    table = Table("wide_prof", COLUMNS, ["id"], server="bench")
    (tmp / "topologies").mkdir()
    (tmp / "topologies" / "bench.py").write_text(
        TOPOLOGY.format(topic=table.topic, columns=COLUMNS, output="bench.out", table="wide_prof")
    )
    secrets = {"default": b"bench-secret-0123456789"}
    [topology] = load_topologies(tmp / "topologies", secrets=secrets, schemas_dir=tmp)
    key_schema = key_schema_for(
        topology.output_columns, name="k", namespace="bench", key_columns=topology.key_columns
    )
    encoder = RecordEncoder(
        topology.output_avro_schema, key_schema, value_schema_id=3, key_schema_id=4
    )
    sink = ClickHouseSink(f"chdb://{tmp / 'chdb'}")
    writers = [default_writer(sink, spec) for _, spec in table_specs(topology)]
    hints = {k: parse_type(v) for k, v in COLUMNS.items()}
    decoder = Decoder(
        resolver=DictResolver({1: table.value_schema, 2: table.key_schema}),
        hints=hints,
        needs_before=topology.reads_before,
    )
    budget = ErrorBudget(topology.name, topology.dlq_topic, ErrorBudgetPolicy())
    pipeline = Pipeline(
        topology,
        decoder=decoder,
        encoder=encoder,
        writers=writers,
        producer=QueueOnlyProducer(),
        budget=budget,
    )
    return pipeline, table


def batches(msgs: list[Msg], size: int) -> list[Mapping[Any, Sequence[Msg]]]:
    """Consecutive batches of ``size``, grouped by partition like a fetch."""
    out: list[Mapping[Any, Sequence[Msg]]] = []
    for start in range(0, len(msgs), size):
        by_tp: dict[int, list[Msg]] = {}
        for m in msgs[start : start + size]:
            by_tp.setdefault(m.partition, []).append(m)
        out.append(by_tp)
    return out


Timed = dict[str, list[tuple[float, float]]]


async def timed(into: Timed, name: str, fn: Callable[[], Any]) -> Any:
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    if asyncio.iscoroutine(result):
        result = await result
    into.setdefault(name, []).append((time.process_time() - cpu, time.perf_counter() - wall))
    return result


async def run(pipeline: Pipeline, work: list[Mapping[Any, Sequence[Msg]]], timings: Timed) -> None:
    for w in pipeline.writers:
        await w.sink.ensure_table(w.table)
    topic = pipeline.topology.output_topic
    for batch in work:
        p: Prepared = await timed(timings, "prepare", functools.partial(pipeline.prepare, batch))
        for w in pipeline.writers:
            write = functools.partial(w.write, p.outputs, pipeline.stopping)
            await timed(timings, f"write {w.name}", write)

        def produce(p: Prepared = p) -> None:
            if topic is not None:
                pipeline.producer.produce_many(topic, p.messages)

        await timed(timings, "produce", produce)
        await timed(timings, "store (whole, again)", functools.partial(pipeline.store, p))
    for w in pipeline.writers:
        await w.sink.close()


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    count = int(args[0]) if args else 6
    size = int(args[1]) if len(args) > 1 else 5000
    with tempfile.TemporaryDirectory(prefix="profile-batch-") as tmp:
        pipeline, table = build(Path(tmp))
        work = batches(messages(table, count * size, 10_000), size)
        timings: Timed = {}
        profiler = cProfile.Profile() if "--profile" in sys.argv else None
        if profiler is not None:
            profiler.enable()
        asyncio.run(run(pipeline, work, timings))
        if profiler is not None:
            profiler.disable()
    print(f"{count} batches of {size} events; median per batch (first batch excluded):")
    for name, values in timings.items():
        rest = values[1:] or values
        cpu = statistics.median(v[0] for v in rest) * 1000
        wall = statistics.median(v[1] for v in rest) * 1000
        print(
            f"  {name:<32} cpu {cpu:7.1f} ms   wall {wall:7.1f} ms   "
            f"{size / cpu * 1000:>9,.0f}/s cpu"
        )
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())


if __name__ == "__main__":
    main()
