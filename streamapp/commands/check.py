"""`streamapp check`: probe every service (and the sinks the topologies declare) with a real round
trip, one line each."""

from __future__ import annotations

import os
import time
from typing import Any

from streamapp.commands import settings
from streamapp.observability.health import Check, check_all
from streamapp.settings import Settings

ORDER = 30


def run_check() -> int:
    s = settings()
    checks = check_all(s, _sink_kinds(s))
    connect = _connect_checks(s.connect_url, _source_topics(s), s)
    failed = [c.service for c in checks if not c.ok]
    failed += [c.service for c, counts in connect if counts and not c.ok]
    width = max(len(c.service) for c in [*checks, *(c for c, _ in connect)])
    for c in [*checks, *(c for c, _ in connect)]:
        mark = "ok  " if c.ok else "FAIL" if c.service in failed else "-   "
        negotiated = f"{c.protocol}  " if c.protocol else ""
        print(
            f"{mark} {c.service:<{width}}  {c.address}  {negotiated}{c.detail}  ({c.millis:.0f} ms)"
        )
    if failed:
        print(
            f"{len(failed)} service(s) unhealthy: {', '.join(failed)}; start the local stack "
            "with `make up` or fix the STREAMAPP_* settings (`streamapp settings`)"
        )
        return 1
    return 0


def _sink_kinds(s: Any) -> set[str]:
    """The kinds of the topologies' sinks (empty when the modules do not load)."""
    try:
        from streamapp.commands import load

        return {sink.kind for t in load(s) for sink in t.sinks}
    except Exception:  # noqa: BLE001 - `topology validate` reports the modules' problems
        return set()


def _source_topics(s: Any) -> list[str] | None:
    """The topologies' source topics; None when the modules do not load (then every connector
    counts: `topology validate` reports the modules' problems)."""
    try:
        from streamapp.commands import load

        return [topic for t in load(s) for topic in t.source_topics]
    except Exception:  # noqa: BLE001 - any loading problem only widens what counts
        return None


def _connect_checks(
    url: str, topics: list[str] | None = None, s: Settings | None = None
) -> list[tuple[Check, bool]]:
    """Kafka Connect's lines, each with whether a failure of it fails `check`.

    Connect is required when STREAMAPP_CONNECT_URL is set. Unset, the default URL is probed,
    and when nothing answers there one informational line is printed instead of a failure
    (users who do not run Connect). When Connect answers, a missing PostgreSQL plugin and a
    FAILED connector or task fail `check` (unless it feeds none of ``topics``, the topologies'
    source topics); a PAUSED, STOPPED, UNASSIGNED or RESTARTING connector is shown but does not
    (an operator's choice, or a rebalance passing by). The ``connect`` line carries the
    protocol (``http``/``https TLSv1.3``) when settings ``s`` are given.
    """
    ca_file = s.connect_ca_file if s is not None else ""
    from streamapp.observability.protocol import http
    from streamapp.ops import OpsError
    from streamapp.ops.connect import ConnectAuth, ConnectClient, probe
    from streamapp.settings import redact_url

    required = bool(os.environ.get("STREAMAPP_CONNECT_URL", "").strip())
    shown = redact_url(url)
    start = time.perf_counter()
    try:
        auth = ConnectAuth.from_settings(s) if s is not None else None
        lines = probe(ConnectClient(url, timeout=5, auth=auth), topics)
    except OpsError as exc:
        millis = (time.perf_counter() - start) * 1000
        if required:
            return [(Check("connect", shown, False, str(exc), millis), True)]
        detail = "not answering; set STREAMAPP_CONNECT_URL to require Kafka Connect"
        return [(Check("connect", shown, False, detail, millis), False)]
    millis = (time.perf_counter() - start) * 1000
    negotiated = http(url, ca_file, s) if s is not None else ""
    return [
        (
            Check(what, shown, ok is True, detail, millis, negotiated if what == "connect" else ""),
            ok is not None,
        )
        for what, detail, ok in lines
    ]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "check",
        help="check every service with a real round trip",
        description="Probe Kafka, the schema registry, PostgreSQL (source and warehouse), "
        "Redis, ClickHouse and Kafka Connect with a real round trip each, plus the OpenSearch "
        "node and the Iceberg catalog (and a SQL catalog's warehouse, with a probe object "
        "written and deleted) when a topology declares such a sink; one line per service with "
        "the protocol negotiated. Exit code 1 when one fails.",
    )
    parser.set_defaults(func=lambda args: run_check())
