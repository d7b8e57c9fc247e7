"""The chaos cases: each injects one kind of fault while the generator and Debezium run.

A case gets its own ChaosEnv (schema, connector, topics, group, sinks), one worker that has
stored the snapshot, and the generator running. Its script injects the fault, and says when the
fault ended; the *recovery* is the time from then until the group has committed every change
that was in the topics at that moment (so it includes the commit interval). Then the run drains
(generator stopped, Debezium caught up, lag 0), stops the workers and judges the case with
`streamapp reconcile` on every sink and the DLQ topics read back (see chaos_check).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos_env import ALL_SINKS, ChaosEnv, heal_connectors, healthy_connectors, stack_service
from chaos_watch import QuietKafka

from streamapp.settings import Settings

RECOVERY_BOUND = 240.0  # seconds after a fault's end before a case counts as not recovered


@dataclass
class Context:
    """What every case of one run shares."""

    settings: Settings
    admin: Any
    redis: Any
    folder: Path
    rng: random.Random
    rate: float = 25.0
    kills: int = 10
    outage: float = 30.0
    rss_bound_mib: float = 1024.0
    say: Callable[[str], None] = print


@dataclass
class Result:
    """One row of the table, and the notes that explain it."""

    case: str
    fault: str
    rss_bound_mib: float
    events: int | None = None
    lost: int | None = None
    duplicated: int | None = None
    in_dlq: int | None = None
    expected_dlq: int = 0
    dlq_exact: bool = True  # every poison record in the DLQ exactly once, nothing else
    peak_rss_mib: float = 0.0
    recovery_s: float | None = None
    drained: bool = False
    error: bool = False
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return (
            not self.error
            and self.drained
            and self.lost == 0
            and self.duplicated == 0
            and self.in_dlq == self.expected_dlq
            and self.dlq_exact
            and self.recovery_s is not None
            and self.peak_rss_mib <= self.rss_bound_mib
        )

    def reasons(self) -> list[str]:
        """Why the case failed, one short phrase per broken criterion."""
        out = []
        if self.error:
            out.append("the harness could not finish the case")
        if not self.drained:
            out.append("not drained")
        if self.lost != 0:
            out.append(f"lost {self.lost if self.lost is not None else 'unknown'}")
        if self.duplicated != 0:
            out.append(
                f"duplicated {self.duplicated if self.duplicated is not None else 'unknown'}"
            )
        if self.in_dlq != self.expected_dlq or not self.dlq_exact:
            out.append(f"DLQ {self.in_dlq} vs {self.expected_dlq} expected")
        if self.recovery_s is None:
            out.append(f"no recovery within {RECOVERY_BOUND:.0f}s")
        if self.peak_rss_mib > self.rss_bound_mib:
            out.append(f"peak RSS {self.peak_rss_mib:.0f} MiB > {self.rss_bound_mib:.0f} MiB")
        return out


Script = Callable[[ChaosEnv, Context, Result], None]


@dataclass(frozen=True)
class Case:
    key: str
    fault: str
    script: Script
    sinks: tuple[str, ...] = ALL_SINKS


# -- helpers the scripts share ---------------------------------------------------------------------
def under_load(env: ChaosEnv, events: int = 40, timeout: float = 60.0) -> None:
    """Wait until the generator's changes flow (``events`` more in the change topics)."""
    start = sum(env.watch.ends().values())
    deadline = time.monotonic() + timeout
    while sum(env.watch.ends().values()) - start < events:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"fewer than {events} change events in {timeout:.0f}s: is Debezium up?"
            )
        time.sleep(0.25)


def recover(env: ChaosEnv, result: Result) -> None:
    """The fault has just ended: time until everything in the topics now is committed and every
    partition that got more since is consumed again (see Offsets.flowing)."""
    ended = time.monotonic()
    env.mark("fault ended")
    targets = env.watch.ends(timeout=RECOVERY_BOUND)
    left = RECOVERY_BOUND - (time.monotonic() - ended)
    if env.watch.wait_covered(targets, left, flowing=True) is not None:
        result.recovery_s = time.monotonic() - ended
        env.mark(f"recovered in {result.recovery_s:.1f}s")
    else:
        last = env.watch.last
        env.notes.append(
            f"lag {last.lag if last else '?'} still {RECOVERY_BOUND:.0f}s after the fault ended"
        )


def wait_members(env: ChaosEnv, count: int, timeout: float = 120.0) -> float:
    """Seconds until the case's group is Stable with ``count`` members holding partitions."""
    kafka = QuietKafka(env.settings, timeout=5.0)
    started = time.monotonic()
    try:
        while True:
            try:
                g = kafka.group(env.name)
                holding = [m for m in g.members if m.partitions]
                if g.state == "Stable" and len(g.members) == count == len(holding):
                    return time.monotonic() - started
            except Exception:  # noqa: BLE001 - the group is rebalancing or Kafka is busy
                pass
            if time.monotonic() - started > timeout:
                raise RuntimeError(
                    f"the group did not settle on {count} member(s) in {timeout:.0f}s"
                )
            time.sleep(0.5)
    finally:
        kafka.close()


