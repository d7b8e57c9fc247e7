"""Which offsets of one DLQ partition were replayed: a committed offset plus ranges above it.

Stored as a consumer-group commit: the offset says "everything below was replayed", the
commit's metadata string lists replayed ranges above it (``"12-15,20"``, inclusive), so a
filtered ``dlq replay`` (by exception or age) never replays a record twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

MAX_METADATA: Final = 3500
"""Longest metadata text written (brokers accept 4096 bytes by default)."""


@dataclass(frozen=True, slots=True)
class Done:
    """Replayed offsets: all below ``committed``, plus the half-open ``ranges`` above it.

    Guarantees: ``ranges`` are sorted, disjoint, non-adjacent, non-empty and start above
    ``committed`` (so the first range never touches ``committed``: it would have advanced it).
    """

    committed: int = 0
    ranges: tuple[tuple[int, int], ...] = ()

    def __contains__(self, offset: int) -> bool:
        if offset < self.committed:
            return True
        return any(start <= offset < stop for start, stop in self.ranges)

    def add(self, offsets: Iterable[int]) -> Done:
        """These offsets marked replayed too; ``committed`` advances over contiguous ones."""
        return self._with([(o, o + 1) for o in offsets])

    def _with(self, spans: Iterable[tuple[int, int]]) -> Done:
        merged: list[list[int]] = []
        for start, stop in sorted([*self.ranges, *spans]):
            if stop <= start:
                continue
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], stop)
            else:
                merged.append([start, stop])
        committed = self.committed
        while merged and merged[0][0] <= committed:
            committed = max(committed, merged.pop(0)[1])
        return Done(committed, tuple((a, b) for a, b in merged))

    def count(self, low: int, end: int) -> int:
        """How many offsets in ``[low, end)`` are replayed."""
        total = max(0, min(self.committed, end) - low)
        for start, stop in self.ranges:
            total += max(0, min(stop, end) - max(start, low))
        return total

    def metadata(self) -> str:
        """The ranges as commit metadata; ValueError when too long for a broker to keep."""
        text = ",".join(f"{a}-{b - 1}" if b - a > 1 else str(a) for a, b in self.ranges)
        if len(text) > MAX_METADATA:
            raise ValueError(
                f"{len(self.ranges)} separate replayed ranges are too many to track; "
                "replay the remaining records without filters"
            )
        return text

    @classmethod
    def parse(cls, committed: int | None, metadata: str, *, low: int = 0) -> Done:
        """The state a commit holds; an offset below ``low`` counts as replayed (it is gone).

        Unreadable metadata is ignored (ranges above the committed offset are then replayed
        again: the sinks are idempotent, only the DLQ may receive a record twice).
        """
        start = max(committed if committed is not None else 0, low)
        spans: list[tuple[int, int]] = []
        try:
            for part in filter(None, metadata.split(",")):
                a, _, b = part.partition("-")
                spans.append((int(a), int(b or a) + 1))
        except ValueError:
            spans = []
        return cls(start)._with(spans)
