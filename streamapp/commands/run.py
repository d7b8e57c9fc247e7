"""`streamapp run`: the main job on the local stack, end to end, until Ctrl-C.

Validates the topologies, checks every service, then applies a realistic stream of changes to
the source database (the generator, in a background thread) while a worker in this process
carries them from Debezium's topics into ClickHouse, PostgreSQL and Redis, showing one live
progress line. ``--rate 0`` only runs the worker; ``--duration`` stops after that many seconds.
"""

from __future__ import annotations

import argparse
import logging
import threading
from typing import Any

from streamapp.commands import load, settings

ORDER = 10
log = logging.getLogger("streamapp.run")


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "run",
        help="the main job: generate changes in the source database and carry them through "
        "Debezium into every sink, with a live progress line, until Ctrl-C",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=20.0,
        metavar="N",
        help="row changes per second the generator applies (default 20; 0: none)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C)",
    )
    parser.set_defaults(func=_run)


def _generate(rate: float, stop: threading.Event) -> None:
    """Apply the workload until ``stop``; a failure is logged, never kills the worker."""
    import time

    import psycopg

    from streamapp.workload import Workload, check_tables

    try:
        with psycopg.connect(settings().source_dsn, autocommit=True, connect_timeout=5) as conn:
            check_tables(conn, "public")
            work = Workload(conn, schema="public")
            started = time.monotonic()
            while not stop.is_set():
                work.step()
                stop.wait(started + work.counts.changes / rate - time.monotonic())
    except Exception as exc:  # noqa: BLE001 - report and let the worker run on
        log.error("generator stopped: %s: %s", type(exc).__name__, exc)


def _run(args: argparse.Namespace) -> int:
    from streamapp.commands.check import run_check
    from streamapp.observability.logs import configure
    from streamapp.runtime.worker import run_worker

    s = settings()
    topologies = load(s)
    print(
        f"loaded {len(topologies)} topologies from {s.topologies_dir}/: "
        + ", ".join(t.name for t in topologies)
    )
    if run_check() != 0:
        return 1
    configure("WARNING", s.log_format)  # the live line is the output; warnings still show
    stop = threading.Event()
    generator = threading.Thread(target=_generate, args=(args.rate, stop), daemon=True)
    if args.rate > 0:
        generator.start()
        print(
            f"generator: {args.rate:g} row changes/s into the source database "
            "(customers, orders, order_items)"
        )
    print("worker: Debezium topics -> ClickHouse, PostgreSQL, Redis; Ctrl-C stops")
    try:
        return run_worker(s, live=True, duration=args.duration, loglevel="warning")
    finally:
        stop.set()
        if generator.is_alive():
            generator.join(10)
        print()
