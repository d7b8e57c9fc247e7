"""`streamapp reconcile <topology>`: the source table against every sink, per key, in one pass."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from streamapp.commands import find, load, settings
from streamapp.errors import ConfigError, StreamappError

ORDER = 37
DESCRIPTION = """\
Compare the topology's source table (read from STREAMAPP_SOURCE_DSN in key order with a
server-side cursor, never all in memory) with each of its sinks. Every source row goes through
the topology's own transforms as a snapshot read, so filters and masks (keyed HMAC with
STREAMAPP_MASK_SECRET, as the worker) apply exactly as in the stream; rows filtered out are not
expected. ClickHouse (FINAL, not deleted) and PostgreSQL (no tombstones) are merge-joined by key;
Redis keys are read in pipelined chunks and counted with SCAN. Per key a checksum over the
mapped columns is compared, each value in one canonical text per declared type; metadata
columns (__op, __lsn, __source_ts_ms, ...) and sink bookkeeping are left out; columns the
worker propagated (new_columns="propagate") are read from the latest registered output schema
(STREAMAPP_REGISTRY_URL) and compared too. Printed per sink:
rows expected and in the sink, missing, extra and differing keys (samples name keys and
columns, never values), null rates per column that differ by more than the tolerance, and
freshness: the source's current WAL position (pg_current_wal_lsn) against the newest change
the sink applied (max version, i.e. its LSN); the gap in WAL bytes bounds the lag (WAL of other
tables counts too). With --slot, the connector slot's confirmed_flush_lsn is shown as well.
Exit 0 when every sink matches within --tolerance, 1 when one differs, 2 when one could not
be read (e.g. an embedded chDB held by a running worker) or on any error."""


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("give a fraction between 0 and 1, e.g. 0.001") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("give a fraction between 0 and 1, e.g. 0.001")
    return value


def _kinds(text: str) -> tuple[str, ...]:
    from streamapp.sinks import SINK_KINDS

    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in SINK_KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"use a comma-separated list of {', '.join(SINK_KINDS)}")
    return kinds


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "reconcile",
        help="compare the source table with each sink: counts, per-key checksums, null rates",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("topology", help="the topology's name")
    parser.add_argument(
        "--table",
        metavar="SCHEMA.TABLE",
        help="the source table (default: from the source topic <prefix>.<schema>.<table>)",
    )
    parser.add_argument(
        "--tolerance",
        type=_fraction,
        default=0.0,
        metavar="FRACTION",
        help="missing + extra + differing rows allowed per sink, as a fraction of the expected "
        "rows; also the null-rate difference shown (default 0: exact)",
    )
    parser.add_argument(
        "--sinks", type=_kinds, metavar="KIND,...", help="only these sink kinds (default: all)"
    )
    parser.add_argument("--slot", help="the connector's replication slot, shown in freshness")
    parser.add_argument(
        "--verbose", action="store_true", help="show the null rate of every compared column"
    )
    parser.add_argument(
        "--chunk", type=int, default=5_000, metavar="ROWS", help="rows per fetch (default 5000)"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from streamapp.reconcile import Options, reconcile
    from streamapp.reconcile.report import exit_code, render

    try:
        s = settings()
        topology = find(load(s), args.topology)
        options = Options(
            table=args.table,
            tolerance=args.tolerance,
            kinds=args.sinks,
            slot=args.slot,
            chunk_rows=max(args.chunk, 1),
        )
        result = reconcile(s, topology, options)
    except ConfigError:
        raise  # the CLI prints it and exits 2
    except StreamappError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(render(result, topology.key_columns, args.tolerance, args.verbose)))
    return exit_code(result, args.tolerance)
