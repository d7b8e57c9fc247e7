"""One progress line per topology: totals, rates since the last line, latency percentiles."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol


class _Counters(Protocol):
    events_in: int
    records_out: int
    failed: int

    @property
    def latency(self) -> _Histogram: ...


class _Histogram(Protocol):
    def percentile(self, p: float) -> int | None: ...


class Progress:
    """Formats ``lines()`` for named counters; rates are per second since the previous call."""

    def __init__(self, named: Sequence[tuple[str, _Counters]]) -> None:
        self.named = list(named)
        self._start = self._last = time.monotonic()
        self._seen = {name: 0 for name, _ in self.named}

    def lines(self) -> list[str]:
        """One line per topology; the rate covers the time since the previous call."""
        now = time.monotonic()
        elapsed, self._last = max(now - self._last, 1e-9), now
        out = []
        for name, c in self.named:
            rate = (c.events_in - self._seen[name]) / elapsed
            self._seen[name] = c.events_in
            out.append(self._line(name, c, f"{rate:,.0f}/s"))
        return out

    def summary(self) -> list[str]:
        """One line per topology with the average rate since this object was created."""
        elapsed = max(time.monotonic() - self._start, 1e-9)
        return [
            self._line(name, c, f"{c.events_in / elapsed:,.0f}/s average") for name, c in self.named
        ]

    @staticmethod
    def _line(name: str, c: _Counters, rate: str) -> str:
        p50, p99 = c.latency.percentile(50), c.latency.percentile(99)
        lat = f"latency p50 {p50} ms p99 {p99} ms" if p50 is not None else "latency -"
        return (
            f"{name}: {c.events_in:,} events ({rate}), {c.records_out:,} out, "
            f"{c.failed:,} to DLQ, {lat}"
        )
