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
A topology with t.lookup is compared with each looked-up table built from that topology's
own source table through its transforms (as_of="current": the join of the current tables;
as_of="event" columns are not compared, a note says so). The name may be an Aggregate's: its
sinks are compared with a batch GROUP BY of its table's expected rows (no --repair).
Exit 0 when every sink matches within --tolerance, 1 when one differs, 2 when one could not
be read (e.g. an embedded chDB held by a running worker) or on any error.

--repair fixes what differs, then verifies again, up to --max-rounds rounds: keys missing from
a sink or differing in it are re-read by Debezium (execute-snapshot signals with
additional-conditions on the source key: integer runs as BETWEEN, IN-lists otherwise, as many
signals as the signal table's data column needs, written to the --connector's signal table
and followed to their end); rows a sink holds that the source does not produce get a
tombstone through the sink's own versioned delete (stored version + 1, so any later real
change still wins), once two consecutive passes found them with the same version. The
re-read rows reach the sinks through the topology's topic: NEEDS A WORKER consuming it
(STREAMAPP_GROUP_ID); when the group has no member at all, repair applies them itself, in
this process, with the worker's pipeline, and commits the group's offsets as the worker would
(that is also how an embedded chDB, which a running worker holds, gets repaired). It prints
what it repaired per sink (keys re-snapshotted, signals, tombstones, rounds) and the last
pass's report. --dry-run prints the plan (signals with their filters, strays per sink) and
changes nothing. Exit 0 on MATCH, 1 when still different, 2 when a sink could not be read."""


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
    parser.add_argument("topology", help="the topology's (or aggregate's) name")
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
    parser.add_argument(
        "--repair",
        action="store_true",
        help="re-snapshot missing/differing keys, tombstone strays, verify again (needs the "
        "worker running, or applies the rows itself when its group has no member)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="with --repair: print the plan, change nothing"
    )
    parser.add_argument(
        "--max-rounds",
        type=int,
        default=3,
        metavar="N",
        help="with --repair: repair rounds before giving up (default 3)",
    )
    parser.add_argument(
        "--connector",
        default="shop",
        help="with --repair: the Debezium connector that captures the table (default shop)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="with --repair: seconds to wait for each snapshot and for the worker (default 600)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from streamapp.reconcile import Options, reconcile
    from streamapp.reconcile.report import exit_code, render

    try:
        s = settings()
        loaded = load(s)
        aggregate = next(
            (a for a in getattr(loaded, "aggregates", ()) if a.name == args.topology), None
        )
        if aggregate is not None:
            return _aggregate(s, aggregate, loaded, args)
        topology = find(loaded, args.topology)
        options = Options(
            table=args.table,
            tolerance=args.tolerance,
            kinds=args.sinks,
            slot=args.slot,
            chunk_rows=max(args.chunk, 1),
        )
        if args.repair:
            return _repair(s, topology, options, args)
        if args.dry_run:
            print("error: --dry-run goes with --repair", file=sys.stderr)
            return 2
        result = reconcile(s, topology, options, loaded)
    except ConfigError:
        raise  # the CLI prints it and exits 2
    except StreamappError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(render(result, topology.key_columns, args.tolerance, args.verbose)))
    return exit_code(result, args.tolerance)


def _aggregate(s: Any, aggregate: Any, loaded: Any, args: argparse.Namespace) -> int:
    """Reconcile an Aggregate's sinks (``reconcile.aggrun``); --repair does not apply."""
    from streamapp.reconcile import Options
    from streamapp.reconcile.aggrun import reconcile_aggregate
    from streamapp.reconcile.report import exit_code, render

    if args.repair or args.dry_run:
        print(
            f"error: {aggregate.name} is an aggregate; --repair re-snapshots source rows: "
            f"repair its table's topology {aggregate.table!r} (the groups follow)",
            file=sys.stderr,
        )
        return 2
    options = Options(
        table=args.table,
        tolerance=args.tolerance,
        kinds=args.sinks,
        slot=args.slot,
        chunk_rows=max(args.chunk, 1),
    )
    try:
        result = reconcile_aggregate(s, aggregate, loaded, options)
    except StreamappError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(render(result, aggregate.key_columns, args.tolerance, args.verbose)))
    return exit_code(result, args.tolerance)


def _repair(s: Any, topology: Any, options: Any, args: argparse.Namespace) -> int:
    from streamapp.commands import load
    from streamapp.reconcile.repair import RepairOptions, run_repair
    from streamapp.reconcile.report import exit_code, render

    repair = RepairOptions(args.connector, args.dry_run, max(args.max_rounds, 1), args.timeout)
    siblings = [t for t in load(s) if t.name != topology.name]
    done = run_repair(s, topology, options, repair, siblings=siblings)
    result = done.result
    assert result is not None
    try:
        if args.dry_run:
            return exit_code(result, args.tolerance)
        print("\n".join(render(result, topology.key_columns, args.tolerance, args.verbose)))
        print(
            f"repaired {topology.name} in {done.rounds} round(s): {done.signals} signal(s), "
            f"{done.rows:,} row(s) re-delivered"
            + (
                f", {done.applied_here:,} event(s) applied in this process"
                if done.applied_here
                else ""
            )
        )
        for sink, work in done.work.items():
            print(
                f"  {sink}: {work.resnapped:,} key(s) re-snapshotted, "
                f"{work.tombstones:,} tombstone(s) written"
                + (f", {work.unconfirmed:,} stray(s) left unconfirmed" if work.unconfirmed else "")
            )
        return exit_code(result, args.tolerance)
    finally:
        result.close()
