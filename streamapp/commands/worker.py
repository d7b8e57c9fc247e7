"""`streamapp worker`: consume the topologies' change topics into their sinks."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamapp.commands import settings
from streamapp.errors import RegistryError

ORDER = 20


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "worker",
        help="consume the topologies' change topics into their sinks until SIGTERM/SIGINT",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=5000,
        metavar="N",
        help="records per batch handed to a topology (default: 5000)",
    )
    parser.add_argument(
        "--batch-max-wait",
        type=float,
        default=0.2,
        metavar="SECONDS",
        help="longest a partial batch waits before it is processed (default: 0.2)",
    )
    parser.add_argument(
        "--web-port",
        type=int,
        default=None,
        metavar="PORT",
        help="port of /metrics, /healthz, /readyz (default: STREAMAPP_WEB_PORT; 0: off)",
    )
    parser.set_defaults(func=_run)


def _sink_preflight(s: Any) -> None:
    """Reach the sinks the topologies write to (ConfigError, one line, if one refuses)."""
    from streamapp.commands import load
    from streamapp.observability.health import sink_preflight

    sink_preflight(s, {sink.kind for topology in load(s) for sink in topology.sinks})


def _run(args: argparse.Namespace) -> int:
    from streamapp.kafkaconf import preflight
    from streamapp.observability.logs import configure
    from streamapp.runtime.worker import run_worker

    s = settings()
    configure(s.log_level, s.log_format)
    preflight(s, group=s.group_id)
    _sink_preflight(s)
    try:
        return run_worker(
            s,
            batch_size=args.batch_size,
            batch_max_wait=args.batch_max_wait,
            web_port=args.web_port,
            loglevel=s.log_level.lower(),
        )
    except RegistryError as exc:  # at start-up, e.g. a refused login: its one line says why
        print(f"error: {exc}", file=sys.stderr)
        return 1
