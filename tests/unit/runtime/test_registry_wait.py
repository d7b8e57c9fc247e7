"""A worker started during a registry outage waits for the registry instead of exiting."""

from __future__ import annotations

import pytest

from streamapp.errors import RegistryError, RegistryUnavailableError
from streamapp.runtime.worker import until_registry_answers


def test_it_retries_with_backoff_while_the_registry_is_unavailable() -> None:
    answers: list[object] = [RegistryUnavailableError("down")] * 6 + [42]
    slept: list[float] = []

    def call() -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return int(answer)  # type: ignore[call-overload]

    assert until_registry_answers(call, first=1.0, most=8.0, give_up=60, sleep=slept.append) == 42
    assert slept == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_a_registry_that_stays_away_ends_the_start_after_the_bound() -> None:
    slept: list[float] = []

    def call() -> int:
        raise RegistryUnavailableError("schema registry at http://r:1: connection refused")

    with pytest.raises(RegistryUnavailableError, match="connection refused"):
        until_registry_answers(call, first=1.0, most=8.0, give_up=20.0, sleep=slept.append)
    assert sum(slept) == 20.0 and slept == [1.0, 2.0, 4.0, 8.0, 5.0]


def test_other_registry_errors_raise_at_once() -> None:
    def call() -> int:
        raise RegistryError("subject x: incompatible with version 3")

    with pytest.raises(RegistryError, match="incompatible"):
        until_registry_answers(call, sleep=lambda s: pytest.fail("must not wait"))
