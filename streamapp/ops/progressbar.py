"""A one-line progress bar on stderr: done/total, events/s and ETA, redrawn in place."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

WIDTH = 24


def bar_line(label: str, done: int, total: int, elapsed: float) -> str:
    """The text of the bar: ``label [#####.....] 1,200/5,000  2,345 ev/s  ETA 0:02``.

    ``done`` is clamped into ``[0, total]``; the rate is ``done / elapsed``; the ETA is ``-``
    until the rate is known, and ``0:00`` when done.
    """
    total = max(total, 0)
    done = min(max(done, 0), total)
    filled = WIDTH if total == 0 else done * WIDTH // total
    rate = done / elapsed if elapsed > 0 else 0.0
    if done >= total:
        eta = "0:00"
    elif rate > 0:
        eta = _clock((total - done) / rate)
    else:
        eta = "-"
    return (
        f"{label} [{'#' * filled}{'.' * (WIDTH - filled)}] {done:,}/{total:,}"
        f"  {rate:,.0f} ev/s  ETA {eta}"
    )


def _clock(seconds: float) -> str:
    s = int(seconds + 0.999)
    hours, rest = divmod(s, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressBar:
    """Redraws :func:`bar_line` on ``stream`` with a carriage return, at most every ``interval``
    seconds; :meth:`finish` draws the final state and ends the line."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        stream: TextIO | None = None,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self._drawn = -interval

    def restart(self) -> None:
        """Measure the rate from now on (call it when the first events arrive)."""
        self.started = self.clock()

    def advance(self, count: int) -> None:
        """Count ``count`` more events and redraw when ``interval`` has passed."""
        self.done += count
        now = self.clock()
        if now - self._drawn >= self.interval:
            self._draw(now)

    def finish(self) -> None:
        """Draw the final line and end it with a newline."""
        self._draw(self.clock())
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, now: float) -> None:
        self._drawn = now
        line = bar_line(self.label, self.done, self.total, now - self.started)
        self.stream.write("\r" + line + "\x1b[K" if self.stream.isatty() else "\r" + line)
        self.stream.flush()
