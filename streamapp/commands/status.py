"""`streamapp status`: one screen per topology: lag, DLQ depth, sink health, last applied time."""

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
        "sink kind; an embedded chDB held by a running worker shows as busy) and when a batch "
        "was last applied (the newest record on the output topic). Exit 1 when a sink fails "
        "its round trip or a topology's topics cannot be read.",
    )
    parser.add_argument(
        "topologies", nargs="*", metavar="topology", help="only these topologies (default: all)"
    )
    parser.set_defaults(func=guarded(_run))


def _run(args: argparse.Namespace) -> int:
    from streamapp.ops.status import gather
    from streamapp.ops.statusview import exit_code, render_status

    s = settings()
    topologies = load(s)
    if args.topologies:
        topologies = [find(topologies, name) for name in args.topologies]
    group, statuses, health = gather(s, topologies)
    now_ms = int(time.time() * 1000)
    print("\n".join(render_status(s.group_id, group, statuses, health, now_ms)))
    return exit_code(statuses, health)
