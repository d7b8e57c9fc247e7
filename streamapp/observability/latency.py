"""A bounded latency histogram: log-spaced buckets, percentiles without keeping samples."""

from __future__ import annotations

import math
from collections import Counter

# Buckets grow by ~6% (12 per doubling): a percentile is exact to within that factor (+-1 ms
# from rounding the bound to whole milliseconds).
_PER_DOUBLING = 12
_BUCKETS = 12 * 32  # up to 2**32 ms (~50 days); later values land in the last bucket


class LatencyHistogram:
    """Counts millisecond latencies; memory is fixed (a few KiB) however many are recorded."""

    __slots__ = ("count", "counts", "max_ms")

    def __init__(self) -> None:
        self.counts = [0] * (_BUCKETS + 1)
        self.count = 0
        self.max_ms = 0

    @staticmethod
    def _bucket(ms: int) -> int:
        if ms <= 1:
            return 0
        return min(_BUCKETS, int(math.log2(ms) * _PER_DOUBLING) + 1)

    def record(self, ms: int) -> None:
        ms = max(ms, 0)
        self.counts[self._bucket(ms)] += 1
        self.count += 1
        if ms > self.max_ms:
            self.max_ms = ms

    def record_many(self, now_ms: int, source_ts: list[int]) -> None:
        """Record ``now_ms - ts`` for each source timestamp of a batch (equal timestamps, the
        common case within one batch, are bucketed once)."""
        counts = self.counts
        for ts, n in Counter(source_ts).items():
            ms = max(now_ms - ts, 0)
            counts[self._bucket(ms)] += n
            if ms > self.max_ms:
                self.max_ms = ms
        self.count += len(source_ts)

    def percentile(self, p: float) -> int | None:
        """The latency (ms) at percentile ``p`` (0-100), or None when nothing was recorded."""
        if not self.count:
            return None
        rank = max(1, math.ceil(self.count * p / 100))
        seen = 0
        for bucket, n in enumerate(self.counts):
            seen += n
            if seen >= rank:
                if bucket == 0:
                    return 1
                upper = 2 ** (bucket / _PER_DOUBLING)
                return min(round(upper), self.max_ms)
        return self.max_ms
