"""`streamapp reconcile --repair`: reconcile, re-snapshot what differs, tombstone strays, re-verify.

Each round starts from a reconcile pass that logs every differing key per sink (keys only, on
disk: ``merge.Diffs``). Keys missing from a sink or differing in it are re-read from the source
by Debezium (incremental snapshots filtered to those keys: ``ops.snapshotkeys``); the rows flow
through the topology's topic like any change and the versioned sinks keep the newest. Rows a
sink holds that the source does not produce (*strays*) get a tombstone through the sink's own
delete path (``tombstones``), but only once two consecutive passes found the same key with the
same stored version: a row in the sink whose transaction committed while the first pass's
source snapshot was taken looks stray to that pass only, and is left alone. Then the rows are
applied (``applied``: the running worker, or this process when the group has no member) and the
next pass verifies; the loop ends on MATCH or after ``max_rounds`` rounds.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamapp.ops import OpsError
from streamapp.reconcile.applied import apply_here, consumers, wait_for_worker
from streamapp.reconcile.merge import OK, Tally
from streamapp.reconcile.report import exit_code
from streamapp.reconcile.run import Options, Result, reconcile
from streamapp.reconcile.tombstones import Stray, write_tombstones
from streamapp.settings import Settings
from streamapp.transform.compile import CompiledTopology

Out = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class RepairOptions:
    """``--connector``, ``--dry-run``, ``--max-rounds`` and the wait bound per step."""

    connector: str = "shop"
    dry_run: bool = False
    max_rounds: int = 3
    timeout: float = 600.0


@dataclass(slots=True)
class SinkWork:
    """What repair did for one sink over all rounds."""

    resnapped: int = 0
    tombstones: int = 0
    unconfirmed: int = 0


@dataclass(slots=True)
class Repair:
    """The outcome: rounds run, signals sent, rows re-delivered, per-sink work, last pass."""

    rounds: int = 0
    signals: int = 0
    rows: int = 0
    applied_here: int = 0
    work: dict[str, SinkWork] = field(default_factory=dict)
    result: Result | None = None


def _union(tallies: Sequence[Tally]) -> Iterator[tuple[Any, ...]]:
    """Source keys to re-read, over every sink: ascending and distinct."""
    logs = [t.diffs.resnap.sorted_keys() for t in tallies if t.diffs is not None]
    last = None
    for key in heapq.merge(*logs):
        if key != last:
            last = key
            yield key


def confirmed(before: Tally | None, now: Tally) -> Iterator[Stray]:
    """Strays of ``now`` that ``before`` (the previous pass) found too, same stored version."""
    if before is None or before.diffs is None or now.diffs is None:
        return
    old = before.diffs.strays.entries()
    head = next(old, None)
    for key, stored in now.diffs.strays.entries():
        while head is not None and head[0] < key:
            head = next(old, None)
        if head is not None and head[0] == key and head[1] == stored:
            yield stored


def confirmed_strays(previous: Result | None, result: Result) -> dict[str, list[Stray]]:
    """Per sink of ``result`` (passes with ``Options.diffs``): its strays that the previous
    pass found too with the same stored version (see :func:`confirmed`); the tombstone list
    of ``reconcile --repair`` and of the worker's sweep after a gap snapshot."""
    before = {t.sink: t for t in (previous.tallies if previous else [])}
    return {t.sink: list(confirmed(before.get(t.sink), t)) for t in result.tallies}


def _count(it: Iterator[Any]) -> int:
    return sum(1 for _ in it)


