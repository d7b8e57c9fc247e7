"""`streamapp snapshot`: trigger a Debezium incremental snapshot of source tables."""

from __future__ import annotations

import argparse
from typing import Any

from streamapp.commands import settings
from streamapp.ops import guarded

ORDER = 65

DESCRIPTION = """\
Backfill or repair tables without restarting anything: insert an execute-snapshot signal
({"data-collections": [...], "type": "incremental"}) into the connector's signal table, and
Debezium re-reads the tables in chunks while it keeps streaming. The re-read rows arrive as
op=r with source.snapshot=incremental; sinks keep the newer of a re-read row and a streamed
change (versioned upserts), so the result converges to the source.

A table is schema.table, or the name of a topology whose source topic is the connector's
<topic.prefix>.<schema>.<table>. The signal table (signal.data.collection), the database
(database.dbname) and the topic prefix come from the connector's config in Kafka Connect
(STREAMAPP_CONNECT_URL); the signal is written through STREAMAPP_SOURCE_DSN with the
connector's database name. Refused, before anything is written, when Connect does not answer,
the connector does not exist, is not RUNNING or has no signal table, or a table does not exist
or is not in the connector's include list.

--wait follows the snapshot in the connector's offsets (GET /connectors/<name>/offsets keeps
the running snapshot's tables and chunk position) and counts the re-delivered rows on the
tables' topics; it ends when the offsets, committed past the signal, no longer hold the
snapshot. The connector must commit offsets after the snapshot ends: a heartbeat
(heartbeat.interval.ms) makes sure of that on an idle database.
"""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "snapshot",
        help="trigger a Debezium incremental snapshot of tables (backfill/repair, no restart)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "tables", nargs="+", metavar="table", help="schema.table, or a topology name"
    )
    parser.add_argument(
        "--connector", default="shop", help="the Debezium connector in Kafka Connect (shop)"
    )
    follow = parser.add_mutually_exclusive_group()
    follow.add_argument(
        "--wait",
        action="store_true",
        help="print progress until the snapshot finished, then the rows re-delivered",
    )
    follow.add_argument(
        "--stop", action="store_true", help="send stop-snapshot for these tables instead"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        metavar="S",
        help="with --wait: give up (exit 1) after S seconds; the snapshot goes on (600)",
    )
    parser.set_defaults(func=guarded(_run))


def _run(args: argparse.Namespace) -> int:
    from streamapp.ops.snapshotrun import SnapshotRequest, run_snapshot

    s = settings()

    def topic_of(name: str) -> str:
        from streamapp.commands import find, load

        return find(load(s), name).source_topics[0]

    request = SnapshotRequest(
        tuple(args.tables), args.connector, args.wait, args.timeout, args.stop
    )
    return run_snapshot(s, request, topic_of)
