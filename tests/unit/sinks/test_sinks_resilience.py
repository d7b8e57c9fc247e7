"""Retry with full-jitter backoff and the circuit breaker, on a fake clock (nothing sleeps)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.errors import ConfigError, SinkError
from streamapp.sinks.resilience import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    RetryPolicy,
    retry,
)


class FakeClock:
    """Monotonic time that only moves when ``sleep`` is awaited."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def flaky(outcomes: list[BaseException | str]) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """A call that raises or returns the next outcome; ``calls[0]`` counts calls."""
    calls = [0]

    async def fn() -> str:
        outcome = outcomes[min(calls[0], len(outcomes) - 1)]
        calls[0] += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return fn, calls


def state(breaker: CircuitBreaker) -> BreakerState:
    """The breaker's state, read afresh (mypy would narrow ``breaker.state`` across calls)."""
    return breaker.state


TRANSIENT = SinkError("connection refused", retriable=True)
FATAL = SinkError("no such table", retriable=False)


@pytest.mark.parametrize(
    ("kwargs", "ok"),
    [
        ({}, True),
        ({"attempts": 0}, False),
        ({"base_delay": -1}, False),
        ({"base_delay": 2, "max_delay": 1}, False),
    ],
)
def test_retry_policy_validation(kwargs: dict[str, Any], ok: bool) -> None:
    if ok:
        RetryPolicy(**kwargs)
    else:
        with pytest.raises(ConfigError):
            RetryPolicy(**kwargs)


@pytest.mark.parametrize(
    ("failures", "cap"),
    [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (60, 1.0), (10_000, 1.0)],
)
def test_backoff_cap_doubles_up_to_max(failures: int, cap: float) -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.1, max_delay=1.0)
    assert policy.backoff(failures, rand=lambda: 1.0) == pytest.approx(cap)
    assert policy.backoff(failures, rand=lambda: 0.0) == 0.0


@given(st.integers(1, 200), st.floats(0, 1, exclude_max=True))
def test_backoff_is_full_jitter_within_bounds(failures: int, r: float) -> None:
    policy = RetryPolicy(attempts=3, base_delay=0.05, max_delay=2.0)
    delay = policy.backoff(failures, rand=lambda: r)
    assert 0.0 <= delay <= min(2.0, 0.05 * 2 ** (failures - 1))


@pytest.mark.parametrize(
    ("outcomes", "attempts", "result", "calls", "sleeps"),
    [
        (["ok"], 3, "ok", 1, []),
        ([TRANSIENT, TRANSIENT, "ok"], 3, "ok", 3, [0.5, 1.0]),
        ([TRANSIENT, TRANSIENT, TRANSIENT, "ok"], 3, TRANSIENT, 3, [0.5, 1.0]),
        ([TRANSIENT, "ok"], 1, TRANSIENT, 1, []),
        ([FATAL, "ok"], 3, FATAL, 1, []),
        ([ValueError("bug"), "ok"], 3, ValueError, 1, []),
    ],
)
def test_retry_outcomes(
    outcomes: list[BaseException | str], attempts: int, result: Any, calls: int, sleeps: list[float]
) -> None:
    clock = FakeClock()
    fn, count = flaky(outcomes)
    policy = RetryPolicy(attempts=attempts, base_delay=1.0, max_delay=8.0)
    run = retry(fn, policy, sleep=clock.sleep, rand=lambda: 0.5)
    if isinstance(result, str):
        assert asyncio.run(run) == result
    else:
        with pytest.raises(type(result) if isinstance(result, BaseException) else result) as info:
            asyncio.run(run)
        if isinstance(result, BaseException):
            assert info.value is result
    assert count[0] == calls
    assert clock.sleeps == sleeps  # rand() = 0.5 of a cap doubling from base_delay


def test_breaker_full_cycle_on_a_fake_clock() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        "redis", BreakerPolicy(failure_threshold=3, cooldown=10.0, max_cooldown=60.0), clock=clock
    )
    assert state(breaker) is BreakerState.CLOSED
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert state(breaker) is BreakerState.CLOSED
    breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allow()
    assert breaker.retry_after() == 10.0
    clock.now = 9.9
    assert not breaker.allow()
    clock.now = 10.0
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one probe at a time
    breaker.record_failure()  # failed probe: open again, twice the cool-down
    assert state(breaker) is BreakerState.OPEN and breaker.retry_after() == 20.0
    clock.now = 30.0
    assert breaker.allow()
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED and breaker.consecutive_failures == 0