def run_repair(
    settings: Settings,
    topology: CompiledTopology,
    options: Options,
    repair: RepairOptions,
    out: Out = print,
    *,
    siblings: Sequence[CompiledTopology] = (),
) -> Repair:
    """Repair ``topology``'s sinks (see the module doc); ``siblings``: the other loaded
    topologies (one reading the same topic forbids applying in this process). The last pass is
    in ``Repair.result``; the caller closes it."""
    from streamapp.ops.snapshotkeys import Connector, key_signals, send_and_follow

    opts = Options(
        options.table, options.tolerance, options.kinds, options.slot, options.chunk_rows, True
    )
    done = Repair()
    who = consumers(settings, topology)
    shared = [s.name for s in siblings if set(s.source_topics) & set(topology.source_topics)]
    if who.others:
        raise OpsError(
            f"group {who.group!r} has members ({who.described}) but none consumes "
            f"{', '.join(topology.source_topics)}; start a worker that loads {topology.name!r}"
        )
    if not who.running and shared and not repair.dry_run:
        raise OpsError(
            f"no worker runs and topologies {', '.join(shared)} read the same topic; start the "
            "worker (repair cannot apply the snapshot for one topology of a shared topic)"
        )
    connector = Connector(settings, repair.connector)
    where = "the running worker" if who.running else "this process (no worker in the group)"
    out(f"repair {topology.name}: snapshot rows are applied by {where}")
    previous: Result | None = None
    result = reconcile(settings, topology, opts)
    try:
        while True:
            _status(result, options.tolerance, out)
            if exit_code(result, options.tolerance) == OK or done.rounds >= repair.max_rounds:
                break
            if not result.source_key:
                raise OpsError(
                    f"source table {result.table} has no primary key and the output key is not "
                    "a source column; repair cannot name the rows to re-read"
                )
            table = str(result.table)
            connector.check_table(table)
            strays = confirmed_strays(previous, result)
            with _conn(settings, connector) as conn:
                chars = connector.data_chars(conn)
            signals = list(key_signals(table, result.source_key, _union(result.tallies), chars))
            if not signals and not any(t.extra for t in result.tallies if t.diffs is not None):
                out(_stuck(result, who.running))
                break
            done.rounds += 1
            out(f"round {done.rounds}: " + _plan(result, signals, strays, repair.dry_run))
            if repair.dry_run:
                masked = masked_key_columns(topology, result.source_key)
                for s in signals:
                    shown = (
                        f"<key values hidden: {', '.join(masked)} masked by the topology>"
                        if masked
                        else s.filter
                    )
                    out(f"  would signal {s.table} where {shown} ({s.keys:,} key(s))")
                out("dry run: nothing changed")
                break
            for tally in result.tallies:
                work = done.work.setdefault(tally.sink, SinkWork())
                if tally.diffs is not None:
                    work.resnapped += _count(tally.diffs.resnap.sorted_keys())
                    found = _count(tally.diffs.strays.sorted_keys())
                    work.unconfirmed = found - len(strays[tally.sink])
                if strays[tally.sink]:
                    spec = next(s for s in topology.sinks if str(s) == tally.sink)
                    work.tombstones += write_tombstones(
                        settings, topology, spec, strays[tally.sink]
                    )
            if signals:
                sent, rows = send_and_follow(connector, signals, timeout=repair.timeout, out=out)
                done.signals += sent
                done.rows += rows
                if who.running:
                    wait_for_worker(settings, topology, repair.timeout, out)
                else:
                    done.applied_here += apply_here(settings, topology, out)
            if previous is not None:
                previous.close()
            previous, result = result, reconcile(settings, topology, opts)
    finally:
        if previous is not None:
            previous.close()
    done.result = result
    return done


def masked_key_columns(topology: CompiledTopology, source_key: Sequence[str]) -> list[str]:
    """The source key columns the topology masks: their raw values are never printed (a
    dry-run plan shows the signal's filter only when this is empty)."""
    from streamapp.transform.fields import Rename
    from streamapp.transform.mask import Mask

    origin: dict[str, str] = {}  # current column name -> source column (through renames)
    masked: set[str] = set()
    for step in topology.topology.transforms:
        if isinstance(step, Rename):
            moved = {new: origin.get(old, old) for old, new in step.mapping}
            for old, _ in step.mapping:
                origin.pop(old, None)
            origin.update(moved)
        elif isinstance(step, Mask):
            masked.add(origin.get(step.column, step.column))
    return [c for c in source_key if c in masked]


def _conn(settings: Settings, connector: Any) -> Any:
    import psycopg

    return psycopg.connect(settings.source_dsn, dbname=connector.config.dbname, autocommit=True)


def _stuck(result: Result, worker: bool) -> str:
    """Why nothing is left to repair although the result is not MATCH (unreadable sinks)."""
    busy = [t.sink for t in result.tallies if t.state == "busy"]
    failed = [f"{t.sink} ({t.detail})" for t in result.tallies if t.state == "error"]
    text = "nothing repair can do: " + "; ".join(
        [*(f"{b} is held by the running worker" for b in busy), *failed]
    )
    if busy and worker:
        text += (
            "; stop the worker (repair then applies the re-read rows itself) or point "
            "STREAMAPP_CLICKHOUSE_DSN at a server"
        )
    return text


def _status(result: Result, tolerance: float, out: Out) -> None:
    parts = []
    for t in result.tallies:
        if t.state != "ok":
            parts.append(f"{t.sink} {t.state}")
        elif t.verdict(tolerance) == OK:
            parts.append(f"{t.sink} MATCH")
        else:
            parts.append(
                f"{t.sink} missing {t.missing:,}, differing {t.differing:,}, extra {t.extra:,}"
            )
    out("  pass: " + "; ".join(parts))


def _plan(
    result: Result, signals: Sequence[Any], strays: dict[str, list[Stray]], dry_run: bool
) -> str:
    keys = sum(s.keys for s in signals)
    text = f"re-snapshot {keys:,} key(s) of {result.table} in {len(signals)} signal(s)"
    for t in result.tallies:
        if t.diffs is None:
            continue
        found = _count(t.diffs.strays.sorted_keys())
        if found:
            sure = len(strays[t.sink])
            verb = "would get" if dry_run else "get"
            text += (
                f"; {t.sink}: {found:,} stray key(s), {sure:,} confirmed by two passes "
                f"({verb} tombstones; unconfirmed ones wait for the next pass)"
            )
    return text
