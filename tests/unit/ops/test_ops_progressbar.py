"""The replay progress bar: done/total, events/s, ETA, redrawn on one line."""

from __future__ import annotations

import io

import pytest

from streamapp.ops.progressbar import ProgressBar, bar_line


@pytest.mark.parametrize(
    ("done", "total", "elapsed", "expected"),
    [
        (0, 100, 0.0, "r [........................] 0/100  0 ev/s  ETA -"),
        (50, 100, 2.0, "r [############............] 50/100  25 ev/s  ETA 0:02"),
        (100, 100, 4.0, "r [########################] 100/100  25 ev/s  ETA 0:00"),
        (
            1_000,
            4_000_000,
            1.0,
            "r [........................] 1,000/4,000,000  1,000 ev/s  ETA 1:06:39",
        ),
        (0, 0, 0.0, "r [########################] 0/0  0 ev/s  ETA 0:00"),
        (150, 100, 1.0, "r [########################] 100/100  100 ev/s  ETA 0:00"),  # clamped
    ],
)
def test_bar_line(done: int, total: int, elapsed: float, expected: str) -> None:
    assert bar_line("r", done, total, elapsed) == expected


def test_redraws_in_place_at_most_every_interval_and_ends_the_line() -> None:
    now = [0.0]
    out = io.StringIO()
    bar = ProgressBar("replay x", 10, stream=out, interval=1.0, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 0.25
        bar.advance(1)
    bar.finish()
    text = out.getvalue()
    assert text.endswith("10/10  4 ev/s  ETA 0:00\n")
    assert "\n" not in text[:-1]  # one line, redrawn with carriage returns
    assert text.count("\r") == 4  # the first advance, every second after it, and the finish