# -- the scripts -----------------------------------------------------------------------------------
def sigkill(env: ChaosEnv, ctx: Context, result: Result) -> None:
    """SIGKILL the worker at random moments (some in its start-up), restart it at once."""
    under_load(env)
    env.mark("under load")
    moments = []
    for _ in range(ctx.kills):
        pause = ctx.rng.uniform(0.5, 8.0)
        moments.append(f"{pause:.1f}")
        time.sleep(pause)  # the random moment of the next kill, not a synchronisation
        env.workers.kill(0)
        env.workers.start(0)
    env.notes.append(f"killed after {', '.join(moments)} s of each run")
    recover(env, result)


def sink_outage(kind: str, mode: str) -> Script:
    def script(env: ChaosEnv, ctx: Context, result: Result) -> None:
        under_load(env)
        env.mark(f"{kind} cut ({mode})")
        env.proxies[kind].cut(mode)
        time.sleep(ctx.outage)  # the outage's length
        env.proxies[kind].restore()
        recover(env, result)

    return script


def registry_down(env: ChaosEnv, ctx: Context, result: Result) -> None:
    """The registry stops. Right away valid records arrive under a schema id the running
    worker has not seen (it must wait for the registry, not DLQ them); a third into the
    outage the worker is restarted (a rollout), so it starts with nothing cached."""
    from chaos_inject import cold_schema

    under_load(env)
    connectors = healthy_connectors()
    cold = cold_schema(env)
    log = env.folder / "stack.log"
    env.mark("registry: stack down")
    stack_service("down", "registry", log)
    down_at = time.monotonic()
    env.notes.append(f"{cold()} valid records under a schema id first seen in the outage")
    env.mark("records under a new schema id produced")
    time.sleep(ctx.outage / 3)
    problem = env.workers.stop(0)
    if problem:
        env.notes.append(problem)
    env.workers.start(0)
    time.sleep(max(0.0, ctx.outage - (time.monotonic() - down_at)))
    took = stack_service("up", "registry", log)
    env.notes.append(f"registry down {time.monotonic() - down_at:.0f}s (restart {took:.0f}s)")
    recover(env, result)
    _heal(env, connectors)


def _heal(env: ChaosEnv, connectors: set[str]) -> None:
    """Restart the connectors a stack fault failed (the case's own included) and say so."""
    healed, broken = heal_connectors(connectors)
    if healed:
        env.notes.append(f"connector task(s) FAILED by the fault, restarted: {', '.join(healed)}")
        env.mark(f"connectors restarted: {', '.join(healed)}")
    if broken:
        env.notes.append(f"connector(s) still not RUNNING 120 s after the fault: {broken}")


def restart_service(service: str) -> Script:
    def script(env: ChaosEnv, ctx: Context, result: Result) -> None:
        under_load(env)
        connectors = healthy_connectors()
        log = env.folder / "stack.log"
        started = time.monotonic()
        env.mark(f"{service}: stack down")
        stack_service("down", service, log)
        env.mark(f"{service}: stack up")
        stack_service("up", service, log)
        env.notes.append(f"{service} away {time.monotonic() - started:.0f}s")
        recover(env, result)
        _heal(env, connectors)

    return script


def replicas(env: ChaosEnv, ctx: Context, result: Result) -> None:
    """Two more workers join under load; one leaves with SIGTERM, the other with SIGKILL."""
    under_load(env)
    env.workers.start()
    env.workers.start()
    joined = wait_members(env, 3)
    under_load(env, 60)
    problem = env.workers.stop(1)
    if problem:
        env.notes.append(problem)
    settled = wait_members(env, 2)
    env.workers.kill(2)
    env.notes.append(f"3 members after {joined:.0f}s, 2 after a SIGTERM {settled:.0f}s")
    recover(env, result)


def poison(env: ChaosEnv, ctx: Context, result: Result) -> None:
    """Every poison kind once, produced to the change topics between the real events."""
    from chaos_inject import inject

    under_load(env)
    env.mark("producing poison")
    sent = inject(env, ctx.rng)
    result.expected_dlq = len(sent)
    env.poison = sent
    recover(env, result)


def full_cases() -> list[Case]:
    return [
        Case("sigkill", "SIGKILL the worker x10 at random moments", sigkill),
        Case(
            "pg-down",
            "PostgreSQL sink unreachable 30 s (refused)",
            sink_outage("postgres", "refuse"),
        ),
        Case(
            "redis-down", "Redis unreachable 30 s (black hole)", sink_outage("redis", "blackhole")
        ),
        Case("registry-down", "schema registry down 30 s, worker restarted in it", registry_down),
        Case("kafka-restart", "Kafka broker restarted", restart_service("kafka")),
        Case("connect-restart", "Kafka Connect restarted", restart_service("connect")),
        Case(
            "replicas",
            "2 replicas join and leave under load (PG + Redis)",
            replicas,
            ("postgres", "redis"),
        ),
        Case("poison", "poison records, every kind once", poison),
    ]


def short_cases() -> list[Case]:
    return [
        Case("sigkill", "SIGKILL the worker x2 at random moments", sigkill),
        Case("redis-down", "Redis unreachable 10 s (refused)", sink_outage("redis", "refuse")),
        Case("poison", "poison records, every kind once", poison),
    ]
