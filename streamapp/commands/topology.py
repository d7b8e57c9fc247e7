"""`streamapp topology list|validate|show|test|init`: topology modules, as the loader sees them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamapp.commands import find, load, settings
from streamapp.ops import guarded

if TYPE_CHECKING:
    from streamapp.settings import Settings
    from streamapp.transform.compile import CompiledTopology

ORDER = 50


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "topology",
        help="list, validate, show, test or init the topology modules",
        description="Work with the topology modules in STREAMAPP_TOPOLOGIES_DIR.",
    )
    actions = parser.add_subparsers(dest="action", metavar="action", required=True)
    actions.add_parser("list", help="one line per topology: source, columns, sinks, DLQ")
    validate = actions.add_parser(
        "validate",
        help="exit 2 with one line per problem in any module",
        description="Load and check every topology module; exit 2 with one line per problem. "
        "With --connect, also compare each source's handling modes (Source(handling=...), "
        "Debezium's defaults when omitted) with the config of the connector that writes its "
        "topic, read from Kafka Connect's REST API at STREAMAPP_CONNECT_URL.",
    )
    validate.add_argument(
        "--connect",
        action="store_true",
        help="compare handling modes with the running connectors (STREAMAPP_CONNECT_URL)",
    )
    show = actions.add_parser(
        "show",
        help="the compiled chain as text",
        description="Print the compiled chain of one topology: the source topic and its "
        "declared columns, each transform as written with what it does to the columns or "
        "events, the output columns with their types, the output topic, sinks and DLQ.",
    )
    show.add_argument("name", help="the topology's name")
    test = actions.add_parser(
        "test",
        help="run a topology over a file of Debezium JSON events, without Kafka",
        description="Decode each line of FILE like the worker does, run the topology and "
        "encode the result against its output schema; print each output record as a JSON "
        "line on stdout (with its line number), and each failure or skipped event as one "
        "line on stderr. Exit 1 when any line failed. A line is a Debezium JSON value (with "
        'or without "schema"/"payload"), null (a tombstone), or {"key": ..., "value": ...}; '
        "blank lines and lines starting with # are skipped. No Kafka, no registry. Values "
        "are read with the source's handling modes (Source(handling=...)). An event without "
        "its log position (e.g. a PostgreSQL event without source.lsn) is decoded with a "
        "version derived from ts_ms and the line number, and noted on stderr: the worker "
        "refuses such events.",
    )
    test.add_argument("name", help="the topology's name")
    test.add_argument(
        "--events", required=True, metavar="FILE", help="JSON lines of Debezium events ('-': stdin)"
    )
    test.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="seed the table of topology NAME, which a lookup reads, from a file of NAME's "
        "events (same format; applied in order before the test); repeatable",
    )
    init = actions.add_parser(
        "init",
        help="write a topology module whose Source.columns come from the schema registry",
        description="Read the latest value schema of SUBJECT (<topic>-value, or the topic) "
        "from the schema registry at STREAMAPP_REGISTRY_URL, take the Debezium envelope's "
        "'after' record and write a topology module NAME declaring each column with the type "
        "streamapp reads it as (decimal(p,s), timestamp(6), timestamptz, json, ...), the key "
        "columns from the <topic>-key subject when there is one, a derived output schema and "
        "no sinks. The module goes to --out, else <STREAMAPP_TOPOLOGIES_DIR>/NAME.py; an "
        "existing file is never overwritten.",
    )
    init.add_argument("name", help="the topology's name (also the module's file name)")
    init.add_argument(
        "--from-registry",
        required=True,
        metavar="SUBJECT",
        help="the value subject, e.g. shop.public.orders-value (or the topic)",
    )
    init.add_argument("--out", metavar="FILE", help="where to write the module ('-': stdout)")
    parser.set_defaults(func=guarded(_run))  # e.g. a registry refusing `init`: one line


def _run(args: argparse.Namespace) -> int:
    s = settings()
    if args.action == "init":
        return _init(args, s)
    topologies = load(s)
    if args.action == "validate":
        print(f"{len(topologies)} topolog{'y' if len(topologies) == 1 else 'ies'} valid")
        return _connect(topologies, s.connect_url) if args.connect else 0
    from streamapp.transform.loader import aggregates_of

    if args.action == "list":
        for top in topologies:
            sinks = ", ".join(str(s) for s in top.sinks) or "-"
            print(
                f"{top.name:<16} {', '.join(top.source_topics)}  ->  "
                f"{len(top.output_columns)} columns; sinks: {sinks}; dlq: {top.dlq_topic}"
            )
        for each in aggregates_of(topologies):
            print(each.summary())
        return 0
    aggregate = next((a for a in aggregates_of(topologies) if a.name == args.name), None)
    if aggregate is not None and args.action == "show":
        print("\n".join(aggregate.render()))
        return 0
    topology = find(topologies, args.name)
    if args.action == "show":
        from streamapp.ops.show import render

        looked_up_by = [t.name for t in topologies if topology.name in t.table_refs]
        print("\n".join(render(topology, s.mask_secrets(), looked_up_by=looked_up_by)))
        return 0
    _seed(topology, topologies, args.table)
    return _test(topology, args.events)


def _seed(topology: CompiledTopology, topologies: list[CompiledTopology], seeds: list[str]) -> None:
    """Fill the tables named by ``--table NAME=FILE`` and bind ``topology``'s lookups to them."""
    from streamapp.errors import ConfigError
    from streamapp.ops.render import decoder_for
    from streamapp.state.seed import seed_table

    for seed in seeds:
        name, sep, file = seed.partition("=")
        if not sep or not name or not file:
            raise ConfigError(f"--table {seed!r}: write NAME=FILE (a topology and its events)")
        if name not in topology.table_refs:
            looked = ", ".join(topology.table_refs) or "none"
            raise ConfigError(
                f"--table {name}: {topology.name} does not look it up (its lookups: {looked})"
            )
        source = find(topologies, name)
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"--table {name}={file}: cannot be read ({exc.strerror})") from None
        decoder = decoder_for(source, strict_versions=False)
        table = seed_table(source, decoder, text.splitlines(), err=_stderr)
        topology.table_refs[name].get = table.get


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _init(args: argparse.Namespace, s: Settings) -> int:
    from streamapp.errors import ConfigError
    from streamapp.ops.init import from_registry, render
    from streamapp.registry import SchemaRegistry

    registry = SchemaRegistry(s.registry_url, settings=s)
    try:
        text = render(from_registry(registry, args.name, args.from_registry))
    finally:
        registry.close()
    if args.out == "-":
        sys.stdout.write(text)
        return 0
    out = Path(args.out) if args.out else s.path(s.topologies_dir) / f"{args.name}.py"
    try:
        with out.open("x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError:
        raise ConfigError(f"--out {out}: the file exists; remove it or give another") from None
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot be written ({exc.strerror})") from None
    print(f"wrote {out}: topology {args.name!r} from subject {args.from_registry!r}")
    return 0


def _connect(topologies: list[CompiledTopology], url: str) -> int:
    from streamapp.ops.modescheck import check

    problems, matches = check(topologies, url)
    for line in matches:
        print(line)
    for line in problems:
        print(line, file=sys.stderr)
    return 2 if problems else 0


def _test(topology: CompiledTopology, events: str) -> int:
    from streamapp.errors import ConfigError
    from streamapp.ops.eventfile import offline_encoder, run_lines
    from streamapp.ops.render import decoder_for

    def err(line: str) -> None:
        print(line, file=sys.stderr)

    try:
        text = sys.stdin.read() if events == "-" else Path(events).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--events {events}: cannot be read ({exc.strerror})") from None
    tally = run_lines(
        topology,
        decoder_for(topology, strict_versions=False),
        text.splitlines(),
        out=print,
        err=err,
        encoder=offline_encoder(topology),
    )
    err(
        f"{tally.events} event(s): {tally.records} record(s), {tally.skipped} without a record, "
        f"{tally.errors} error(s)"
    )
    return 1 if tally.errors else 0
