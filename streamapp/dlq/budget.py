"""Stop the worker when failures look systemic instead of draining a topic into the DLQ."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from streamapp.errors import StreamappError


class ErrorBudgetExceeded(StreamappError):
    """Too many records failed; the worker stops (offsets of the failing batch stay uncommitted)."""


@dataclass(frozen=True, slots=True)
class ErrorBudgetPolicy:
    """``max_consecutive`` failed records in a row, or more than ``max_ratio`` of the last
    ``window`` records (once at least ``window`` were seen), stop the worker."""

    max_consecutive: int = 1000
    max_ratio: float = 0.5
    window: int = 10_000


class ErrorBudget:
    """Counts outcomes per topology; ``observe`` raises ErrorBudgetExceeded past the policy."""

    def __init__(self, topology: str, dlq_topic: str, policy: ErrorBudgetPolicy) -> None:
        self.topology = topology
        self.dlq_topic = dlq_topic
        self.policy = policy
        self.consecutive = 0
        self._batches: deque[tuple[int, int]] = deque()  # (records, failed) per batch
        self._seen = 0
        self._failed = 0

    def observe(self, outcomes: list[bool]) -> None:
        """Record one batch's per-record outcomes (True = failed), in order."""
        self.observe_failed(len(outcomes), [i for i, failed in enumerate(outcomes) if failed])

    def observe_failed(self, count: int, failed: list[int]) -> None:
        """Record one batch of ``count`` records whose positions ``failed`` (ascending) failed;
        the same as ``observe`` on the outcome list, without a Python step per good record."""
        run = self.consecutive
        previous = -1
        for position in failed:
            run = run + 1 if position == previous + 1 else 1
            previous = position
            if run >= self.policy.max_consecutive:
                self.consecutive = run
                raise ErrorBudgetExceeded(
                    f"topology {self.topology}: {run} records failed in a row; "
                    "stopping instead of draining the topic into the DLQ; read the newest "
                    f"records of {self.dlq_topic} (headers say why), fix the cause, restart"
                )
        self.consecutive = run if previous == count - 1 else 0
        n, bad = count, len(failed)
        self._batches.append((n, bad))
        self._seen += n
        self._failed += bad
        while self._batches and self._seen - self._batches[0][0] >= self.policy.window:
            old_n, old_bad = self._batches.popleft()
            self._seen -= old_n
            self._failed -= old_bad
        if self._seen >= self.policy.window and self._failed > self.policy.max_ratio * self._seen:
            raise ErrorBudgetExceeded(
                f"topology {self.topology}: {self._failed} of the last {self._seen} records "
                f"failed (> {self.policy.max_ratio:.0%}); stopping; read the newest records of "
                f"{self.dlq_topic} (headers say why), fix the cause, restart"
            )
