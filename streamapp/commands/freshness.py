"""`streamapp freshness TOPOLOGY`: fresh, stale or unknown, as an exit code a sensor can poll."""

from __future__ import annotations

import argparse
from typing import Any

from streamapp.commands import settings
from streamapp.errors import ConfigError

ORDER = 38


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "freshness",
        help="is a topology's data complete through a recent source time? exit 0/1/2",
        description="The freshness contract of one topology: the source time through which "
        "its sinks are complete (every change committed at the source before it is stored), "
        "read from a running worker's /freshness (default: this host's worker on "
        "STREAMAPP_WEB_PORT; it must own all of the topology's partitions) or, with --dsn, "
        "from a PostgreSQL warehouse's streamapp_freshness view (every worker of the group). "
        "Prints one line. Exit 0 when complete through at most --max-lag ago, 1 when older "
        "(stale), 2 when unknown (unreachable, no such topology, no time yet).",
    )
    parser.add_argument("topology", help="the topology's name")
    parser.add_argument(
        "--max-lag",
        default="60s",
        help="how old the complete-through time may be: 90s, 5m, 2h (default: 60s)",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--url", help="a worker's base URL, e.g. http://10.0.0.5:6066 (default: this host's)"
    )
    where.add_argument(
        "--dsn",
        help="read the streamapp_freshness view of this PostgreSQL warehouse instead "
        '(e.g. "$STREAMAPP_WAREHOUSE_DSN")',
    )
    parser.add_argument(
        "--schema", default="public", help="the view's schema with --dsn (default: public)"
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from streamapp.freshness_client import check, parse_duration

    try:
        max_lag = parse_duration(args.max_lag)
    except ValueError as exc:
        raise ConfigError(f"--max-lag: {exc}") from None
    source = args.dsn or args.url
    if source is None:
        s = settings()
        if not int(s.web_port):
            raise ConfigError(
                "STREAMAPP_WEB_PORT is 0 (no /freshness here); pass --url of a worker or --dsn"
            )
        host = "127.0.0.1" if s.web_bind in ("0.0.0.0", "::", "") else s.web_bind
        source = f"http://{host}:{s.web_port}"
    result = check(source, args.topology, max_lag, schema=args.schema)
    print(result.line())
    return result.exit_code
