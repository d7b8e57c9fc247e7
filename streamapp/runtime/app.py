"""Build the Faust app: one agent per topology, fed whole batches by the fast-path consumer."""

from __future__ import annotations

import logging
import socket
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import faust

from streamapp.errors import ConfigError
from streamapp.kafkaconf import KafkaSecurity
from streamapp.kafkaprops import unsupported_warning, worker_consumer_conf
from streamapp.runtime import watchdog
from streamapp.runtime.fastpath import BatchConsumer, BatchProcessor, BatchTransport

Hook = Callable[[], Awaitable[None]]

log = logging.getLogger("streamapp.worker")


class StreamApp(faust.App):
    """A faust.App whose consumer is :class:`BatchConsumer`, with start-up/shutdown hooks.

    ``startup_hook`` runs in the app's loop before any child service (consumer, agents)
    starts; ``shutdown_hook`` runs after they all stopped and offsets were committed.
    """

    startup_hook: Hook | None = None
    shutdown_hook: Hook | None = None
    #: seconds a crashed app gets to stop before the process is ended (see runtime/watchdog.py)
    crash_exit_bound: float = 60.0

    def _crash(self, reason: BaseException) -> None:
        super()._crash(reason)
        watchdog.arm(self.crash_exit_bound, code=1, reason=f"a crash ({type(reason).__name__})")

    def _new_transport(self) -> Any:
        return BatchTransport(self.conf.broker_consumer, self)

    async def on_start(self) -> None:
        await super().on_start()
        if self.startup_hook is not None:
            await self.startup_hook()

    async def on_shutdown(self) -> None:
        await super().on_shutdown()
        if self.shutdown_hook is not None:
            await self.shutdown_hook()


def log_membership(group: str, session_timeout: float, instance_id: str | None) -> None:
    """Say at start-up how long a rejoin after a crash can take, and why."""
    if instance_id:
        log.info(
            "consumer group %s: static member %r (STREAMAPP_GROUP_INSTANCE_ID); a restart with "
            "this id gets its partitions back at once, but those of a worker that stops (even "
            "cleanly) move to others only after the session timeout, %.0fs "
            "(STREAMAPP_SESSION_TIMEOUT)",
            group,
            instance_id,
            session_timeout,
        )
    else:
        log.info(
            "consumer group %s: session timeout %.0fs (STREAMAPP_SESSION_TIMEOUT); a worker "
            "restarted after a crash (kill -9, OOM) may wait that long in '(Re-)joining group' "
            "until Kafka expires its previous member; STREAMAPP_GROUP_INSTANCE_ID makes it a "
            "static member that rejoins at once",
            group,
            session_timeout,
        )


def _check_timeouts(options: dict[str, Any]) -> None:
    """ConfigError for timeouts the consumer would refuse with a traceback at its start."""
    session = float(options["broker_session_timeout"])
    request = float(options["broker_request_timeout"])
    heartbeat = float(options["broker_heartbeat_interval"])
    if request < session:
        raise ConfigError(
            f"STREAMAPP_KAFKA_PROPERTIES: request.timeout.ms={request * 1000:.0f} is below "
            f"STREAMAPP_SESSION_TIMEOUT ({session:.0f}s); the worker's consumer needs at least "
            "the session timeout: raise it or remove it"
        )
    if heartbeat >= session:
        raise ConfigError(
            f"STREAMAPP_KAFKA_PROPERTIES: heartbeat.interval.ms={heartbeat * 1000:.0f} must be "
            f"below STREAMAPP_SESSION_TIMEOUT ({session:.0f}s) (a third of it is usual)"
        )


def build_app(
    *,
    app_id: str,
    bootstrap: str,
    security: KafkaSecurity,
    routes: Sequence[tuple[str, Sequence[str], BatchProcessor]],
    batch_size: int = 5000,
    batch_max_wait: float = 0.2,
    web_port: int | None = None,
    web_bind: str = "127.0.0.1",
    on_startup: Hook | None = None,
    on_shutdown: Hook | None = None,
    session_timeout: float = 10.0,
    group_instance_id: str | None = None,
    **conf: Any,
) -> StreamApp:
    """A Faust app consuming ``routes``: (agent name, topics, batch processor) triples.

    Each route becomes a Faust agent subscribed to its topics (so group membership, assignment
    and rebalancing are Faust's); records reach the processor through the batch fast path.
    ``session_timeout`` is how long Kafka waits for a silent member (a crashed worker) before
    it hands its partitions on; ``group_instance_id`` makes this worker a static member (KIP-345),
    which a restart with the same id rejoins at once. One log line says which applies.
    ``security`` gives the consumer its TLS/SASL credentials, and its STREAMAPP_KAFKA_PROPERTIES
    the Faust settings they map to (:func:`streamapp.kafkaprops.worker_consumer_conf`, which win
    over these defaults); one warning line names the properties the consumer cannot take.
    """
    datadir = Path(tempfile.gettempdir()) / "streamapp-faust" / app_id
    datadir.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = dict(
        # Faust keeps table state here; streamapp has none, so keep it out of the working dir.
        datadir=str(datadir),
        broker_client_id=f"{app_id}@{socket.gethostname()}",
        broker=f"kafka://{bootstrap}",
        broker_credentials=security.faust_credentials(),
        store="memory://",
        autodiscover=False,
        topic_disable_leader=True,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        broker_max_poll_records=batch_size,
        stream_wait_empty=True,
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        web_bind=web_bind,
        broker_session_timeout=session_timeout,
        broker_heartbeat_interval=min(3.0, session_timeout / 3),
        consumer_group_instance_id=group_instance_id,
        broker_request_timeout=max(90.0, session_timeout),  # Faust's default, or what must be
        **conf,
    )
    properties, unsupported = worker_consumer_conf(security.properties)
    options.update(properties)
    _check_timeouts(options)
    if unsupported:
        log.warning("%s", unsupported_warning(unsupported))
    app = StreamApp(app_id, **options)
    log_membership(app_id, session_timeout, group_instance_id)
    app.startup_hook = on_startup
    app.shutdown_hook = on_shutdown
    for name, topics, _handler in routes:
        channel = app.topic(*topics, key_type=bytes, value_type=bytes)

        async def idle(stream: Any) -> None:
            # Batches bypass the per-message stream; the agent owns the subscription.
            async for _ in stream:  # pragma: no cover - never receives
                pass

        app.agent(channel, name=name)(idle)
    consumer = app.consumer
    assert isinstance(consumer, BatchConsumer)
    consumer.batch_size = batch_size
    consumer.batch_max_wait = batch_max_wait
    app.crash_exit_bound = consumer.shutdown_grace + 30.0
    for name, topics, handler in routes:
        consumer.set_handler(topics, handler, name)
    return app
