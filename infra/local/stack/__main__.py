"""streamapp local stack: `up`, `down`, `status` for Kafka, registry, PostgreSQL, Redis, MariaDB,
Connect, the authenticating TLS proxy in front of the registry and Connect (authproxy),
OpenSearch (the search-index sink's node), an Iceberg REST catalog (iceberg-rest) and an
S3-compatible object store (s3, for Iceberg warehouses on s3://); ``up`` without names starts
every service.

Run as ``python3 infra/local/stack <command> [service ...]`` (the Makefile's up/down/status);
``python3 infra/local/stack kafka-consumer-groups ARGS...`` runs Kafka's own consumer-group tool
against the stack's broker (e.g. ``--describe --group NAME`` to cross-check lag).
Stdlib only, so it works before the project's virtualenv exists.
"""

from __future__ import annotations

import argparse
import sys
import time

from authproxy import AuthProxy
from common import Config, StackError, fail, say
from connect import Connect
from devkey import ensure_mask_dev_key
from icebergrest import IcebergRest
from kafka import TOOLS, Kafka
from mariadb import MariaDB
from opensearch import OpenSearch
from postgres import Postgres
from redis import Redis
from registry import Registry
from s3 import S3

ORDER = (
    "postgres",
    "redis",
    "mariadb",
    "kafka",
    "registry",
    "connect",
    "opensearch",
    "iceberg-rest",
    "s3",
    "authproxy",
)
# Started only when named; the default of down/status takes them while they run. OpenSearch
# was one until the sink's tests joined `make test`: every test needs every service running.
OPTIONAL: tuple[str, ...] = ()
ALL = (*ORDER, *OPTIONAL)
# Launched only once these (when this run launched them) answer: Connect's worker exits when
# Kafka is not there, and its connectors need PostgreSQL and the registry.
NEEDS = {
    "registry": ("postgres",),
    "connect": ("kafka", "postgres", "mariadb", "registry"),
    # its readiness is a round trip through it to each
    "authproxy": ("registry", "connect", "iceberg-rest"),
    "iceberg-rest": ("postgres",),  # its catalog tables are in PostgreSQL
}


def services(cfg: Config) -> dict[str, object]:
    return {
        "postgres": Postgres(cfg),
        "redis": Redis(cfg),
        "mariadb": MariaDB(cfg),
        "kafka": Kafka(cfg),
        "registry": Registry(cfg),
        "connect": Connect(cfg),
        "authproxy": AuthProxy(cfg),
        "opensearch": OpenSearch(cfg),
        "iceberg-rest": IcebergRest(cfg),
        "s3": S3(cfg),
    }


def up(cfg: Config, names: list[str]) -> None:
    svc = services(cfg)
    started = time.monotonic()
    ensure_mask_dev_key(cfg)
    for name in names:
        svc[name].prepare()  # type: ignore[attr-defined]
    launched: list[str] = []
    # Kafka, Redis and MariaDB have no dependencies: launch them first so their start-up overlaps.
    first = ("kafka", "redis", "mariadb", "opensearch", "s3")
    for name in sorted(names, key=lambda n: (n not in first, ALL.index(n))):
        service = svc[name]
        for needed in NEEDS.get(name, ()):
            if needed in launched:
                svc[needed].wait()  # type: ignore[attr-defined]
        stale = service.pid() is not None and getattr(service, "outdated", lambda: None)()
        if stale:  # e.g. a Connect worker started before a connector plugin was added
            say(f"{name} {stale}; restarting it to load it")
            service.stop()  # type: ignore[attr-defined]
        if service.pid() is not None:  # type: ignore[attr-defined]
            say(f"{name} already running (pid {service.pid()})")  # type: ignore[attr-defined]
        else:
            service.start()  # type: ignore[attr-defined]
            launched.append(name)
    for name in names:
        took = svc[name].wait()  # type: ignore[attr-defined]
        if name in launched:
            say(f"{name} ready at {svc[name].address} ({took:.1f}s)")  # type: ignore[attr-defined]
    say(f"up in {time.monotonic() - started:.1f}s")


def down(cfg: Config, names: list[str]) -> None:
    svc = services(cfg)
    for name in reversed([n for n in ALL if n in names]):
        service = svc[name]
        pid = service.pid()  # type: ignore[attr-defined]
        if pid is None:
            continue
        service.stop()  # type: ignore[attr-defined]
        say(f"{name} stopped (pid {pid})")


def status(cfg: Config, names: list[str]) -> int:
    svc = services(cfg)
    bad = 0
    print(f"{'service':<12} {'pid':>8}  {'health':<9} address")
    for name in names:
        service = svc[name]
        pid = service.pid()  # type: ignore[attr-defined]
        if pid is None:
            health = "down"
        else:
            try:
                health = "healthy" if service.healthy() else "unhealthy"  # type: ignore[attr-defined]
            except Exception:  # noqa: BLE001 - a failed probe is an unhealthy service
                health = "unhealthy"
        bad += health != "healthy"
        print(f"{name:<12} {pid or '-':>8}  {health:<9} {service.address}")  # type: ignore[attr-defined]
        if health == "healthy" and hasattr(service, "details"):
            try:
                details = service.details()
            except Exception as exc:  # noqa: BLE001 - a failed probe is an unhealthy service
                details = [(f"  (cannot list {name}'s parts: {exc})", False)]
            for line, ok in details:
                bad += not ok
                print(line)
    return 1 if bad else 0


def main(argv: list[str]) -> int:
    if argv and argv[0] in TOOLS:  # Kafka's own tool, e.g. kafka-consumer-groups --describe ...
        try:
            return Kafka(Config.from_env()).tool(argv[0], argv[1:])
        except StackError as exc:
            fail(str(exc))
            return 1
    parser = argparse.ArgumentParser(
        prog="stack",
        description=__doc__.splitlines()[0],
        epilog=f"Kafka's tools against the stack's broker: {', '.join(TOOLS)} ARGS...",
    )
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument(
        "services",
        nargs="*",
        choices=[*ALL, []],
        metavar="service",
        help=f"subset of: {', '.join(ALL)} (default: all of them)",
    )
    args = parser.parse_args(argv)
    cfg = Config.from_env()
    names = [n for n in ALL if n in args.services] if args.services else list(ORDER)
    if not args.services and args.command != "up":
        svc = services(cfg)
        names += [n for n in OPTIONAL if svc[n].pid() is not None]  # type: ignore[attr-defined]
    try:
        if args.command == "up":
            up(cfg, names)
        elif args.command == "down":
            down(cfg, names)
        else:
            return status(cfg, names)
    except StackError as exc:
        fail(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
