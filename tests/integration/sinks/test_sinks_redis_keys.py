"""Redis keys on the real server: values that plain concatenation merges stay apart, a value
ending in ``:__version`` cannot touch a version key, and reconcile reads what the sink wrote."""

from __future__ import annotations

import asyncio
from typing import Any

from streamapp.reconcile.layout import Expected, Layout, make_canon, make_key
from streamapp.reconcile.merge import Tally
from streamapp.records import Op, OutputRecord
from streamapp.settings import Settings
from streamapp.sinks.base import Rejected, TableSpec
from streamapp.sinks.redis.keys import version_key
from streamapp.sinks.redis.reader import RedisJoin, RedisTarget
from streamapp.sinks.redis.sink import RedisSink
from streamapp.transform.spec import RedisSink as RedisSpec
from streamapp.types import parse_type

STRING = parse_type("string")
COLUMNS = {"tenant": STRING, "user": STRING, "name": STRING}
KEY = ("tenant", "user")
ROWS = [  # (tenant, user, version, name)
    ("a:b", "c", 1, "first"),
    ("a", "b:c", 1, "second"),  # the same key as the first under plain concatenation
    ("x", "y", 5, "x and y"),
    ("x", "y:__version", 1, "intruder"),  # plain concatenation: the version key of ("x", "y")
    ("100%", "{z}", 1, "special"),
    ("plain", "7", 1, "ordinary"),
]


def record(tenant: str, user: str, version: int, name: str) -> OutputRecord:
    value = {"tenant": tenant, "user": user, "name": name}
    return OutputRecord("keys", (tenant, user), value, version, Op.UPDATE, False, frozenset(), None)


def write(stack: Settings, table: TableSpec, records: list[OutputRecord]) -> list[Rejected]:
    async def main() -> list[Rejected]:
        sink = RedisSink(stack.redis_url, timeout=2.0)
        try:
            await sink.ensure_table(table)
            return await sink.write(table, records)
        finally:
            await sink.close()

    return asyncio.run(main())


def test_distinct_keys_stay_apart_and_reconcile_reads_them(
    stack: Settings, unique: str, redis_client: Any
) -> None:
    template = f"{unique}:{{tenant}}:{{user}}"
    table = TableSpec("keys", template, KEY, COLUMNS, {"format": "json"})
    records = [record(*row) for row in ROWS]
    assert write(stack, table, records) == []

    target = RedisTarget(RedisSpec(template), KEY)
    keys = {r.key: target.key_of(r) for r in records}
    assert keys[("plain", "7")] == f"{unique}:plain:7"  # an ordinary key is what it always was
    assert keys[("a:b", "c")] == f"{unique}:a%3Ab:c"
    assert redis_client.get(version_key(keys[("x", "y")])) == b"5"
    stored = [k for k in redis_client.scan_iter(match=target.pattern) if target.is_value_key(k)]
    assert sorted(k.decode() for k in stored) == sorted(keys.values())

    layout = Layout("keys", KEY, (STRING, STRING), ("name",), (STRING,))
    tally = Tally("redis", layout.names)
    join = RedisJoin(tally, redis_client, target, layout, 0, chunk_rows=4)
    sorters, canons = layout.key_sorters(), layout.canonicalisers()
    for r in records:
        join.feed(
            Expected(
                make_key(sorters, r.key), make_canon(canons, [r.value["name"]]), (keys[r.key],)
            )
        )
    join.finish()
    counts = (tally.expected, tally.rows, tally.matched, tally.missing, tally.extra)
    assert counts == (6, 6, 6, 0, 0)
    assert (tally.differing, tally.newest_version) == (0, 5)
