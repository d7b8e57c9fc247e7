"""The one error-routing policy: a batch's per-record failures, by position -> DLQ, or stop."""

from __future__ import annotations

from collections.abc import Mapping

from streamapp.dlq.budget import ErrorBudget
from streamapp.errors import StageError


class ErrorRouting:
    """Decides, once per batch and before anything of it is committed, what failures do.

    ``route`` takes the batch's size and its failures keyed by input position (one per failed
    record, whatever the stage: decode, transform, encode or a sink's refusal) and, in record
    order: counts every outcome against the error budget (``ErrorBudgetExceeded`` when the
    failures look systemic); under ``on_error="fail"`` raises the first failure; otherwise
    returns the failures in record order for the DLQ. A raise leaves the batch uncommitted, so
    a restart re-delivers it.
    """

    __slots__ = ("budget", "fail_fast")

    def __init__(self, budget: ErrorBudget | None, *, fail_fast: bool) -> None:
        self.budget = budget
        self.fail_fast = fail_fast

    def route(self, count: int, failures: Mapping[int, StageError]) -> list[tuple[int, StageError]]:
        """The failures to dead-letter, in record order (see the class docstring)."""
        ordered = sorted(failures.items()) if failures else []
        if self.budget is not None:
            self.budget.observe_failed(count, [position for position, _ in ordered])
        if self.fail_fast and ordered:
            raise ordered[0][1]
        return ordered
