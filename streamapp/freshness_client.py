"""Is a topology fresh? The freshness contract as sensors and `streamapp freshness` ask it.

``check(source, topology, max_lag)`` reads either a worker's ``/freshness`` (``source`` is an
``http(s)://`` URL) or the ``streamapp_freshness`` view of a PostgreSQL warehouse (``source``
is a ``postgresql://`` DSN) and answers fresh (complete through a time at most ``max_lag``
seconds ago), stale, or unknown (nothing to read, no time yet, or a worker that owns only
some of the topology's partitions: ask the warehouse for the whole group). Only the standard
library and psycopg, so an Airflow or Dagster environment can import it with streamapp alone.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

State = Literal["fresh", "stale", "unknown"]
_EXIT = {"fresh": 0, "stale": 1, "unknown": 2}
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_duration(text: str) -> float:
    """``"90"``/``"90s"`` -> 90.0, ``"5m"`` -> 300.0, ``"2h"``, ``"1d"``; ValueError otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration; write e.g. 90s, 5m, 2h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def dbt_period(text: str) -> tuple[int, str]:
    """A duration as dbt's ``(count, period)``: whole minutes, hours or days (``"90m"`` ->
    ``(90, "minute")``); ValueError for seconds or fractions (dbt has no smaller period)."""
    match = _DURATION.match(text)
    unit = match.group(2) if match else ""
    if match is None or unit not in ("m", "h", "d") or not float(match.group(1)).is_integer():
        raise ValueError(
            f"{text!r}: dbt counts whole minutes, hours or days; write e.g. 10m, 2h or 1d"
        )
    count = int(float(match.group(1)))
    if count < 1:
        raise ValueError(f"{text!r}: use at least 1")
    return count, {"m": "minute", "h": "hour", "d": "day"}[unit]


@dataclass(frozen=True, slots=True)
class FreshnessResult:
    """The answer for one topology: its state, how far behind, and one line of why."""

    topology: str
    state: State
    lag_seconds: float | None
    complete_through: str | None
    detail: str

    @property
    def fresh(self) -> bool:
        return self.state == "fresh"

    @property
    def exit_code(self) -> int:
        """0 fresh, 1 stale, 2 unknown (what `streamapp freshness` exits with)."""
        return _EXIT[self.state]

    def line(self) -> str:
        return f"{self.topology}: {self.state}: {self.detail}"


def check(
    source: str, topology: str, max_lag: float, *, schema: str = "public", timeout: float = 10.0
) -> FreshnessResult:
    """Is ``topology`` complete through a time at most ``max_lag`` seconds ago? Never raises
    for an unreachable source or a missing topology: those are ``unknown`` with the reason."""
    if source.startswith(("http://", "https://")):
        return _from_worker(source, topology, max_lag, timeout)
    if source.startswith(("postgresql://", "postgres://")):
        return _from_warehouse(source, topology, max_lag, schema, timeout)
    return FreshnessResult(
        topology, "unknown", None, None, "source must be an http(s):// URL or a postgresql:// DSN"
    )


def is_fresh(source: str, topology: str, max_lag: float, *, schema: str = "public") -> bool:
    """True when ``check`` says fresh: what an Airflow or Dagster sensor polls."""
    return check(source, topology, max_lag, schema=schema).fresh


def _judge(topology: str, lag: float, through: str, max_lag: float, where: str) -> FreshnessResult:
    state: State = "fresh" if lag <= max_lag else "stale"
    sign = "<=" if state == "fresh" else ">"
    detail = f"complete through {through} (lag {lag:.1f}s {sign} {max_lag:g}s) [{where}]"
    return FreshnessResult(topology, state, lag, through, detail)


def _from_worker(url: str, topology: str, max_lag: float, timeout: float) -> FreshnessResult:
    base = url.rstrip("/")
    if not base.endswith("/freshness"):
        base += "/freshness"
    try:
        with urllib.request.urlopen(base, timeout=timeout) as resp:
            body: dict[str, Any] = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return FreshnessResult(
            topology, "unknown", None, None, f"cannot read {base} ({reason}); is the worker up?"
        )
    entry = body.get("topologies", {}).get(topology)
    if entry is None:
        known = ", ".join(sorted(body.get("topologies", {}))) or "none"
        return FreshnessResult(
            topology,
            "unknown",
            None,
            None,
            f"the worker at {base} runs no such topology (it runs: {known})",
        )
    owned, total = entry.get("partitions_owned", 0), entry.get("partitions_total", 0)
    if owned < total or owned == 0:
        return FreshnessResult(
            topology,
            "unknown",
            None,
            None,
            f"the worker at {base} owns {owned} of {total} "
            "partitions; ask the warehouse (--dsn) for the whole group",
        )
    through, ms = entry.get("complete_through"), entry.get("complete_through_ms")
    if through is None or ms is None:
        return FreshnessResult(
            topology,
            "unknown",
            None,
            None,
            "no complete-through time yet (nothing stored "
            "since the worker started, and no heartbeat)",
        )
    lag = max(0.0, time.time() - ms / 1000)
    return _judge(topology, lag, through, max_lag, base)


def _from_warehouse(
    dsn: str, topology: str, max_lag: float, schema: str, timeout: float
) -> FreshnessResult:
    import psycopg
    from psycopg import sql

    from streamapp.redact import redact_url

    where = f"{redact_url(dsn)} {schema}.streamapp_freshness"
    query = sql.SQL(
        "SELECT bool_or(complete_through_ts IS NULL), min(complete_through_ts), "
        "extract(epoch FROM now() - min(complete_through_ts)), count(*) FROM {} "
        "WHERE topology = %s"
    ).format(sql.Identifier(schema, "streamapp_freshness"))
    try:
        with psycopg.connect(dsn, connect_timeout=int(max(1, timeout))) as conn:
            row = conn.execute(query, [topology]).fetchone()
    except psycopg.Error as exc:
        state = getattr(exc, "sqlstate", None) or type(exc).__name__
        return FreshnessResult(
            topology,
            "unknown",
            None,
            None,
            f"cannot read {where} ({state}); is a worker "
            "running with STREAMAPP_WEB_PORT and STREAMAPP_FRESHNESS_INTERVAL on?",
        )
    if row is None or not row[3]:
        return FreshnessResult(topology, "unknown", None, None, f"no row for it in {where}")
    if row[0] or row[1] is None:
        return FreshnessResult(
            topology, "unknown", None, None, f"not every partition has a time yet in {where}"
        )
    through = row[1].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return _judge(topology, max(0.0, float(row[2])), through, max_lag, where)
