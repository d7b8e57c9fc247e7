"""The short form of `make chaos`, part of `make test`: a few minutes on the real stack.

Three cases, each with its own schema, connector, topics, group, sinks and the generator
running (tests/chaos/chaos_cases.py): the worker SIGKILLed twice at random moments, Redis
unreachable for 10 s through the suite's proxy, and every poison kind once. Each must end with
`streamapp reconcile` matching on every sink (0 lost, 0 duplicated), the DLQ holding exactly
the poison sent, the worker caught up after the fault and its peak RSS under 1 GiB.
Nothing here restarts a shared service: the full form (`make chaos`) does that.
Timing: every wait polls a real condition with a bound; the only sleeps are the faults' own
moments and lengths. The seed is fixed, so the kill moments are the same on every run.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from chaos_cases import Context, short_cases
from chaos_run import run_case, table

from streamapp.settings import Settings

SEED = 20261202
CASES = {c.key: c for c in short_cases()}


@pytest.mark.parametrize("key", list(CASES))
def test_chaos_short(
    key: str, chaos_stack: Settings, chaos_clients: tuple[Any, Any], tmp_path: Path
) -> None:
    admin, redis_client = chaos_clients
    ctx = Context(
        settings=chaos_stack,
        admin=admin,
        redis=redis_client,
        folder=tmp_path,
        rng=random.Random(SEED),
        rate=20.0,
        kills=2,
        outage=10.0,
        rss_bound_mib=1024.0,
        say=lambda line: None,
    )
    result = run_case(CASES[key], ctx, SEED)
    assert result.passed, "\n" + table([result])
