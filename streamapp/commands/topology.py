"""`streamapp topology list|validate`: the topology modules as the loader sees them."""

from __future__ import annotations

import argparse
from typing import Any

from streamapp.commands import load, settings

ORDER = 50


def register(sub: Any) -> None:
    parser = sub.add_parser("topology", help="list or validate the topology modules")
    parser.add_argument(
        "action",
        choices=("list", "validate"),
        help="list: one line each; validate: exit 2 with one line per problem",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    topologies = load(settings())
    if args.action == "validate":
        print(f"{len(topologies)} topolog{'y' if len(topologies) == 1 else 'ies'} valid")
        return 0
    for top in topologies:
        sinks = ", ".join(str(s) for s in top.sinks) or "-"
        print(
            f"{top.name:<16} {', '.join(top.source_topics)}  ->  "
            f"{len(top.output_columns)} columns; sinks: {sinks}; dlq: {top.dlq_topic}"
        )
    return 0
