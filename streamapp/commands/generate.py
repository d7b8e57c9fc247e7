"""`streamapp generate`: a realistic stream of inserts, updates and deletes on the shop tables."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from signal import SIGINT, SIGTERM
from types import FrameType
from typing import Any

from streamapp.commands import settings
from streamapp.errors import ConfigError
from streamapp.settings import redact_url
from streamapp.workload import Counts, Workload, check_tables

ORDER = 60


def run_generate(rate: float, duration: float | None, schema: str, seed: int | None) -> int:
    """Apply the workload at about ``rate`` row changes/s until ``duration``, Ctrl-C or SIGTERM.

    The first Ctrl-C (or SIGTERM) lets the transaction in flight commit, then stops; a second
    Ctrl-C interrupts it (psycopg cancels the query, the transaction is rolled back).
    """
    import psycopg

    dsn = settings().source_dsn
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(
            f"cannot connect to the source database {redact_url(dsn)} ({reason}); start the "
            "stack with `make up` or set STREAMAPP_SOURCE_DSN"
        ) from None
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    try:
        check_tables(conn, schema)
        work = Workload(conn, schema=schema, seed=seed)
        started = shown = time.monotonic()
        previous = {sig: signal.signal(sig, request_stop) for sig in (SIGINT, SIGTERM)}
        try:
            while not stop.is_set() and (duration is None or time.monotonic() - started < duration):
                work.step()
                now = time.monotonic()
                if now - shown >= 1.0:
                    _progress(work.counts, now - started, end="\r")
                    shown = now
                stop.wait(started + work.counts.changes / rate - time.monotonic())
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: the open transaction was rolled back
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        conn.close()
    _progress(work.counts, time.monotonic() - started, end="\n")
    return 0


def _progress(counts: Counts, elapsed: float, *, end: str) -> None:
    rate = counts.changes / elapsed if elapsed > 0 else 0.0
    line = (
        f"generate: {counts.changes} changes in {counts.transactions} transactions "
        f"({counts.inserts} ins, {counts.updates} upd, {counts.deletes} del), "
        f"{rate:.1f} changes/s, {elapsed:.0f}s"
        + (f", {counts.conflicts} conflicts rolled back" if counts.conflicts else "")
    )
    sys.stdout.write(f"{line:<100}{end}")
    sys.stdout.flush()


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "generate",
        help="apply a realistic stream of inserts/updates/deletes to the source shop tables",
    )
    parser.add_argument(
        "--rate",
        type=_positive,
        default=20.0,
        metavar="N",
        help="row changes per second, about (default: 20)",
    )
    parser.add_argument(
        "--duration",
        type=_positive,
        default=None,
        metavar="S",
        help="stop after S seconds (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--schema", default="public", help="PostgreSQL schema of the shop tables (default: public)"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")
    parser.set_defaults(
        func=lambda args: run_generate(args.rate, args.duration, args.schema, args.seed)
    )
