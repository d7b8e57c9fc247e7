"""Text for `dlq list` and `dlq show`: a summary table, and records with decoded context.

Masked data never appears in clear: a record is shown through the *current* topology (its
masked output record), or, when the topology cannot process it, by column names only; the
raw key and after-image are never printed. Error messages are safe by contract (no values).
A sealed record (STREAMAPP_DLQ_KEY) is decoded once opened; without its key only its failure
context is shown.
"""

from __future__ import annotations

from collections.abc import Sequence

from streamapp.decode import Decoder
from streamapp.dlq import headers as h
from streamapp.errors import RegistryError, StageError
from streamapp.ops.dlqentry import DlqEntry, summarize
from streamapp.ops.dlqstore import DlqState
from streamapp.ops.parse import format_ms
from streamapp.ops.render import record_json
from streamapp.transform.compile import CompiledTopology


def table(rows: Sequence[Sequence[str]], right: frozenset[int] = frozenset()) -> list[str]:
    """Rows as aligned text columns (indexes in ``right`` right-aligned)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
    return out


def render_summary(
    topology: CompiledTopology, state: DlqState, entries: Sequence[DlqEntry], group: str
) -> list[str]:
    """`dlq list`: totals, then one line per (stage, exception class)."""
    if not state.exists:
        return [
            f"DLQ {state.topic} of topology {topology.name}: the topic does not exist yet "
            "(no record has failed)"
        ]
    replayed = [state.is_replayed(e) for e in entries]
    pending = replayed.count(False)
    head = (
        f"DLQ {state.topic} of topology {topology.name}: {len(entries)} record(s), "
        f"{len(entries) - pending} replayed, {pending} pending (replay progress: group {group!r})"
    )
    if not entries:
        return [head]
    rows = [
        ("stage", "exception", "records", "pending", "attempt", "oldest failure", "newest failure")
    ]
    for r in summarize(entries, replayed):
        counts = (str(r.count), str(r.pending), str(r.max_attempt))
        rows.append((r.stage, r.exception, *counts, format_ms(r.oldest), format_ms(r.newest)))
    return [head, *("  " + line for line in table(rows, frozenset({2, 3, 4})))]


def render_entry(
    entry: DlqEntry,
    topology: CompiledTopology,
    decoder: Decoder,
    *,
    replayed: bool,
    trace: bool = False,
) -> list[str]:
    """`dlq show`: one record's failure context and what the current topology makes of it."""
    rec = entry.record
    lines = [
        f"dlq offset {rec.offset} (partition {rec.partition}), "
        f"failed {format_ms(entry.failed_at)}, attempt {entry.attempt}, "
        f"{'replayed' if replayed else 'pending'}"
    ]
    if entry.replayable:
        lines.append(
            f"  source    {entry.topic}[{entry.partition}] offset {entry.offset}, "
            f"record time {format_ms(entry.source_timestamp)}"
        )
    else:
        lines.append(
            "  source    unknown: not written by streamapp (no __connect.errors.* headers)"
        )
    where = f" (field {entry.field})" if entry.field else ""
    lines.append(f"  failure   {entry.stage}: {entry.exception}{where}")
    lines.append(f"  message   {entry.message}")
    key = "null" if rec.key is None else f"{len(rec.key)} bytes"
    value = "null" if rec.value is None else f"{len(rec.value)} bytes"
    lines.append(f"  bytes     key {key}, value {value}")
    if entry.sealed is not None:
        lines.append(f"  sealed    {entry.sealed}")
    elif entry.replayable:
        lines += ["  " + line for line in _decoded(entry, topology, decoder)]
    if trace:
        stack = dict(rec.headers).get(h.STACKTRACE, b"")
        lines += ["  | " + line for line in stack.decode(errors="replace").splitlines()]
    return lines


def _decoded(entry: DlqEntry, topology: CompiledTopology, decoder: Decoder) -> list[str]:
    rec = entry.record
    assert entry.topic is not None
    try:
        event = decoder.decode(
            rec.key,
            rec.value,
            topic=entry.topic,
            partition=entry.partition or 0,
            offset=entry.offset or 0,
        )
    except StageError as exc:
        return [f"decoded   no: {exc}"]
    except RegistryError as exc:
        return [f"decoded   not now: the registry did not answer ({exc})"]
    row = event.after if event.after is not None else event.before
    op = event.op.value if event.op is not None else "-"
    columns = ", ".join(row) if row else "none"
    lines = [f"event     {event.kind.value}, op {op}, columns: {columns}"]
    try:
        outputs = topology.process(event)
    except StageError as exc:
        return [*lines, f"output    fails with the current topology: {type(exc).__name__}: {exc}"]
    except Exception as exc:  # noqa: BLE001 - user code: name the type, never the message
        return [*lines, f"output    fails with the current topology: {type(exc).__name__}"]
    if not outputs:
        return [*lines, "output    none (filtered out, or not a data event)"]
    return lines + [f"output    {record_json(topology, out)}" for out in outputs]
