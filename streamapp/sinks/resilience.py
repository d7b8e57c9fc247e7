"""Retry with exponential backoff and full jitter, and a circuit breaker per sink.

Only ``SinkError(retriable=True)`` is retried or counted against the breaker: a content or
configuration failure says nothing about the health of the service. The breaker's cool-down
starts short and doubles with every failed probe, so a brief outage (a restart) costs seconds
and a long one is not hammered. Clocks, sleeps and the random source are injectable so tests
run on a fake clock without sleeping.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from streamapp.errors import ConfigError, SinkError

T = TypeVar("T")

log = logging.getLogger("streamapp.sinks")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries in all; before try n+1 sleep uniform(0, min(max_delay, base * 2**n))."""

    attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ConfigError("RetryPolicy needs attempts >= 1 and 0 <= base_delay <= max_delay")

    def backoff(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """The full-jitter delay after ``failures`` consecutive failures (1 for the first)."""
        cap = min(self.max_delay, self.base_delay * (1 << min(max(failures - 1, 0), 62)))
        return rand() * cap


class BreakerState(enum.Enum):
    """CLOSED: calls flow. OPEN: calls refused until the cool-down ends. HALF_OPEN: one probe."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Open after ``failure_threshold`` consecutive failures; probe after a cool-down of
    ``cooldown`` seconds that doubles with every failed probe, up to ``max_cooldown``."""

    failure_threshold: int = 5
    cooldown: float = 1.0
    max_cooldown: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.cooldown < 0 or self.max_cooldown < self.cooldown:
            raise ConfigError(
                "BreakerPolicy needs failure_threshold >= 1 and 0 <= cooldown <= max_cooldown"
            )

    def cooldown_after(self, openings: int) -> float:
        """The cool-down after the ``openings``-th opening in a row (1 for the first)."""
        doubled = self.cooldown * (1 << min(max(openings - 1, 0), 62))
        return min(self.max_cooldown, doubled)


class CircuitBreaker:
    """The health of one sink as the worker sees it: it pauses consumption while not CLOSED.

    closed --(threshold consecutive failures)--> open --(cool-down elapsed)--> half_open;
    half_open lets exactly one call through: success closes, failure re-opens with twice the
    cool-down (``BreakerPolicy.cooldown_after``). Closing after an opening logs one line saying
    the sink is back and how long it was unavailable. Not thread-safe; one event loop owns it.
    """

    def __init__(
        self,
        name: str,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._openings = 0  # openings since the breaker last closed
        self._failing_since = 0.0  # when the first of the consecutive failures happened
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The current state (OPEN turns HALF_OPEN by itself once the cool-down is over)."""
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._probing or self._clock() - self._opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def cooldown(self) -> float:
        """The current cool-down: 0 while closed, else the one the last opening started."""
        return self.policy.cooldown_after(self._openings) if self._openings else 0.0

    @property
    def consecutive_failures(self) -> int:
        """Transient failures since the last success."""
        return self._failures

    def retry_after(self) -> float:
        """Seconds until a call may be tried (0 when one may be tried now)."""
        if self._opened_at is None or self._probing:
            return 0.0
        return max(0.0, self.cooldown - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """May a call go through now? In HALF_OPEN only the first caller gets True (the probe)."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN or self._probing:
            return False
        self._probing = True
        return True

    def record_success(self) -> None:
        """The service answered: close the breaker, forget past failures and the cool-down."""
        if self._opened_at is not None:
            log.info(
                "sink %s is available again after %.1fs (%d failed attempt(s)); writing resumes",
                self.name,
                self._clock() - self._failing_since,
                self._failures,
            )
        self._failures = 0
        self._opened_at = None
        self._openings = 0
        self._probing = False

    def record_failure(self) -> None:
        """A transient failure: count it; open at the threshold, re-open after a failed probe
        (a failure reported while already open, by a call let through earlier, changes nothing)."""
        self._failures += 1
        if self._failures == 1:
            self._failing_since = self._clock()
        closed = self._opened_at is None
        if self._probing or (closed and self._failures >= self.policy.failure_threshold):
            self._opened_at = self._clock()
            self._openings += 1
            self._probing = False

    def abandon_probe(self) -> None:
        """The probe ended without telling anything (cancelled, or a non-sink error)."""
        self._probing = False

    def open_error(self) -> SinkError:
        """The retriable error a refused call raises."""
        return SinkError(
            f"sink {self.name}: circuit breaker open after {self._failures} consecutive "
            f"failure(s); next probe in {self.retry_after():.1f}s; pause and retry the batch",
            retriable=True,
        )


async def retry(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    breaker: CircuitBreaker | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rand: Callable[[], float] = random.random,
) -> T:
    """Call ``fn`` until it succeeds, retrying ``SinkError(retriable=True)`` with full jitter.

    Other exceptions propagate at once. After ``policy.attempts`` failures the last retriable
    error is raised. With a ``breaker``: every outcome is recorded on it, and when it refuses a
    call the retriable ``breaker.open_error()`` is raised without calling ``fn``.
    """
    failures = 0
    while True:
        if breaker is not None and not breaker.allow():
            raise breaker.open_error()
        try:
            result = await fn()
        except SinkError as exc:
            if not exc.retriable:
                if breaker is not None and breaker.state is BreakerState.HALF_OPEN:
                    breaker.record_success()  # the service answered; the failure is ours
                raise
            if breaker is not None:
                breaker.record_failure()
            failures += 1
            if failures >= policy.attempts:
                raise
            await sleep(policy.backoff(failures, rand))
            continue
        except BaseException:
            if breaker is not None:
                breaker.abandon_probe()
            raise
        if breaker is not None:
            breaker.record_success()
        return result
