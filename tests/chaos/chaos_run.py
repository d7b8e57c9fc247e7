"""Run chaos cases one after the other and print the table (shared by run.py and the test)."""

from __future__ import annotations

import shutil
import time
import uuid

from chaos_cases import Case, Context, Result
from chaos_check import Verdict, read_dlq
from chaos_env import ChaosEnv
from chaos_poison import POISON_BASE
from shop_harness import TOPOLOGIES

HEAD = ("case", "fault", "events", "lost", "dup", "in DLQ", "exp DLQ", "peak RSS", "recovery", "")


def run_case(case: Case, ctx: Context, seed: int) -> Result:
    """Set up, inject, drain, judge and clean up one case; never raises (errors are notes)."""
    name = f"chaos_{case.key.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
    folder = ctx.folder / case.key
    result = Result(case.key, case.fault, ctx.rss_bound_mib)
    env = ChaosEnv(ctx.settings, name, folder, sinks=case.sinks)
    started = time.monotonic()
    ctx.say(f"chaos: {case.key}: {case.fault} ({name}, logs in {folder})")
    try:
        env.setup(ctx.admin)
        env.start_generator(ctx.rate, seed)
        case.script(env, ctx, result)
        result.drained = env.drain()
        result.events = env.events()
        env.watch.sample_rss()
        env.notes.extend(env.workers.stop_all())
        env.mark("workers stopped")
        judge(env, result)
        env.mark(f"judged: lost {result.lost}, duplicated {result.duplicated}, DLQ {result.in_dlq}")
    except Exception as exc:  # noqa: BLE001 - a harness failure is reported in the row
        result.error = True
        env.notes.append(f"harness: {type(exc).__name__}: {str(exc)[:400]}")
    finally:
        env.watch.sample_rss()
        result.peak_rss_mib = env.watch.peak_mib
        result.notes = env.workers.crash_notes() + env.notes
        result.notes += env.close(ctx.admin, ctx.redis)
        env.mark("cleaned up")
        shutil.rmtree(folder / "chdb", ignore_errors=True)
        result.seconds = time.monotonic() - started
    if not result.passed:
        result.notes.append(f"worker log tail:\n{env.worker_tail(12)}")
    ctx.say(f"chaos: {case.key}: {'PASS' if result.passed else 'FAIL'} in {result.seconds:.0f}s")
    return result


def judge(env: ChaosEnv, result: Result) -> None:
    """Reconcile every topology, read the DLQs back, compare them with the poison sent."""
    verdict = Verdict()
    for base in TOPOLOGIES:
        done = env.reconcile(base)
        verdict.add(base, done.returncode, done.stdout, done.stderr)
    result.lost, result.duplicated = verdict.lost, verdict.duplicated
    env.notes.extend(verdict.problems)
    stored = sorted(
        {k for ts in verdict.tallies.values() for t in ts for k in t.extra_keys if k > POISON_BASE}
    )
    if stored:
        env.notes.append(
            f"extra keys {stored[:8]} are poison ids: records one sink refused (so they went to "
            "the DLQ) that the topology's other sinks stored"
        )
    records = read_dlq(env.settings.kafka_bootstrap, env.dlq_topics())
    result.in_dlq = len(records)
    seen: dict[tuple[str, int, int], int] = {}
    stranger = []
    for r in records:
        origin = (r.topic, r.partition, r.offset)
        if origin in env.poison:
            seen[origin] = seen.get(origin, 0) + 1
        else:
            stranger.append(r)
    missing = sorted(k for o, k in env.poison.items() if o not in seen)
    twice = sorted(f"{env.poison[o]} x{n}" for o, n in seen.items() if n > 1)
    result.dlq_exact = not (missing or twice or stranger)
    if missing:
        env.notes.append(f"poison not in the DLQ ({len(missing)}): {', '.join(missing)}")
    if twice:
        env.notes.append(f"poison in the DLQ more than once: {', '.join(twice)}")
    for r in stranger[:3]:
        env.notes.append(
            f"unexpected DLQ record from {r.topic}[{r.partition}]@{r.offset}: "
            f"{r.stage} {r.exception}: {r.message[:200]}"
        )
    if len(stranger) > 3:
        env.notes.append(f"... {len(stranger) - 3} more unexpected DLQ records")
    (env.folder / "dlq.txt").write_text(
        "".join(
            f"{r.topic}[{r.partition}]@{r.offset} "
            f"{env.poison.get((r.topic, r.partition, r.offset), '-')} "
            f"{r.stage} {r.exception}: {r.message}\n"
            for r in records
        )
    )


def _num(value: float | int | None, fmt: str = "{:,}") -> str:
    return "?" if value is None else fmt.format(value)


def table(results: list[Result]) -> str:
    """The results as a fixed-width table, then each case's notes."""
    rows = [HEAD] + [
        (
            r.case,
            r.fault,
            _num(r.events),
            _num(r.lost),
            _num(r.duplicated),
            _num(r.in_dlq),
            _num(r.expected_dlq),
            f"{r.peak_rss_mib:,.0f} MiB",
            _num(r.recovery_s, "{:.1f} s"),
            "PASS" if r.passed else "FAIL",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEAD))]
    right = {2, 3, 4, 5, 6, 7, 8}
    lines = [
        "  ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    passed = sum(r.passed for r in results)
    lines.append("")
    lines.append(
        f"{passed} passed, {len(results) - passed} failed "
        f"(pass = 0 lost, 0 duplicated, DLQ == poison sent, each once, recovered, "
        f"peak RSS <= {results[0].rss_bound_mib:,.0f} MiB per worker)"
        if results
        else "no case ran"
    )
    for r in results:
        if r.notes:
            lines.append("")
            lines.append(f"{r.case}: " + ("; ".join(r.reasons()) if not r.passed else "PASS"))
            lines.extend(f"  {n}" for n in r.notes)
    return "\n".join(lines)
