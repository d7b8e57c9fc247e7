"""`streamapp dbt sources`: a dbt sources.yml for the sink tables of the loaded topologies."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from streamapp.commands import load, settings
from streamapp.errors import ConfigError

ORDER = 39


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "dbt",
        help="dbt integration: `dbt sources` writes sources.yml for the sink tables",
        description="dbt integration for the warehouse side of the hybrid: CDC streams land "
        "the rows, dbt transforms them once they are fresh.",
    )
    dbt_sub = parser.add_subparsers(dest="dbt_command", metavar="subcommand", required=True)
    sources = dbt_sub.add_parser(
        "sources",
        help="write a dbt sources.yml for the PostgreSQL (and ClickHouse) sink tables",
        description="A dbt sources.yml (dbt >= 1.10) for every SQL sink table of the loaded "
        "topologies: one source per PostgreSQL schema (named 'streamapp' for public), with "
        "each table and its <table>_current view; columns described from the topology "
        "(declared type, key, masked columns noted as masked, metadata columns); tests "
        "unique + not_null on the key and not_null on __version/__deleted; freshness from the "
        "freshness contract (loaded_at_query on the schema's streamapp_freshness view, which "
        "running workers keep up to date) with warn/error thresholds.",
    )
    sources.add_argument("--out", help="write here instead of stdout (e.g. models/sources.yml)")
    sources.add_argument(
        "--warn-after",
        help="dbt warn_after: whole minutes, hours or days, e.g. 10m (default: "
        "STREAMAPP_FRESHNESS_WARN_AFTER)",
    )
    sources.add_argument(
        "--error-after",
        help="dbt error_after, e.g. 1h (default: STREAMAPP_FRESHNESS_ERROR_AFTER)",
    )
    sources.add_argument(
        "--sinks",
        default="postgres",
        help="comma-separated sink kinds: postgres, clickhouse (default: postgres; ClickHouse "
        "needs the dbt-clickhouse adapter, which streamapp's tests do not run)",
    )
    sources.add_argument(
        "--name", default="streamapp", help="the dbt source name (default: streamapp)"
    )
    sources.set_defaults(func=_sources)


def _sources(args: argparse.Namespace) -> int:
    from streamapp.freshness_client import dbt_period
    from streamapp.ops.dbtsources import build_sources, to_yaml

    s = settings()
    kinds = [k.strip() for k in args.sinks.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in ("postgres", "clickhouse")]
    if unknown or not kinds:
        raise ConfigError(f"--sinks {args.sinks!r}: use postgres and/or clickhouse")
    periods = []
    for flag, value in (
        ("--warn-after", args.warn_after or s.freshness_warn_after),
        ("--error-after", args.error_after or s.freshness_error_after),
    ):
        try:
            periods.append(dbt_period(value))
        except ValueError as exc:
            raise ConfigError(f"{flag}: {exc}") from None
    document = build_sources(
        load(s), warn=periods[0], error=periods[1], kinds=kinds, name=args.name
    )
    text = to_yaml(document)
    if args.out:
        path = Path(args.out)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        except OSError as exc:
            raise ConfigError(f"cannot write {path}: {exc.strerror}; pick another --out") from None
        tables = sum(len(src["tables"]) for src in document["sources"])
        print(f"wrote {path}: {len(document['sources'])} source(s), {tables} table(s)")
    else:
        print(text, end="")
    return 0
