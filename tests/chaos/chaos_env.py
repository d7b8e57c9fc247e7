"""One chaos case's world on the real stack: its own source schema, Debezium connector, topics,
topologies, sink tables, Redis keys, consumer group, proxies, workers and generator.

Built on the e2e ``ShopHarness`` (tests/e2e/shop_harness.py): the schema comes from shop.sql,
the connector from infra/local/connect/shop-avro.json re-pointed at the case's names, and its
``close`` removes everything again. The workers reach the PostgreSQL warehouse and Redis
through a ``TcpProxy`` each, so a case can make them unreachable without touching the servers
that other work uses. Reconcile and the suite's own reads go to the servers directly.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

E2E = Path(__file__).resolve().parents[1] / "e2e"
if str(E2E) not in sys.path:
    sys.path.insert(0, str(E2E))

from chaos_proxy import TcpProxy  # noqa: E402
from chaos_watch import Watch  # noqa: E402
from chaos_workers import Generator, Workers  # noqa: E402
from shop_harness import MODULE, REPO, TOPOLOGIES, ShopHarness, connect_rest  # noqa: E402

from streamapp.settings import Settings  # noqa: E402
from streamapp.transform.loader import load_topologies  # noqa: E402

ALL_SINKS = ("clickhouse", "postgres", "redis")
FILTER = (
    "\ntopology = dataclasses.replace(topology, sinks=[s for s in _sinks if s.kind in {kinds!r}])\n"
)


def _via(url: str, port: int) -> str:
    """``url`` with its port replaced (host stays loopback)."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = netloc[-1].rsplit(":", 1)[0]
    new = f"{host}:{port}" if len(netloc) == 1 else f"{netloc[0]}@{host}:{port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=new))


def _port(url: str, default: int) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default


