"""The one screen `streamapp status` prints, from gathered data (no I/O here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from streamapp.ops.dlqshow import table
from streamapp.ops.kafka import GroupInfo
from streamapp.ops.parse import format_age, format_ms
from streamapp.ops.status import SinkCommit, SinkHealth, TopologyStatus


def render_status(
    group_id: str,
    group: GroupInfo | None,
    statuses: Sequence[TopologyStatus],
    health: Mapping[str, SinkHealth],
    now_ms: int,
) -> list[str]:
    """Header (time, group), then a block per topology: partitions with committed offset,
    end offset and lag (a GAP line when a committed offset fell out of retention); DLQ depth;
    its sinks' health; the last applied time; the newest gaps and (re-)snapshots that workers
    noted in the healing log."""
    who = group.describe() if group is not None else "cannot be described (Kafka unreachable?)"
    lines = [f"streamapp status at {format_ms(now_ms)}", f"group {group_id!r}: {who}"]
    for st in statuses:
        top = st.topology
        output = top.output_topic or "(no output topic)"
        lines += ["", f"{top.name}: {', '.join(top.source_topics)} -> {output}"]
        if st.problem is not None:
            lines.append(f"  problem       {st.problem}")
        if st.partitions:
            rows = [("partition", "committed", "end", "lag")]
            for p in st.partitions:
                committed = "-" if p.committed is None else str(p.committed)
                rows.append((f"{p.topic}[{p.partition}]", committed, str(p.end), str(p.lag)))
            rows.append(("total", "", "", str(sum(p.lag for p in st.partitions))))
            lines += ["  " + line for line in table(rows, frozenset({1, 2, 3}))]
            for p in st.partitions:
                if p.gap:
                    lines.append(
                        f"  GAP           {p.topic}[{p.partition}]: committed offset "
                        f"{p.committed:,} is below the first available {p.low:,}: {p.gap:,} "
                        f"event(s) deleted before they were consumed (on_gap="
                        f"{top.topology.on_gap!r} acts when a worker reads it)"
                    )
        lines.append(f"  dlq           {_dlq(st)}")
        width = max((len(str(s)) for s in top.sinks), default=0)
        commits = {c.target: c for c in st.commits}
        sinks = [
            _sink(f"{s!s:<{width}}", health.get(s.kind)) + _commit(commits.get(str(s)), now_ms)
            for s in top.sinks
        ] or ["none"]
        lines.append(f"  sinks         {sinks[0]}")
        lines += [f"                {line}" for line in sinks[1:]]
        applied = _ago(st.last_applied_ms, now_ms)
        if top.output_topic is None:  # the last applied time is read from the output topic
            applied = "unknown (read from the output topic; this topology has none)"
        lines.append(f"  last applied  {applied}")
        for i, event in enumerate(st.healing):
            label = "healing" if i == 0 else ""
            lines.append(f"  {label:<13} {format_ms(event.at_ms)}  {event.kind}: {event.text}")
    return lines


def _dlq(st: TopologyStatus) -> str:
    if not st.dlq.exists:
        return f"{st.dlq.topic}: empty (topic not created yet)"
    depth, replayed = st.dlq.depth, st.dlq.replayed
    return f"{st.dlq.topic}: {depth} record(s), {replayed} replayed, {depth - replayed} pending"


def _sink(target: str, health: SinkHealth | None) -> str:
    if health is None:
        return f"{target} not checked"
    detail = f"  {health.detail}" if health.state != "ok" else ""
    return f"{target}  {health.state:<4} {health.millis:>5.0f} ms{detail}"


def _commit(commit: SinkCommit | None, now_ms: int) -> str:
    """A durable-later sink's newest commit, after its health (empty for other sinks)."""
    if commit is None:
        return ""
    if commit.problem is not None:
        return f"  last commit unknown ({commit.problem})"
    if commit.at_ms is None:
        return "  last commit none yet"
    age = format_age((now_ms - commit.at_ms) / 1000)
    return f"  last commit {format_ms(commit.at_ms)} ({age} ago)"


def _ago(ms: int | None, now_ms: int) -> str:
    if ms is None:
        return "never (no record on the output topic)"
    return f"{format_ms(ms)} ({format_age((now_ms - ms) / 1000)} ago)"


def exit_code(statuses: Sequence[TopologyStatus], health: Mapping[str, SinkHealth]) -> int:
    """1 when a sink failed its round trip or a topology could not be read, else 0."""
    failed = any(h.state == "FAIL" for h in health.values())
    return 1 if failed or any(st.problem for st in statuses) else 0
