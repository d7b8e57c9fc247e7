"""`make chaos`: fault injection against the real stack, one table of what was lost.

Run as ``python tests/chaos/run.py [--short] [--cases a,b] [--seed N]`` with the stack up
(`make up`). Each case gets its own source schema, Debezium connector, topics, consumer group,
sink tables and Redis keys, runs the generator and one worker (more in the replica case),
injects its fault, drains, stops the workers and runs `streamapp reconcile` on every sink.
Restarting the broker, the registry and Kafka Connect goes through `infra/local/stack down|up`
on the stack the STREAMAPP_* settings point at. Exit 0 when every case passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chaos_cases import Context, full_cases, short_cases
from chaos_run import run_case, table
from chaos_watch import quiet

from streamapp.settings import Settings


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="chaos", description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the few-minute form make test runs")
    parser.add_argument("--cases", help="comma-separated case names (default: all of the form)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: printed)")
    parser.add_argument("--rate", type=float, default=25.0, help="generator changes/s (25)")
    parser.add_argument(
        "--rss-bound", type=float, default=1024.0, metavar="MIB", help="peak RSS per worker (1024)"
    )
    parser.add_argument("--out", type=Path, help="folder for logs (default: a new temp folder)")
    args = parser.parse_args(argv)
    cases = short_cases() if args.short else full_cases()
    if args.cases:
        wanted = [c.strip() for c in args.cases.split(",") if c.strip()]
        unknown = sorted(set(wanted) - {c.key for c in cases})
        if unknown:
            parser.error(f"unknown case(s) {unknown}; known: {', '.join(c.key for c in cases)}")
        cases = [c for c in cases if c.key in wanted]
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    folder = args.out or Path(tempfile.mkdtemp(prefix="streamapp-chaos-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"chaos: seed {seed}, {len(cases)} case(s), logs in {folder}", flush=True)

    import redis
    from confluent_kafka.admin import AdminClient

    settings = Settings.from_env()
    ctx = Context(
        settings=settings,
        admin=AdminClient(quiet({"bootstrap.servers": settings.kafka_bootstrap})),
        redis=redis.Redis.from_url(settings.redis_url),
        folder=folder,
        rng=random.Random(seed),
        rate=args.rate,
        kills=2 if args.short else 10,
        outage=10.0 if args.short else 30.0,
        rss_bound_mib=args.rss_bound,
        say=lambda line: print(line, flush=True),
    )
    started = time.monotonic()
    # SIGTERM as Ctrl-C: the case in progress still removes its processes, connector and topics
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    results = []
    try:
        for i, case in enumerate(cases):
            results.append(run_case(case, ctx, seed + i))
    except KeyboardInterrupt:
        print("\nchaos: interrupted; the case in progress was cleaned up", flush=True)
    print()
    print(table(results))
    print(f"\nchaos: {time.monotonic() - started:.0f}s in all, seed {seed}, logs in {folder}")
    return 0 if len(results) == len(cases) and all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