class ChaosEnv:
    """Everything of one case (see the module docstring); ``close`` removes it all."""

    def __init__(
        self,
        settings: Settings,
        name: str,
        folder: Path,
        *,
        sinks: Sequence[str] = ALL_SINKS,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.name = name
        self.folder = folder
        self.sinks = tuple(sinks)
        self.shop = ShopHarness(settings, name, "avro", folder)
        self.proxies = {
            "postgres": TcpProxy(*_port(settings.warehouse_dsn, 5432), name=f"{name}-pg"),
            "redis": TcpProxy(*_port(settings.redis_url, 6379), name=f"{name}-redis"),
        }
        self.workers = Workers(self.worker_env, folder)
        self.generator: Generator | None = None
        self.topics = [self.shop.topic(t) for t in TOPOLOGIES]
        self.watch = Watch(
            settings.kafka_bootstrap,
            name,
            self.topics,
            pids=self.workers.pids,
            tick=self.workers.supervise,
        )
        self.workers.before_kill = self.watch.sample_rss
        self.workers.mark = self.mark
        self.notes: list[str] = []
        self.baseline: dict[tuple[str, int], int] = {}
        self.poison: dict[tuple[str, int, int], str] = {}  # where each poison record landed
        self._t0 = time.monotonic()

    def mark(self, what: str) -> None:
        """One line in <folder>/timeline.txt: seconds since the case began, and what happened."""
        with open(self.folder / "timeline.txt", "a") as fh:
            fh.write(f"{time.monotonic() - self._t0:7.1f}s  {what}\n")

    # -- environments -----------------------------------------------------------------------------
    def cli_env(self) -> dict[str, str]:
        """For reconcile and other CLI runs: the case's topologies, group and chDB, direct DSNs."""
        return self.shop.env

    def worker_env(self) -> dict[str, str]:
        """The worker's: sinks behind the proxies, no web port (several run on one host)."""
        s = self.settings
        return dict(
            self.shop.env,
            STREAMAPP_WAREHOUSE_DSN=_via(s.warehouse_dsn, self.proxies["postgres"].port),
            STREAMAPP_REDIS_URL=_via(s.redis_url, self.proxies["redis"].port),
            STREAMAPP_WEB_PORT="0",
            STREAMAPP_LOG_LEVEL="INFO",
        )

    # -- set-up -----------------------------------------------------------------------------------
    def write_topologies(self) -> None:
        """Copies of topologies/customers.py and orders.py on the case's names and sinks."""
        folder = self.folder / "topologies"
        folder.mkdir(exist_ok=True)
        for base in TOPOLOGIES:
            text = MODULE.format(
                base=base,
                path=str(REPO / "topologies" / f"{base}.py"),
                name=self.name,
                topic=self.shop.topic(base),
            )
            if self.sinks != ALL_SINKS:
                text += FILTER.format(kinds=list(self.sinks))
            (folder / f"{self.name}_{base}.py").write_text(text)
        compiled = load_topologies(
            folder,
            secrets=self.settings.mask_secrets(),
            schemas_dir=self.settings.path(self.settings.schemas_dir),
        )
        self.shop.topologies = {t.name.rsplit("_", 1)[1]: t for t in compiled}

    def setup(self, admin: Any, *, customers: int = 20, orders: int = 40) -> None:
        """Schema with rows, topics, proxies, one worker, the connector; returns once the
        snapshot is stored and committed."""
        self.shop.create_schema()
        self.write_topologies()
        self.shop.workload(seed=7).populate(customers, orders)
        self.shop.create_topics(admin)
        for proxy in self.proxies.values():
            proxy.start()
        self.workers.start()
        self.watch.start()
        self.shop.register_connector()
        self.mark("connector RUNNING")
        wanted = customers + orders
        deadline = time.monotonic() + 180
        while True:
            ends = self.watch.ends()
            if sum(ends.values()) >= wanted:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the snapshot did not reach the topics: {sum(ends.values())}")
            time.sleep(0.5)
        if self.watch.wait_covered(ends, 180) is None:
            raise RuntimeError(
                "the worker did not store the snapshot within 180 s\n" + self.worker_tail()
            )
        self.baseline = ends
        self.mark(f"snapshot of {sum(ends.values())} events stored")

    def start_generator(self, rate: float, seed: int) -> None:
        self.generator = Generator(self.name, rate, seed, self.folder / "generator.log")
        self.generator.start()
        self.mark(f"generator started ({rate:g} changes/s)")

    # -- the end of a case ------------------------------------------------------------------------
    def drain(self, timeout: float = 180.0) -> bool:
        """Stop the generator, wait until Debezium has streamed everything (its slot confirmed
        the WAL position at the stop) and the group committed every change; False if late."""
        if self.generator is not None:
            problem = self.generator.stop()
            if problem:
                self.notes.append(problem)
        self.mark("generator stopped")
        lsn = self.shop.source.execute("SELECT pg_current_wal_lsn() AS l").fetchone()["l"]
        deadline = time.monotonic() + timeout
        while not self._slot_at(lsn):
            self.repair_connector()
            if time.monotonic() > deadline:
                self.notes.append(
                    f"Debezium did not confirm the WAL position within {timeout:.0f}s"
                )
                return False
            time.sleep(1.0)
        self.mark(f"Debezium confirmed WAL {lsn}")
        ends = self.watch.ends()
        took = self.watch.wait_covered(ends, max(10.0, deadline - time.monotonic()))
        if took is None:
            last = self.watch.last
            self.notes.append(f"not drained: lag {last.lag if last else '?'} after {timeout:.0f}s")
            return False
        self.mark(f"drained: {sum(ends.values())} events committed")
        return True

    def _slot_at(self, lsn: Any) -> bool:
        row = self.shop.source.execute(
            "SELECT confirmed_flush_lsn >= %s::pg_lsn AS ok FROM pg_replication_slots "
            "WHERE slot_name = %s",
            (str(lsn), self.name),
        ).fetchone()
        return bool(row and row["ok"])

    def repair_connector(self) -> None:
        """A FAILED connector task is restarted (an operator would); noted once per failure."""
        try:
            status = connect_rest("GET", f"/connectors/{self.name}/status", timeout=5)
        except Exception:  # noqa: BLE001 - Connect restarting: try again later
            return
        failed = [t for t in status.get("tasks", []) if t.get("state") == "FAILED"]
        if failed or status.get("connector", {}).get("state") == "FAILED":
            trace = str(failed[0].get("trace") or "") if failed else ""
            first = (trace.splitlines() or ["no trace"])[0][:200]
            self.mark(f"connector FAILED ({first}): restarting it")
            note = f"connector task FAILED ({first}); restarted"
            if note not in self.notes:
                self.notes.append(note)
            connect_rest(
                "POST", f"/connectors/{self.name}/restart?includeTasks=true&onlyFailed=true"
            )

    def events(self) -> int:
        """Change-topic records that arrived since the set-up (poison included)."""
        ends = self.watch.ends()
        return sum(ends.values()) - sum(self.baseline.values())

    def reconcile(self, base: str) -> subprocess.CompletedProcess[str]:
        """`streamapp reconcile <topology> --slot <name>` as a user runs it (workers stopped)."""
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "streamapp",
                "reconcile",
                f"{self.name}_{base}",
                "--slot",
                self.name,
            ],
            env=self.cli_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        (self.folder / f"reconcile_{base}.txt").write_text(done.stdout + done.stderr)
        return done

    def dlq_topics(self) -> list[str]:
        return [t.dlq_topic for t in self.shop.topologies.values()]

    def worker_tail(self, lines: int = 30) -> str:
        from chaos_workers import tail

        return "\n".join(f"--- {w.log}\n{tail(w.log, lines)}" for w in self.workers.slots)

    def close(self, admin: Any, redis_client: Any) -> list[str]:
        """Stop every process and remove everything the case created; the problems met."""
        problems = []
        if self.generator is not None:
            self.generator.stop()
        problems += self.workers.stop_all()
        self.watch.stop()
        for proxy in self.proxies.values():
            proxy.close()
        try:
            self.shop.close(admin, redis_client)
        except AssertionError as exc:
            problems.append(str(exc))
        try:
            for fut in admin.delete_consumer_groups([self.name]).values():
                fut.result(30)
        except Exception as exc:  # noqa: BLE001 - a group that never committed does not exist
            if "GROUP_ID_NOT_FOUND" not in str(exc):
                problems.append(f"deleting group {self.name}: {exc}")
        return problems


