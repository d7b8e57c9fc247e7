"""`streamapp worker`: load and validate topologies, prepare schemas and sinks, run the app.

Start-up order: topologies are loaded and validated first (a module with a problem keeps the
worker from starting at all); output schemas are registered (compatibility checked); then, in
Faust's event loop and before the consumer starts, every sink connects and creates or evolves
its tables. Only then are partitions consumed. On SIGTERM/SIGINT Faust stops the flow, the
in-flight batch finishes (or is abandoned after ``shutdown_grace`` seconds, uncommitted),
offsets are committed, sinks and the producer are flushed and closed, and the group is left.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from streamapp.decode import Decoder
from streamapp.decode.drift import DriftGuard
from streamapp.dlq.budget import ErrorBudget, ErrorBudgetPolicy
from streamapp.dlq.topics import DlqTopicError, ensure_dlq_topics
from streamapp.dlq.writer import DeadLetterWriter
from streamapp.encode.avro import RecordEncoder
from streamapp.encode.schema import key_schema_for
from streamapp.errors import ConfigError, RegistryUnavailableError
from streamapp.kafkaconf import check_output_topics, security_of
from streamapp.observability.metrics import Metrics
from streamapp.observability.progress import Progress
from streamapp.observability.slotwatch import start_slot_watch
from streamapp.observability.web import ensure_port_free, install
from streamapp.pipeline import Pipeline, SinkWriter, default_writer
from streamapp.producer import BatchProducer
from streamapp.registry import SchemaRegistry, subject_name
from streamapp.runtime import gctune, watchdog
from streamapp.runtime.evolve import Evolver
from streamapp.settings import Settings
from streamapp.sinks import create_sink
from streamapp.sinks.base import Sink, TableSpec
from streamapp.state import reemit
from streamapp.state.registry import Tables, materialised
from streamapp.transform.aggspec import CompiledAggregate
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.loader import Loaded, load_topologies
from streamapp.types import parse_type

log = logging.getLogger("streamapp.worker")

T = TypeVar("T")
STARTUP_REGISTRY_WAIT = 60.0  # seconds a starting worker waits for an unavailable registry
TEARDOWN_BOUND = 15.0  # seconds between run_worker's return and the process's exit, at most


@dataclass
class Runtime:
    """Everything a worker process owns; built by :func:`build_runtime`."""

    settings: Settings
    topologies: list[CompiledTopology]
    pipelines: list[Pipeline]
    sinks: dict[str, Sink]
    tables: list[tuple[Sink, TableSpec]]
    producer: BatchProducer
    registry: SchemaRegistry
    metrics: Metrics = field(default_factory=Metrics)
    state: Tables | None = None  # materialised tables (lookups, TOAST fill); None: none

    def __post_init__(self) -> None:
        for sink in self.sinks.values():
            sink.metrics = self.metrics  # deferred sinks report their commits

    async def start(self) -> None:
        """Connect every sink and create/evolve every table (idempotent), then restore every
        materialised table (load its store, catch up with its topic) before any lane consumes."""
        s = self.settings
        log.info("%s", s.key_summary())
        for sink in self.sinks.values():
            await sink.start()
        for sink, table in self.tables:
            await sink.ensure_table(table)
        if self.state is not None:
            await self.state.restore()

    async def close(self) -> None:
        for pipeline in self.pipelines:
            pipeline.stopping.set()
        if self.state is not None:
            await self.state.close()  # checkpoints every table
        for sink in self.sinks.values():
            try:
                await sink.close()
            except Exception as exc:  # noqa: BLE001 - closing must not mask the real outcome
                log.warning("closing %s failed: %s", sink.kind, exc)
        self.producer.close()
        self.registry.close()


def table_specs(topology: CompiledTopology | CompiledAggregate) -> list[tuple[str, TableSpec]]:
    """(sink kind, TableSpec) for every sink a topology (or an aggregate) declares."""
    specs = []
    for spec in topology.sinks:
        options: dict[str, Any] = {}
        if spec.kind == "postgres":
            target, options["schema"] = spec.table, spec.schema  # type: ignore[union-attr]
        elif spec.kind == "redis":
            target = spec.key_template  # type: ignore[union-attr]
            options["ttl_seconds"] = spec.ttl_seconds  # type: ignore[union-attr]
            options["format"] = spec.format  # type: ignore[union-attr]
        elif spec.kind == "opensearch":
            target, options["id"] = spec.index, spec.id  # type: ignore[union-attr]
        else:
            target = spec.table  # type: ignore[union-attr]
        specs.append(
            (
                spec.kind,
                TableSpec(
                    topology.name, target, topology.key_columns, topology.output_columns, options
                ),
            )
        )
    return specs


def until_registry_answers(
    call: Callable[[], T],
    *,
    first: float = 1.0,
    most: float = 30.0,
    give_up: float = STARTUP_REGISTRY_WAIT,
    sleep: Any = time.sleep,
) -> T:
    """``call()``, retried with backoff (``first`` doubling to ``most`` seconds) while the
    schema registry is unavailable, for ``give_up`` seconds of waiting at most: a worker
    started during a short registry outage waits for it (one warning line) instead of exiting
    and being restarted over and over, while a registry that stays away (a wrong address) still
    ends the start with its error. Other registry errors (an incompatible schema, bad
    credentials) raise at once."""
    delay, waited, warned = first, 0.0, False
    while True:
        try:
            result = call()
        except RegistryUnavailableError as exc:
            if waited >= give_up:
                raise
            if not warned:
                log.warning("%s; waiting up to %.0fs for it", exc, give_up)
                warned = True
            pause = min(delay, give_up - waited)
            sleep(pause)
            waited += pause
            delay = min(delay * 2, most)
            continue
        if warned:
            log.info("schema registry available again; starting")
        return result


def make_encoder(topology: CompiledTopology, registry: SchemaRegistry) -> RecordEncoder | None:
    """Register the output key and value schemas (compatibility checked) and build the encoder;
    None (nothing registered) when the topology declares no output topic."""
    if topology.output_topic is None:
        return None
    key_schema = key_schema_for(
        topology.output_columns,
        name=f"{topology.name}_key",
        namespace="streamapp",
        key_columns=topology.key_columns,
    )
    topic = topology.output_topic
    value_id = until_registry_answers(
        lambda: registry.register(subject_name(topic), topology.output_avro_schema)
    )
    key_id = until_registry_answers(
        lambda: registry.register(subject_name(topic, key=True), key_schema)
    )
    return RecordEncoder(
        topology.output_avro_schema, key_schema, value_schema_id=value_id, key_schema_id=key_id
    )


def build_runtime(
    settings: Settings,
    *,
    topologies: Sequence[CompiledTopology] | None = None,
    aggregates: Sequence[CompiledAggregate] | None = None,
    budget: ErrorBudgetPolicy | None = None,
) -> Runtime:
    """Load topologies (TopologyError if any is invalid) and build pipelines, sinks, producer;
    the ``aggregates`` are kept by their tables' readers and written to their own sinks.

    ``aggregates`` None: those loaded with the topologies (``Loaded.aggregates``: every one
    declared when this loads the modules). A plain sequence of topologies carries none, so it
    needs ``aggregates`` explicitly (``()``: none) or raises ValueError: a list filtered from
    the loaded topologies cannot lose their aggregates silently. An aggregate's table that is
    not among ``topologies`` is materialised from the modules (as a looked-up table is)."""
    metrics = Metrics()
    if topologies is None:
        topologies = load_topologies(
            settings.path(settings.topologies_dir),
            secrets=settings.mask_secrets(),
            schemas_dir=settings.path(settings.schemas_dir),
        )
    if aggregates is None:
        if not isinstance(topologies, Loaded):
            raise ValueError(
                "build_runtime: topologies is a plain sequence, which carries no aggregates; "
                "pass aggregates= (those of the loaded modules to keep, or () for none)"
            )
        aggregates = topologies.aggregates
    registry = SchemaRegistry(
        settings.registry_url, settings=settings, compatibility=settings.schema_compatibility
    )
    producer = BatchProducer(settings, client_id=settings.group_id)
    evolver = Evolver(
        registry,
        secrets=settings.mask_secrets(),
        schemas_dir=settings.path(settings.schemas_dir),
    )
    sinks: dict[str, Sink] = {}
    tables: list[tuple[Sink, TableSpec]] = []
    pipelines = []
    sealer = settings.dlq_sealer()
    for topology in topologies:
        writers = []
        for kind, table in table_specs(topology):
            sink = sinks.get(kind) or sinks.setdefault(kind, create_sink(kind, settings))
            tables.append((sink, table))
            writers.append(default_writer(sink, table))
        source = topology.topology.source
        hints = {name: parse_type(spec) for name, spec in source.columns.items()}
        drift = DriftGuard(
            topology.name,
            hints,
            key_columns=[k for k in topology.key_columns if k in hints],
            new_columns=source.new_columns,
            missing_columns=source.missing_columns,
        )
        pipelines.append(
            Pipeline(
                topology,
                decoder=Decoder(
                    resolver=registry,
                    hints=hints,
                    handling=source.handling_modes(),
                    needs_before=topology.reads_before,
                    drift=drift,
                    strict_versions=True,
                ),
                evolver=evolver,
                encoder=make_encoder(topology, registry),
                writers=writers,
                producer=producer,
                budget=ErrorBudget(
                    topology.name, topology.dlq_topic, budget or ErrorBudgetPolicy()
                ),
                metrics=metrics,
                dead_letters=DeadLetterWriter(producer, topology.name, topology.dlq_topic, sealer),
            )
        )
    kept: list[tuple[CompiledAggregate, list[SinkWriter]]] = []
    for aggregate in aggregates:
        agg_writers = []
        for kind, table in table_specs(aggregate):
            sink = sinks.get(kind) or sinks.setdefault(kind, create_sink(kind, settings))
            tables.append((sink, table))
            agg_writers.append(default_writer(sink, table))
        kept.append((aggregate, agg_writers))
    state = build_tables(settings, topologies, registry, metrics, kept)
    if state is not None:
        for pipeline in pipelines:
            if pipeline.topology.table_refs or pipeline.topology.name in state.readers:
                pipeline.tables = state
        reemit.wire(pipelines, state)  # as_of="current" lookups
    return Runtime(
        settings, list(topologies), pipelines, sinks, tables, producer, registry, metrics, state
    )


def build_tables(
    settings: Settings,
    topologies: Sequence[CompiledTopology],
    registry: SchemaRegistry,
    metrics: Metrics,
    aggregates: Sequence[tuple[CompiledAggregate, Sequence[SinkWriter]]] = (),
) -> Tables | None:
    """The materialised tables of ``topologies`` (see ``streamapp.state``) with the
    ``aggregates`` their readers keep, or None. A table a lookup reads or an aggregate keeps
    whose topology is not among ``topologies`` (``replay`` runs one topology) comes from the
    topology modules, so the lookups read the same table as in a worker (ValueError when an
    aggregate's table is not there either)."""
    needed = {name for t in topologies for name in t.table_refs} | {a.table for a, _ in aggregates}
    needed -= {t.name for t in topologies}
    if needed:
        loaded = load_topologies(
            settings.path(settings.topologies_dir),
            secrets=settings.mask_secrets(),
            schemas_dir=settings.path(settings.schemas_dir),
        )
        topologies = [*topologies, *(t for t in loaded if t.name in needed)]
        names = {t.name for t in topologies}
        lost = sorted(f"{a.name} (of {a.table})" for a, _ in aggregates if a.table not in names)
        if lost:
            raise ValueError(
                f"aggregate(s) {', '.join(lost)}: the table is in no topology module under "
                f"{settings.topologies_dir}; pass the aggregates with their tables"
            )
    if not materialised(topologies, [a for a, _ in aggregates]):
        return None

    def decoder_for(topology: CompiledTopology) -> Decoder:
        source = topology.topology.source
        return Decoder(
            resolver=registry,
            hints={name: parse_type(spec) for name, spec in source.columns.items()},
            handling=source.handling_modes(),
            needs_before=topology.reads_before,
            strict_versions=True,
        )

    return Tables.build(
        topologies,
        decoder_for=decoder_for,
        settings=settings,
        metrics=metrics,
        aggregates=aggregates,
    )


def create_topics(runtime: Runtime) -> None:
    """Create the missing DLQ topics (STREAMAPP_DLQ_RETENTION_MS) and check that missing output
    topics may be created, before Faust starts: a refusal (e.g. no Create ACL) ends the start
    with one line (ConfigError) naming the topic, the principal and the ACL to grant, not a
    traceback from inside the app's start or failing deliveries."""
    try:
        ensure_dlq_topics(runtime.settings, [t.dlq_topic for t in runtime.topologies])
    except DlqTopicError as exc:
        raise ConfigError(str(exc)) from None
    topics = [t.output_topic for t in runtime.topologies if t.output_topic is not None]
    check_output_topics(runtime.settings, topics)


def _live_display(runtime: Runtime, consumer: Any) -> Any:
    """A 1 s timer body printing one summary line for all topologies on stderr."""
    tty = sys.stderr.isatty()
    state = {"events": 0, "at": time.monotonic(), "shown": 0.0}

    async def show() -> None:
        now = time.monotonic()
        counters = [p.counters for p in runtime.pipelines]
        events = sum(c.events_in for c in counters)
        rate = (events - state["events"]) / max(now - state["at"], 1e-9)
        state["events"], state["at"] = events, now
        stamps = [c.last_source_ts_ms for c in counters if c.last_source_ts_ms is not None]
        behind = f"{max(0.0, time.time() - max(stamps) / 1000):.1f} s" if stamps else "-"
        line = (
            f"streamapp: {events:,} events ({rate:,.0f}/s), "
            f"{sum(c.records_out for c in counters):,} stored, lag {consumer.lag():,}, "
            f"DLQ {sum(c.failed for c in counters):,}, behind source {behind}"
        )
        if tty:
            print(f"\r{line}\x1b[K", end="", file=sys.stderr, flush=True)
        elif now - state["shown"] >= 5.0:
            print(line, file=sys.stderr, flush=True)
            state["shown"] = now

    return show


def _freshness(counters: Any) -> Any:
    def seconds() -> float:
        last = counters.last_source_ts_ms
        return 0.0 if last is None else max(0.0, time.time() - last / 1000)

    return seconds


def run_worker(
    settings: Settings,
    *,
    batch_size: int = 5000,
    batch_max_wait: float = 0.2,
    web_port: int | None = None,
    loglevel: str = "info",
    progress_interval: float = 10.0,
    live: bool = False,
    duration: float | None = None,
) -> int:
    """Run a worker until SIGTERM/SIGINT (or for ``duration`` seconds); returns the exit code.

    ``live`` shows one progress line on stderr, updated every second (events/s, lag, DLQ
    records, how far the last stored change is behind the source database): rewritten in place
    on a terminal, printed every 5 s otherwise.
    """
    import faust

    from streamapp.runtime.app import build_app
    from streamapp.runtime.fastpath import BatchConsumer
    from streamapp.runtime.healing import install_healing

    port = int(settings.web_port) if web_port is None else web_port
    if port:
        ensure_port_free(settings.web_bind, port)
    runtime = build_runtime(settings)
    if not runtime.pipelines:
        log.error("no topologies in %s; nothing to run", settings.topologies_dir)
        return 2
    create_topics(runtime)
    app = build_app(
        app_id=settings.group_id,
        bootstrap=settings.kafka_bootstrap,
        security=security_of(settings),
        routes=[(p.topology.name, list(p.topology.source_topics), p) for p in runtime.pipelines],
        batch_size=batch_size,
        batch_max_wait=batch_max_wait,
        web_port=port or None,
        web_bind=settings.web_bind,
        on_startup=runtime.start,
        on_shutdown=runtime.close,
        broker_commit_interval=float(settings.commit_interval),
        session_timeout=float(settings.session_timeout),
        group_instance_id=settings.group_instance_id or None,
        broker_max_poll_interval=float(settings.max_poll_interval),
    )
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    consumer.metrics = runtime.metrics
    healing = install_healing(app, consumer, runtime)  # gaps, healing snapshots, re-snapshots
    if port:
        writers = [w for p in runtime.pipelines for w in p.writers]
        sinks = list(runtime.sinks.values())
        install(app, runtime.metrics, sinks, writers, consumer.liveness, settings=settings)
        start_slot_watch(app, settings, runtime.metrics)  # slot lag into /metrics
    for p in runtime.pipelines:
        runtime.metrics.freshness.labels(p.topology.name).set_function(_freshness(p.counters))
    progress = Progress([(p.topology.name, p.counters) for p in runtime.pipelines])

    async def report() -> None:
        for line in progress.lines():
            log.info("progress %s", line)

    app.timer(progress_interval)(report)
    if live:
        app.timer(1.0)(_live_display(runtime, consumer))
    if duration is not None:

        async def stop_after() -> None:
            await asyncio.sleep(duration)
            os.kill(os.getpid(), signal.SIGTERM)  # the same graceful path as a user's Ctrl-C

        app.task(stop_after)

    class Worker(faust.Worker):
        def _schedule_shutdown(self, signum: signal.Signals) -> None:
            # a signalled stop gets the in-flight batch's grace and a margin, then it ends
            watchdog.arm(stop_bound, code=watchdog.EXIT_STUCK, reason=f"{signum.name}")
            super()._schedule_shutdown(signum)

    stop_bound = consumer.shutdown_grace + 30.0
    watchdog.watch_loop(app.loop)
    worker = Worker(app, loglevel=loglevel, quiet=True, override_logging=False)
    worker.spinner = None  # its cursor hide/show codes would land between the log lines
    gctune.tune(int(settings.gc_threshold))
    code = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        code = int(exc.code or 0)
    code = code or healing.exit_code  # stopped by a gap (on_gap="fail")
    for line in progress.summary():
        log.info("final %s", line)
    # What is left is the interpreter joining threads; one stuck there must not keep a worker
    # that has already stopped alive.
    watchdog.arm(TEARDOWN_BOUND, code=code, reason="the worker stopped")
    return code
