"""freshness_client: durations, dbt periods, and the answers read from a worker's /freshness."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import pytest

from streamapp.freshness_client import check, dbt_period, is_fresh, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("5m", 300.0), ("2h", 7200.0), ("1d", 86400.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5 minutes", "-3s", "1w", "m"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="90s, 5m"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "period"), [("10m", (10, "minute")), ("2h", (2, "hour")), ("1d", (1, "day"))]
)
def test_dbt_periods(text: str, period: tuple[int, str]) -> None:
    assert dbt_period(text) == period


@pytest.mark.parametrize("text", ["30s", "1.5h", "0m", "10"])
def test_dbt_has_no_seconds_or_fractions(text: str) -> None:
    with pytest.raises(ValueError):
        dbt_period(text)


class _Worker(BaseHTTPRequestHandler):
    body: ClassVar[dict[str, Any]] = {}

    def do_GET(self) -> None:
        payload = json.dumps(self.body).encode()
        self.send_response(200 if self.path == "/freshness" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def worker() -> Iterator[tuple[str, type[_Worker]]]:
    handler = type("Handler", (_Worker,), {"body": {}})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def entry(age: float | None, owned: int = 3, total: int = 3) -> dict[str, Any]:
    ms = None if age is None else int((time.time() - age) * 1000)
    return {
        "complete_through": None if ms is None else "2026-01-01T00:00:00.000Z",
        "complete_through_ms": ms,
        "partitions_owned": owned,
        "partitions_total": total,
    }


@pytest.mark.parametrize(
    ("age", "owned", "expected", "code", "words"),
    [
        (5, 3, "fresh", 0, "<= 60s"),
        (120, 3, "stale", 1, "> 60s"),
        (None, 3, "unknown", 2, "no complete-through time yet"),
        (5, 2, "unknown", 2, "owns 2 of 3 partitions"),
    ],
)
def test_answers_from_a_worker(
    worker: tuple[str, type[_Worker]],
    age: float | None,
    owned: int,
    expected: str,
    code: int,
    words: str,
) -> None:
    url, handler = worker
    # the entry's time is taken now, not when the module is collected: a whole suite can take
    # longer than the 60 s threshold between the two (CI saw "stale" for a 5 s old entry)
    handler.body = {"topologies": {"orders": entry(age, owned=owned)}}
    result = check(url, "orders", 60)
    assert (result.state, result.exit_code) == (expected, code)
    assert words in result.line() and result.line().startswith(f"orders: {expected}: ")
    assert is_fresh(url + "/freshness", "orders", 60) is (expected == "fresh")


def test_unknown_topology_and_unreachable_worker_are_unknown(
    worker: tuple[str, type[_Worker]],
) -> None:
    url, handler = worker
    handler.body = {"topologies": {"orders": entry(1)}}
    assert "runs: orders" in check(url, "nope", 60).detail
    dead = check("http://127.0.0.1:9/", "orders", 60, timeout=2)
    assert dead.state == "unknown" and "is the worker up?" in dead.detail
    assert check("redis://x", "orders", 60).state == "unknown"


def test_the_orchestrator_examples_call_this_helper() -> None:
    """examples/ cannot be imported here (no Airflow/Dagster in this venv): check their source
    imports ``check`` from this module and calls it with topology and max lag."""
    import ast
    from pathlib import Path

    examples = Path(__file__).resolve().parents[2] / "examples"
    for name in ("airflow_sensor.py", "dagster_sensor.py"):
        tree = ast.parse((examples / name).read_text())
        imports = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module == "streamapp.freshness_client"
        ]
        assert imports and {a.name for a in imports[0].names} == {"check"}, name
        calls = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "check"
        ]
        assert calls and all(len(c.args) == 3 for c in calls), name
