"""`streamapp worker`: consume the topologies' change topics into their sinks."""

from __future__ import annotations

import argparse
from typing import Any

from streamapp.commands import settings

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


def _run(args: argparse.Namespace) -> int:
    from streamapp.kafkaconf import preflight
    from streamapp.observability.logs import configure
    from streamapp.runtime.worker import run_worker

    s = settings()
    configure(s.log_level, s.log_format)
    preflight(s, group=s.group_id)
    return run_worker(
        s,
        batch_size=args.batch_size,
        batch_max_wait=args.batch_max_wait,
        web_port=args.web_port,
        loglevel=s.log_level.lower(),
    )
