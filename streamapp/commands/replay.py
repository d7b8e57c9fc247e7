"""`streamapp replay`: move a topology's committed offsets, or replay a bounded range now."""

from __future__ import annotations

import argparse
from typing import Any

from streamapp.commands import find, load, settings
from streamapp.ops import guarded
from streamapp.ops.parse import Position, parse_partitions, parse_position

ORDER = 60

DESCRIPTION = """\
Reprocess a topology's change topic from a point in its history.

Without --to, the worker group's (STREAMAPP_GROUP_ID) committed offsets of the topology's
source topics are moved to the --from position (timestamps through Kafka's offsets-for-times)
and the workers reprocess everything from there when they (re)start. With --to, the range
[--from, --to) is replayed now, in this process, through the same pipeline as a worker
(sinks, output topic, DLQ) with a progress bar on stderr, and the --to offsets are committed
for the group afterwards. Sinks are versioned, so a replay converges to the same rows.

Kafka does not let anyone outside a live group move its offsets, so replay refuses while the
group has active members. --force replays anyway, in this process, from --from up to the
group's committed offsets (or --to) while the workers run, and leaves the group's offsets to
them. --dry-run prints, per partition, the committed, target, --to and end offsets, how many
events would be processed and how many of those again, and changes nothing.

Positions: earliest | latest | offset N | epoch milliseconds | ISO-8601 time (UTC if no zone).
"""


def _partitions(text: str) -> tuple[int, ...]:
    try:
        return parse_partitions(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "replay",
        help="reprocess a topology's topic from a time or offset (moves the group's offsets)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("topology", help="the topology's name")
    parser.add_argument(
        "--from",
        dest="start",
        required=True,
        nargs="+",
        metavar="POSITION",
        help="where to start: earliest, latest, 'offset N', epoch ms or an ISO time",
    )
    parser.add_argument(
        "--to",
        nargs="+",
        metavar="POSITION",
        help="replay up to here now (exclusive: 'offset N' stops before N; a time stops at "
        "the first record at or after it), then commit it for the group",
    )
    parser.add_argument(
        "--partitions", type=_partitions, metavar="LIST", help="only these partitions, e.g. 0,2"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan per partition; change nothing"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replay in this process even though the group has active members (see above)",
    )
    parser.set_defaults(func=guarded(_run))


def _run(args: argparse.Namespace) -> int:
    from streamapp.ops.replay import ReplayRequest, run_replay

    start = _parse(" ".join(args.start), "--from", "earliest", "latest", "offset", "timestamp")
    to = None if args.to is None else _parse(" ".join(args.to), "--to", "offset", "timestamp")
    s = settings()
    topology = find(load(s), args.topology)
    request = ReplayRequest(topology, start, to, args.partitions, args.dry_run, args.force)
    return run_replay(s, request)


def _parse(text: str, option: str, *kinds: str) -> Position:
    from streamapp.errors import ConfigError

    try:
        return parse_position(text, allow=kinds)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ConfigError(f"{option}: {exc}") from None
