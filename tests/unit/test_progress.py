"""The progress line reports totals, a rate and latency percentiles."""

from __future__ import annotations

import re

from streamapp.observability.progress import Progress
from streamapp.pipeline import Counters


def test_progress_lines_and_summary() -> None:
    c = Counters()
    progress = Progress([("orders", c)])
    assert progress.lines()[0].startswith("orders: 0 events (0/s), 0 out, 0 to DLQ, latency -")
    c.events_in, c.records_out, c.failed = 1200, 1190, 10
    for ms in (100, 120, 900):
        c.latency.record(ms)
    line = progress.lines()[0]
    assert "1,200 events" in line and "1,190 out" in line and "10 to DLQ" in line
    p50, p99 = (int(x) for x in re.findall(r"p(?:50|99) (\d+) ms", line))
    assert 120 <= p50 <= 128  # bucket precision: within ~6%
    assert p99 == 900  # the top bucket is clamped to the largest value seen
    assert progress.summary()[0].split("(")[1].split(")")[0].endswith("/s average")
