"""`streamapp dlq list|show|replay`: inspect a topology's dead-letter topic and replay from it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from streamapp.commands import find, load, settings
from streamapp.ops import guarded
from streamapp.ops.parse import parse_duration

if TYPE_CHECKING:
    from streamapp.ops.dlqstore import DlqState
    from streamapp.settings import Settings
    from streamapp.transform.compile import CompiledTopology

ORDER = 70

REPLAY_DESCRIPTION = """\
Send selected DLQ records through the *current* topology (after you fixed it), in this
process, exactly like a worker: records that now succeed go to the sinks and the output topic
(once: sinks are idempotent), records that fail again go back to the DLQ with their attempt
header incremented. Progress is committed per batch for the consumer group
'<STREAMAPP_GROUP_ID>.dlq-replay' (replayed offsets, filters included), so a second run never
replays a record twice. Filters combine; offsets are the DLQ's own (see `dlq show`), both ends
inclusive; durations look like 90s, 15m, 2h, 7d and compare with the time the record failed.
Records sealed with a DLQ key are opened with STREAMAPP_DLQ_KEY (and sealed again if they fail
again); when a selected record cannot be opened, nothing is replayed.
"""


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "dlq",
        help="list, show or replay a topology's dead-letter records",
        description="Inspect a topology's dead-letter topic and replay records from it. "
        "Nothing here prints a masked field in clear: records are shown through the current "
        "topology (masked) or by column names only.",
    )
    actions = parser.add_subparsers(dest="action", metavar="action", required=True)
    listing = actions.add_parser(
        "list",
        help="counts by stage and exception class, oldest and newest failure",
        description="Summarise the DLQ: records per stage and exception class, how many are "
        "pending (not replayed yet), the highest attempt, and the oldest and newest failure.",
    )
    listing.add_argument("topology", help="the topology's name")
    show = actions.add_parser(
        "show",
        help="records with their failure context, decoded through the current topology",
        description="Print DLQ records: the original topic/partition/offset, stage, exception, "
        "message and attempt from the headers, then the original event decoded with the "
        "topology's decoder: its columns, and the masked output record the current topology "
        "makes of it (or why it still fails). Raw values are never printed. A record sealed "
        "with a DLQ key is opened with STREAMAPP_DLQ_KEY; without it only its context shows.",
    )
    show.add_argument("topology", help="the topology's name")
    show.add_argument("--limit", type=int, default=10, metavar="N", help="at most N records (10)")
    show.add_argument(
        "--offset",
        type=int,
        default=None,
        metavar="N",
        help="start at DLQ offset N (default: first)",
    )
    show.add_argument("--trace", action="store_true", help="also print each stack trace")
    replay = actions.add_parser(
        "replay",
        help="replay selected records through the current topology, once",
        description=REPLAY_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    replay.add_argument("topology", help="the topology's name")
    replay.add_argument("--from-offset", type=int, metavar="N", help="first DLQ offset to take")
    replay.add_argument("--to-offset", type=int, metavar="N", help="last DLQ offset to take")
    replay.add_argument(
        "--exception",
        metavar="CLASS",
        help="only this exception class (full name or last part, e.g. TransformError)",
    )
    replay.add_argument(
        "--older-than", type=_duration, metavar="DURATION", help="only records failed before"
    )
    replay.add_argument(
        "--newer-than", type=_duration, metavar="DURATION", help="only records failed since"
    )
    replay.add_argument("--dry-run", action="store_true", help="list what would be replayed")
    parser.set_defaults(func=guarded(_run))


def _run(args: argparse.Namespace) -> int:
    s = settings()
    topology = find(load(s), args.topology)
    if args.action == "replay":
        from streamapp.ops.dlqentry import Selection
        from streamapp.ops.dlqreplay import run_dlq_replay

        selection = Selection(
            args.from_offset, args.to_offset, args.exception, args.older_than, args.newer_than
        )
        return run_dlq_replay(s, topology, selection, dry_run=args.dry_run)
    from streamapp.ops.dlqshow import render_summary
    from streamapp.ops.dlqstore import load_state, progress_group, read_entries
    from streamapp.ops.kafka import Kafka

    kafka = Kafka(s)
    try:
        group = progress_group(s.group_id)
        state = load_state(kafka, topology.dlq_topic, group)
    finally:
        kafka.close()
    if args.action == "list" or not state.exists:
        entries = read_entries(s, state) if args.action == "list" else []
        print("\n".join(render_summary(topology, state, entries, group)))
        return 0
    return _show(s, topology, state, args)


def _show(
    s: Settings, topology: CompiledTopology, state: DlqState, args: argparse.Namespace
) -> int:
    from streamapp.ops.dlqshow import render_entry
    from streamapp.ops.dlqstore import read_entries
    from streamapp.ops.render import decoder_for
    from streamapp.registry import SchemaRegistry

    entries = read_entries(
        s,
        state,
        first=args.offset,
        limit=max(args.limit, 0),
        sealer=s.dlq_sealer(),
    )
    registry = SchemaRegistry(s.registry_url, settings=s)
    try:
        decoder = decoder_for(topology, registry)
        for i, entry in enumerate(entries):
            lines = render_entry(
                entry, topology, decoder, replayed=state.is_replayed(entry), trace=args.trace
            )
            print(("\n" if i else "") + "\n".join(lines))
    finally:
        registry.close()
    if not entries:
        print(f"no DLQ records from offset {args.offset or 0} on")
    return 0
