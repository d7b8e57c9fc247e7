"""A replay plan per partition: committed, target and end offsets, and what moving means."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from streamapp.ops.parse import Position


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    """One partition of a replay: the group resumes at ``target`` and reads up to ``stop``.

    Offsets are Kafka's: ``low`` is the first offset still stored, ``end`` the next offset to
    be written, ``committed`` the next offset the group would read (None: nothing committed),
    ``stop`` the first offset a bounded replay does not process (``end`` when unbounded).
    Guarantees ``low <= target <= stop <= end``.
    """

    topic: str
    partition: int
    low: int
    end: int
    committed: int | None
    target: int
    stop: int

    def __post_init__(self) -> None:
        if not self.low <= self.target <= self.stop <= self.end:
            raise ValueError(
                f"{self.topic}[{self.partition}]: need low <= target <= stop <= end, got "
                f"{self.low}, {self.target}, {self.stop}, {self.end}"
            )

    @property
    def events(self) -> int:
        """Offsets from ``target`` up to ``stop``: at most this many events are processed."""
        return self.stop - self.target

    @property
    def again(self) -> int:
        """Of ``events``, how many the group had already processed (0 with nothing committed)."""
        if self.committed is None:
            return 0
        return max(0, min(self.committed, self.stop) - self.target)

    @property
    def skipped(self) -> int:
        """Events between the committed offset and a later target that will not be processed."""
        if self.committed is None:
            return 0
        return max(0, self.target - max(self.committed, self.low))


def resolve(position: Position, *, low: int, end: int, by_time: int | None = None) -> int:
    """The offset ``position`` names in a partition holding offsets ``low`` .. ``end - 1``.

    ``by_time`` is Kafka's answer to offsets-for-times for a timestamp position (the first
    offset whose record time is >= the timestamp; None or negative when there is none, which
    means the end). Offsets outside the partition are clamped into ``[low, end]``.
    """
    if position.kind == "earliest":
        return low
    if position.kind == "latest":
        return end
    if position.kind == "offset":
        return min(max(position.value, low), end)
    if by_time is None or by_time < 0:
        return end
    return min(max(by_time, low), end)


def render(plans: Sequence[PartitionPlan], *, bounded: bool) -> list[str]:
    """The dry-run table: one line per partition, then a total line (``to``: ``-`` unbounded)."""
    rows = [("partition", "committed", "target", "to", "end", "events", "again")]
    for p in plans:
        committed = "-" if p.committed is None else str(p.committed)
        to = str(p.stop) if bounded else "-"
        name = f"{p.topic}[{p.partition}]"
        rows.append((name, committed, str(p.target), to, str(p.end), str(p.events), str(p.again)))
    total = (str(sum(p.events for p in plans)), str(sum(p.again for p in plans)))
    rows.append(("total", "", "", "", "", *total))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for r in rows:
        cells = [r[0].ljust(widths[0])]
        cells += [c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    return lines