def healthy_connectors() -> set[str]:
    """The Connect cluster's connectors whose connector and tasks are all RUNNING now."""
    found = connect_rest("GET", "/connectors?expand=status", timeout=10) or {}
    out = set()
    for name, info in found.items():
        status = info.get("status", {})
        states = [status.get("connector", {}).get("state")]
        states += [t.get("state") for t in status.get("tasks", [])]
        if all(s == "RUNNING" for s in states):
            out.add(name)
    return out


def heal_connectors(before: set[str], timeout: float = 120.0) -> tuple[list[str], list[str]]:
    """Restart the failed tasks of connectors that were healthy ``before`` a stack fault (the
    user's ``shop`` connector too: the run leaves the stack as it found it); returns the
    connectors restarted and those still not healthy after ``timeout``."""
    deadline = time.monotonic() + timeout
    healed: list[str] = []
    while True:
        try:
            broken = sorted(before - healthy_connectors())
        except Exception:  # noqa: BLE001 - Connect still starting
            broken = sorted(before)
        if not broken or time.monotonic() > deadline:
            return healed, broken
        for name in broken:
            try:
                status = connect_rest("GET", f"/connectors/{name}/status", timeout=5)
            except Exception:  # noqa: BLE001 - Connect still starting
                continue
            if any(t.get("state") == "FAILED" for t in status.get("tasks", [])):
                connect_rest(
                    "POST", f"/connectors/{name}/restart?includeTasks=true&onlyFailed=true"
                )
                if name not in healed:
                    healed.append(name)
        time.sleep(1.0)


def stack_service(command: str, service: str, log: Path) -> float:
    """`python3 infra/local/stack <up|down> <service>` on the stack the settings point at;
    returns the seconds it took. Same env, so the same ports and state directory."""
    started = time.monotonic()
    with open(log, "ab") as out:
        subprocess.run(
            [sys.executable, str(REPO / "infra/local/stack"), command, service],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
            env=dict(os.environ),
            timeout=600,
        )
    return time.monotonic() - started
