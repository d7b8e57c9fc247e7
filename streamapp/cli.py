"""The `streamapp` command: one subcommand per operation (run, check, settings, topology)."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from streamapp import __version__
from streamapp.errors import ConfigError, TopologyError
from streamapp.settings import Settings


def _quiet_third_party_warnings() -> None:
    """authlib (imported by the registry client) forces its deprecation warnings on; a user
    cannot act on them, so the command line hides that one category."""
    try:
        from authlib.deprecate import AuthlibDeprecationWarning
    except ImportError:  # pragma: no cover - authlib is a dependency
        return
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)


def _settings() -> Settings:
    return Settings.from_env()


def cmd_check(args: argparse.Namespace) -> int:
    """Probe every service with a real round trip and print one line each."""
    from streamapp.observability.health import check_all

    checks = check_all(_settings())
    width = max(len(c.service) for c in checks)
    for c in checks:
        mark = "ok  " if c.ok else "FAIL"
        print(f"{mark} {c.service:<{width}}  {c.address}  {c.detail}  ({c.millis:.0f} ms)")
    failed = [c.service for c in checks if not c.ok]
    if failed:
        print(
            f"{len(failed)} service(s) unhealthy: {', '.join(failed)}; start the local stack "
            "with `make up` or fix the STREAMAPP_* settings (`streamapp settings`)"
        )
        return 1
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    """Print every setting, its env var and current value (passwords and secrets hidden)."""
    for env, value, doc in _settings().describe():
        print(f"{env:<28} {value:<48} {doc}")
    return 0


def _load(settings: Settings):  # type: ignore[no-untyped-def]
    from streamapp.transform.loader import load_topologies

    return load_topologies(
        settings.path(settings.topologies_dir),
        secrets=settings.mask_secrets(),
        schemas_dir=settings.path(settings.schemas_dir),
    )


def cmd_topology(args: argparse.Namespace) -> int:
    """list: one line per topology; validate: exit 1 with one line per problem."""
    settings = _settings()
    topologies = _load(settings)
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


def cmd_run(args: argparse.Namespace) -> int:
    """The main job. For now: validate the topologies and report the stack's health."""
    settings = _settings()
    topologies = _load(settings)
    print(
        f"loaded {len(topologies)} topologies from {settings.topologies_dir}/: "
        + ", ".join(t.name for t in topologies)
    )
    return cmd_check(args)


def cmd_worker(args: argparse.Namespace) -> int:
    """Run a worker: one Faust agent per topology, until SIGTERM/SIGINT."""
    import logging

    from streamapp.runtime.worker import run_worker

    settings = _settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return run_worker(
        settings,
        batch_size=args.batch_size,
        batch_max_wait=args.batch_max_wait,
        web_port=args.web_port,
        loglevel=settings.log_level.lower(),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamapp",
        description="Debezium change streams -> in-stream transforms -> ClickHouse, "
        "PostgreSQL and Redis. Configure with STREAMAPP_* env vars (`streamapp settings`).",
    )
    parser.add_argument("--version", action="version", version=f"streamapp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)
    sub.add_parser(
        "run",
        help="run the main job on the configured stack (validate topologies, "
        "report service health)",
    ).set_defaults(func=cmd_run)
    worker = sub.add_parser(
        "worker",
        help="consume the topologies' change topics into their sinks until SIGTERM/SIGINT",
    )
    worker.add_argument(
        "--batch-size",
        type=int,
        default=5000,
        metavar="N",
        help="records per batch handed to a topology (default: 5000)",
    )
    worker.add_argument(
        "--batch-max-wait",
        type=float,
        default=0.2,
        metavar="SECONDS",
        help="longest a partial batch waits before it is processed (default: 0.2)",
    )
    worker.add_argument(
        "--web-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Faust's web endpoints on 127.0.0.1:PORT (default: off)",
    )
    worker.set_defaults(func=cmd_worker)
    sub.add_parser("check", help="check every service with a real round trip").set_defaults(
        func=cmd_check
    )
    sub.add_parser("settings", help="print every setting and its env var").set_defaults(
        func=cmd_settings
    )
    topo = sub.add_parser("topology", help="list or validate the topology modules")
    topo.add_argument(
        "action",
        choices=("list", "validate"),
        help="list: one line each; validate: exit 1 with one line per problem",
    )
    topo.set_defaults(func=cmd_topology)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_third_party_warnings()
    try:
        return int(args.func(args))
    except TopologyError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
