"""web.install: only streamapp's pages, /healthz from the liveness callable, /readyz from cache."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from streamapp.kafkaconf import KafkaSecurity
from streamapp.observability.metrics import Metrics
from streamapp.observability.web import install
from streamapp.runtime.app import build_app
from streamapp.settings import Settings


def pages(liveness: Any) -> dict[str, Any]:
    """The Faust views install() registered, by path."""
    app = build_app(
        app_id="web-unit", bootstrap="127.0.0.1:1", security=KafkaSecurity(), routes=[], web_port=1
    )
    install(app, Metrics(), [], [], liveness, settings=Settings.from_env({}))
    return dict(app.web.views)


def call(view: Any) -> tuple[int, Any]:
    """GET one view in-process: (status, parsed JSON body)."""

    async def get() -> Any:
        return await view.get(None)

    response = asyncio.run(get())
    return response.status, json.loads(response.body)


def test_only_streamapps_pages_are_served() -> None:
    app = build_app(
        app_id="web-unit", bootstrap="127.0.0.1:1", security=KafkaSecurity(), routes=[], web_port=1
    )
    install(app, Metrics(), [], [], None, settings=Settings.from_env({}))
    assert sorted(app.web.views) == ["/freshness", "/healthz", "/metrics", "/readyz"]
    assert not app.web.blueprints._enabled  # Faust's /router, /table, index, stats: none


@pytest.mark.parametrize(
    ("liveness", "status", "body"),
    [
        (None, 200, {"alive": True, "reason": "ok"}),
        (lambda: (True, "ok"), 200, {"alive": True, "reason": "ok"}),
        (
            lambda: (False, "consumer crashed: KafkaError: boom"),
            503,
            {"alive": False, "reason": "consumer crashed: KafkaError: boom"},
        ),
    ],
)
def test_healthz_answers_what_liveness_says(liveness: Any, status: int, body: Any) -> None:
    assert call(pages(liveness)["/healthz"]) == (status, body)


def test_readyz_answers_from_the_cache_without_probing() -> None:
    status, body = call(pages(None)["/readyz"])  # no probe round ran: nothing known yet
    assert status == 503 and body["ready"] is False and body["checked_s_ago"] is None
