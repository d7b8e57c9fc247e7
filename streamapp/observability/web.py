"""The worker's HTTP endpoints on Faust's web server: /metrics, /healthz, /readyz, /freshness.

``/healthz`` (liveness) answers 200 while the consumer and its batch loop are alive, 503 with
the reason once the consumer crashed or the loop stopped making progress (a restart helps).
``/readyz`` (readiness) answers 200 only when the worker has partitions assigned and every
sink's service answered its last round trip with the sink's circuit breaker closed; 503
otherwise, with the reasons as JSON either way. It answers from a cache (``readiness.py``), so
it never waits for a sink, and never for a write in progress. ``/freshness`` (always 200) is the
freshness contract per topology as JSON (``freshness.py``, ``freshwire.py``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streamapp.errors import ConfigError
from streamapp.observability.health import sink_probe
from streamapp.observability.metrics import Metrics
from streamapp.observability.readiness import Readiness
from streamapp.settings import Settings
from streamapp.sinks.base import Sink


def ensure_port_free(bind: str, port: int) -> None:
    """ConfigError with the fix when the web port is taken (Faust would fail less clearly)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((bind, port))
        except OSError:
            raise ConfigError(
                f"port {port} for the worker's /metrics and health endpoints is taken on {bind}; "
                "set STREAMAPP_WEB_PORT to a free port (each worker on a host needs its own), "
                "or 0 to turn the endpoints off"
            ) from None


Liveness = Callable[[], tuple[bool, str]]  # (alive, why not) of the consumer and batch loop


def install(
    app: Any,
    metrics: Metrics,
    sinks: Sequence[Sink],
    writers: Sequence[Any],
    liveness: Liveness | None = None,
    *,
    settings: Settings,
) -> Readiness:
    """Serve the worker's endpoints, and only those, on the Faust app's web server.

    Faust's own views (``/router``, ``/table``, its index, statistics and graph pages) are
    removed: they expose internals streamapp does not use. ``/healthz`` asks ``liveness``;
    ``/readyz`` answers from the returned :class:`Readiness`, which an app task refreshes.
    """
    from faust.web.base import BlueprintManager

    app.web.blueprints = BlueprintManager()  # no built-in blueprint: our pages only
    from streamapp.observability import freshwire

    freshness = freshwire.install(app, writers, settings)  # /freshness, streamapp_freshness rows
    readiness = Readiness(app, {s.kind: sink_probe(s.kind, settings) for s in sinks}, writers)
    app.task(readiness.run)

    async def metrics_view(view: Any, request: Any) -> Any:
        try:
            metrics.assigned.set(len(app.consumer.assignment()))
        except Exception:  # noqa: BLE001 - not started yet
            metrics.assigned.set(0)
        freshness.export(metrics)
        body = generate_latest(metrics.registry)
        return view.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    async def healthz(view: Any, request: Any) -> Any:
        alive, reason = liveness() if liveness is not None else (True, "ok")
        return view.json({"alive": alive, "reason": reason}, status=200 if alive else 503)

    async def readyz(view: Any, request: Any) -> Any:
        report = readiness.report()
        return view.json(report, status=200 if report["ready"] else 503)

    app.page("/metrics")(metrics_view)
    app.page("/healthz")(healthz)
    app.page("/readyz")(readyz)
    return readiness
