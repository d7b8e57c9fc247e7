"""`streamapp status`: one screen per topology (lag, DLQ, sinks, last applied), then slot lag."""

from __future__ import annotations

import argparse
import time
from typing import Any

from streamapp.commands import find, load, settings
from streamapp.ops import guarded

ORDER = 35


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "status",
        help="per topology: partitions, committed offset, lag, DLQ depth, sinks, last applied",
        description="One screen for a human: the worker group's state and members, then per "
        "topology each source partition's committed offset, end offset and lag, the DLQ's "
        "depth (and how much of it was replayed), each sink's health (a real round trip per "
        "sink kind; an embedded chDB held by a running worker shows as busy; an Iceberg sink "
        "also its table's newest commit) and when a batch "
        "was last applied (the newest record on the output topic; unknown without one), a GAP "
        "line for a committed "
        "offset below its partition's log start (events deleted by retention before they were "
        "consumed), and the newest gaps, (re-)snapshots and sweeps workers noted in the healing "
        "log (STREAMAPP_HEAL_TOPIC). Last, the source's "
        "replication slots (STREAMAPP_SOURCE_SLOTS): each slot's lag in WAL bytes, its growth "
        "between a look at the start and one at the end of this command, whether the connector "
        "is attached, and PostgreSQL's wal_status; a MySQL-family source shows its binlog "
        "position (it has no slot). Exit 1 when a sink fails its round trip or a topology's "
        "topics cannot be read (an unreadable source is shown, not an error).",
    )
    parser.add_argument(
        "topologies", nargs="*", metavar="topology", help="only these topologies (default: all)"
    )
    parser.set_defaults(func=guarded(_run))


def _run(args: argparse.Namespace) -> int:
    from streamapp.observability.slot import SlotTrend, parse_slot_names, read_slots, render_slots
    from streamapp.ops.status import gather
    from streamapp.ops.statusview import exit_code, render_status

    s = settings()
    topologies = load(s)
    if args.topologies:
        topologies = [find(topologies, name) for name in args.topologies]
    slots = parse_slot_names(s.source_slots)
    trend = SlotTrend(window=3600.0)
    first = read_slots(s.source_dsn, slots) if slots != () else None
    if first is not None:
        trend.add(first)
    group, statuses, health = gather(s, topologies)
    now_ms = int(time.time() * 1000)
    lines = render_status(s.group_id, group, statuses, health, now_ms)
    if first is not None:  # a second look: the growth over the time this command ran
        last = first if first.problem else read_slots(s.source_dsn, slots)
        lines += render_slots(s.source_dsn, last, trend.add(last), last.at - first.at)
    print("\n".join(lines))
    return exit_code(statuses, health)