@pytest.mark.parametrize(
    ("policy", "schedule"),
    [
        # the default: first probe after 1 s, doubling with every failed probe, capped at 30 s
        (BreakerPolicy(), [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]),
        (BreakerPolicy(cooldown=0.5, max_cooldown=3.0), [0.5, 1.0, 2.0, 3.0, 3.0]),
        (BreakerPolicy(cooldown=5.0, max_cooldown=5.0), [5.0, 5.0, 5.0]),
        (BreakerPolicy(cooldown=0.0, max_cooldown=0.0), [0.0, 0.0]),
    ],
)
def test_breaker_cooldown_doubles_per_failed_probe_up_to_the_max(
    policy: BreakerPolicy, schedule: list[float]
) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("pg", policy, clock=clock)
    for _ in range(policy.failure_threshold):
        breaker.record_failure()
    waits = []
    for _ in schedule:
        assert state(breaker) in (BreakerState.OPEN, BreakerState.HALF_OPEN)
        waits.append(breaker.retry_after())
        clock.now += breaker.retry_after()
        assert breaker.allow()  # the cool-down is over: the probe goes through
        breaker.record_failure()  # ... and fails
    assert waits == schedule
    assert [policy.cooldown_after(n) for n in range(1, len(schedule) + 1)] == schedule


def test_a_success_resets_the_cooldown_to_the_first_step() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("pg", BreakerPolicy(failure_threshold=1), clock=clock)
    breaker.record_failure()
    for _ in range(4):  # four failed probes: 1 -> 2 -> 4 -> 8 -> 16 s
        clock.now += breaker.retry_after()
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.retry_after() == 16.0
    clock.now += 16.0
    assert breaker.allow()
    breaker.record_success()
    assert breaker.cooldown == 0.0 and breaker.retry_after() == 0.0
    breaker.record_failure()  # the next outage starts from the short cool-down again
    assert breaker.retry_after() == 1.0


def test_a_failure_reported_while_open_does_not_extend_the_cooldown() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("pg", BreakerPolicy(failure_threshold=1, cooldown=4.0), clock=clock)
    breaker.record_failure()
    clock.now = 3.0
    breaker.record_failure()  # a call let through before the breaker opened
    assert breaker.retry_after() == 1.0 and breaker.cooldown == 4.0


def test_recovery_after_an_outage_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("redis:t:{id}", BreakerPolicy(failure_threshold=2), clock=clock)
    caplog.set_level(logging.INFO, logger="streamapp.sinks")
    breaker.record_failure()
    breaker.record_success()  # a blip below the threshold: the sink was never unavailable
    assert not caplog.records
    clock.now = 100.0
    breaker.record_failure()
    clock.now = 100.5
    breaker.record_failure()  # open
    clock.now = 101.5
    assert breaker.allow()
    breaker.record_failure()  # failed probe
    clock.now = 103.5
    assert breaker.allow()
    breaker.record_success()
    breaker.record_success()  # already closed: nothing more to say
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "sink redis:t:{id} is available again after 3.5s (3 failed attempt(s)); writing resumes"
    ]


def test_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker("pg", BreakerPolicy(failure_threshold=2), clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert state(breaker) is BreakerState.CLOSED


def test_retry_with_breaker_opens_then_refuses_without_calling() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(
        "redis", BreakerPolicy(failure_threshold=2, cooldown=30.0), clock=clock
    )
    fn, calls = flaky([TRANSIENT])
    policy = RetryPolicy(attempts=5, base_delay=0.1, max_delay=0.1)
    with pytest.raises(SinkError) as info:
        asyncio.run(retry(fn, policy, breaker=breaker, sleep=clock.sleep, rand=lambda: 1.0))
    assert calls[0] == 2 and info.value.retriable and "circuit breaker open" in str(info.value)
    assert state(breaker) is BreakerState.OPEN

    fn_ok, ok_calls = flaky(["ok"])
    with pytest.raises(SinkError):
        asyncio.run(retry(fn_ok, policy, breaker=breaker, sleep=clock.sleep))
    assert ok_calls[0] == 0
    clock.now += 30.0
    assert asyncio.run(retry(fn_ok, policy, breaker=breaker, sleep=clock.sleep)) == "ok"
    assert state(breaker) is BreakerState.CLOSED


def test_retry_does_not_count_content_or_config_errors_against_the_breaker() -> None:
    breaker = CircuitBreaker("pg", BreakerPolicy(failure_threshold=1), clock=FakeClock())
    fn, _ = flaky([FATAL])
    with pytest.raises(SinkError):
        asyncio.run(retry(fn, RetryPolicy(attempts=3), breaker=breaker))
    assert state(breaker) is BreakerState.CLOSED


def test_a_cancelled_probe_frees_the_half_open_slot() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("pg", BreakerPolicy(failure_threshold=1, cooldown=1.0), clock=clock)
    breaker.record_failure()
    clock.now = 1.0
    fn, _ = flaky([asyncio.CancelledError()])
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(retry(fn, RetryPolicy(attempts=2), breaker=breaker))
    assert breaker.allow()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"cooldown": -1.0},
        {"cooldown": 10.0, "max_cooldown": 5.0},
    ],
)
def test_breaker_policy_validation(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        BreakerPolicy(**kwargs)
