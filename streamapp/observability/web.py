"""The worker's HTTP endpoints on Faust's web server: /metrics, /healthz, /readyz.

``/healthz`` (liveness) answers 200 while the worker's event loop runs. ``/readyz`` (readiness)
answers 200 only when the worker has partitions assigned and every sink answers a real round
trip with its circuit breaker closed; 503 otherwise, with the reasons as JSON either way.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streamapp.errors import ConfigError
from streamapp.observability.metrics import Metrics
from streamapp.sinks.base import Sink
from streamapp.sinks.resilience import BreakerState


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


async def readiness(app: Any, sinks: Sequence[Sink], writers: Sequence[Any]) -> dict[str, Any]:
    """What /readyz reports: assignment, each sink's round trip and breaker state."""
    try:
        assigned = len(app.consumer.assignment())
    except Exception:  # noqa: BLE001 - not started yet
        assigned = 0
    sink_state: dict[str, str] = {}
    for sink in sinks:
        try:
            ok = await asyncio.wait_for(sink.healthy(), 3.0)
        except Exception:  # noqa: BLE001 - a failed probe is an unhealthy sink
            ok = False
        sink_state[sink.kind] = "ok" if ok else "unreachable"
    for writer in writers:
        if writer.breaker.state is not BreakerState.CLOSED:
            sink_state[writer.name] = f"breaker {writer.breaker.state.value}"
    ready = assigned > 0 and all(v == "ok" for v in sink_state.values())
    return {"ready": ready, "partitions_assigned": assigned, "sinks": sink_state}


def install(app: Any, metrics: Metrics, sinks: Sequence[Sink], writers: Sequence[Any]) -> None:
    """Add the three endpoints to the Faust app's web server."""

    async def metrics_view(view: Any, request: Any) -> Any:
        try:
            metrics.assigned.set(len(app.consumer.assignment()))
        except Exception:  # noqa: BLE001 - not started yet
            metrics.assigned.set(0)
        body = generate_latest(metrics.registry)
        return view.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    async def healthz(view: Any, request: Any) -> Any:
        return view.json({"alive": True})

    async def readyz(view: Any, request: Any) -> Any:
        report = await readiness(app, sinks, writers)
        return view.json(report, status=200 if report["ready"] else 503)

    app.page("/metrics")(metrics_view)
    app.page("/healthz")(healthz)
    app.page("/readyz")(readyz)
