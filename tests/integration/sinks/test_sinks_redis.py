"""Redis specifics: an outage survived with retry + breaker, the Lua merge, TTLs, lost scripts."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sinks_harness import COLUMNS, record

from streamapp.errors import SinkError
from streamapp.records import UNCHANGED
from streamapp.settings import Settings
from streamapp.sinks.base import Rejected, TableSpec
from streamapp.sinks.redis.sink import VERSION_SUFFIX, RedisSink
from streamapp.sinks.resilience import (
    BreakerPolicy,
    BreakerState,
    CircuitBreaker,
    RetryPolicy,
    retry,
)
from streamapp.sinks.values import to_json
from streamapp.types import parse_type


def run(stack: Settings, body: Callable[[RedisSink], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        sink = RedisSink(stack.redis_url, timeout=2.0)
        await sink.start()
        try:
            return await body(sink)
        finally:
            await sink.close()

    return asyncio.run(main())


def state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state


def test_an_outage_mid_way_is_retried_through_the_breaker_without_loss(
    stack: Settings, unique: str, redis_client: Any, stack_service: Callable[[str, str], None]
) -> None:
    table = TableSpec("sinks", f"{unique}:{{id}}", ("id",), COLUMNS)
    first = [record(i, 1, name=f"a{i}") for i in range(200)]
    second = [record(i, 2, name=f"b{i}") for i in range(200)]
    second += [record(i, 1, name=f"new{i}") for i in range(200, 300)]
    breaker = CircuitBreaker("redis", BreakerPolicy(failure_threshold=2, cooldown=1.0))
    policy = RetryPolicy(attempts=2, base_delay=0.05, max_delay=0.1)

    async def body(sink: RedisSink) -> list[Rejected]:
        def write(batch: list[Any]) -> Callable[[], Awaitable[list[Rejected]]]:
            return lambda: sink.write(table, batch)

        assert await retry(write(first), policy, breaker=breaker) == []
        stack_service("down", "redis")
        with pytest.raises(SinkError) as failed:
            await retry(write(second), policy, breaker=breaker)
        assert failed.value.retriable and state(breaker) is BreakerState.OPEN
        with pytest.raises(SinkError, match="circuit breaker open"):
            await retry(write(second), policy, breaker=breaker)  # refused, Redis not touched
        stack_service("up", "redis")
        deadline = time.monotonic() + 60
        while True:  # what the worker does: pause until the probe, then retry the same batch
            await asyncio.sleep(breaker.retry_after())
            try:
                rejected = await retry(write(second), policy, breaker=breaker)
            except SinkError as exc:
                assert exc.retriable and time.monotonic() < deadline
                continue
            assert state(breaker) is BreakerState.CLOSED
            return rejected

    assert run(stack, body) == []
    stored = {k.decode(): redis_client.get(k) for k in redis_client.scan_iter(match=f"{unique}:*")}
    values = {k: v for k, v in stored.items() if not k.endswith(VERSION_SUFFIX)}
    assert len(values) == 300
    assert values[f"{unique}:7"] == b'{"amount":null,"id":7,"name":"b7","note":null}'
    assert values[f"{unique}:250"] == b'{"amount":null,"id":250,"name":"new250","note":null}'
    assert stored[f"{unique}:7{VERSION_SUFFIX}"] == b"2"


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = itertools.count()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=JSON, other=JSON, text=st.text(max_size=10))
def test_the_lua_merge_keeps_any_unchanged_json_value_byte_for_byte(
    stack: Settings, unique: str, redis_client: Any, doc: Any, other: Any, text: str
) -> None:
    cols = {
        n: parse_type(t) for n, t in {"id": "int", "j": "json", "s": "string", "z": "json"}.items()
    }
    table = TableSpec("sinks", f"{unique}:{{id}}", ("id",), cols)
    key = next(KEYS)

    async def body(sink: RedisSink) -> list[Rejected]:
        first = await sink.write(table, [record(key, 1, j=doc, s=text, z=other)])
        return first + await sink.write(table, [record(key, 2, j=UNCHANGED, s="new", z=UNCHANGED)])

    assert run(stack, body) == []
    expected = to_json({"id": key, "j": doc, "s": "new", "z": other}).encode()
    assert redis_client.get(f"{unique}:{key}") == expected


@pytest.mark.parametrize("fmt", ["json", "hash"])
def test_ttls_on_values_versions_and_tombstones(
    stack: Settings, unique: str, redis_client: Any, fmt: str
) -> None:
    options = {"format": fmt, "ttl_seconds": 300, "tombstone_ttl_seconds": 60}
    table = TableSpec("sinks", f"{unique}:{{id}}", ("id",), COLUMNS, options)

    async def body(sink: RedisSink) -> None:
        await sink.write(table, [record(1, 1, name="a"), record(2, 1, name="b")])
        await sink.write(table, [record(2, 2, deleted=True)])

    run(stack, body)
    assert 290 < redis_client.ttl(f"{unique}:1") <= 300
    assert 290 < redis_client.ttl(f"{unique}:1{VERSION_SUFFIX}") <= 300
    assert not redis_client.exists(f"{unique}:2")
    assert 50 < redis_client.ttl(f"{unique}:2{VERSION_SUFFIX}") <= 60


def test_a_flushed_script_cache_is_reloaded(
    stack: Settings, unique: str, redis_client: Any
) -> None:
    table = TableSpec("sinks", f"{unique}:{{id}}", ("id",), COLUMNS)

    async def body(sink: RedisSink) -> list[Rejected]:
        await sink.write(table, [record(1, 1, name="a")])
        redis_client.script_flush()  # what a Redis restart does
        return await sink.write(table, [record(1, 2, name="b")])

    assert run(stack, body) == []
    assert redis_client.get(f"{unique}:1") == b'{"amount":null,"id":1,"name":"b","note":null}'


def test_a_key_of_the_wrong_type_rejects_only_its_record(
    stack: Settings, unique: str, redis_client: Any
) -> None:
    table = TableSpec("sinks", f"{unique}:{{id}}", ("id",), COLUMNS)
    redis_client.rpush(f"{unique}:2", "someone else's list")

    async def body(sink: RedisSink) -> list[Rejected]:
        batch = [record(i, 1, name=f"n{i}", note=UNCHANGED) for i in range(4)]
        return await sink.write(table, batch)

    rejected = run(stack, body)
    assert [(r.positions, str(r.error).split("(")[1][:9]) for r in rejected] == [
        ((2,), "WRONGTYPE")
    ]
    assert all(redis_client.exists(f"{unique}:{i}") for i in (0, 1, 3))
