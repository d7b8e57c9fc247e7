"""ClickHouse specifics: one part per batch, tombstones after merges, kinds, one chDB a process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sinks_harness import COLUMNS, record

from streamapp.records import UNCHANGED
from streamapp.settings import Settings
from streamapp.sinks.base import TableSpec
from streamapp.sinks.clickhouse.sink import ClickHouseSink
from streamapp.types import parse_type


def run(stack: Settings, body: Callable[[ClickHouseSink], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        sink = ClickHouseSink(stack.clickhouse_client_dsn())
        await sink.start()
        try:
            return await body(sink)
        finally:
            await sink.close()

    return asyncio.run(main())


def spec(database: str, columns: dict[str, Any] = COLUMNS) -> TableSpec:
    return TableSpec("sinks", "rows", ("id",), columns, {"database": database})


def test_a_batch_is_one_columnar_insert_and_the_table_is_versioned(
    stack: Settings, clickhouse: Any, ch_database: str
) -> None:
    table = spec(ch_database)

    async def body(sink: ClickHouseSink) -> None:
        await sink.ensure_table(table)
        await sink.write(table, [record(i, 1, name=f"n{i}") for i in range(3000)])

    run(stack, body)
    parts = clickhouse.command(
        "SELECT count() FROM system.parts WHERE database = %(db)s AND table = 'rows' AND active",
        parameters={"db": ch_database},
    )
    assert parts == 1
    ddl = clickhouse.command(f"SHOW CREATE TABLE `{ch_database}`.`rows`")
    assert "ReplacingMergeTree(__version, __is_deleted)" in ddl and "ORDER BY (id)" in ddl
    types = dict(
        clickhouse.query(
            "SELECT name, type FROM system.columns WHERE database = %(db)s AND table = 'rows'",
            parameters={"db": ch_database},
        ).result_rows
    )
    assert types == {
        "id": "Int64",
        "name": "Nullable(String)",
        "amount": "Nullable(Decimal(10, 2))",
        "note": "Nullable(String)",
        "__version": "UInt64",
        "__is_deleted": "UInt8",
    }


def test_a_tombstone_outlives_merges(stack: Settings, clickhouse: Any, ch_database: str) -> None:
    table = spec(ch_database)

    async def body(sink: ClickHouseSink) -> None:
        await sink.ensure_table(table)
        await sink.write(table, [record(1, 1, name="a"), record(2, 1, name="b")])
        await sink.write(table, [record(1, 9, deleted=True)])
        clickhouse.command(f"OPTIMIZE TABLE `{ch_database}`.`rows` FINAL")  # merge the parts
        await sink.write(table, [record(1, 5, name="late")])

    run(stack, body)
    rows = clickhouse.query(f"SELECT id, name FROM `{ch_database}`.`rows` FINAL").result_rows
    assert rows == [(2, "b")]
    kept = clickhouse.query(
        f"SELECT __version, __is_deleted FROM `{ch_database}`.`rows` WHERE id = 1"
    )
    assert (9, 1) in kept.result_rows


def test_every_kind_round_trips_and_survives_unchanged(
    stack: Settings, clickhouse: Any, ch_database: str
) -> None:
    kinds: dict[str, Any] = {
        "id": "string",
        "s": "string",
        "f": "float",
        "b": "bool",
        "d": "decimal(12,3)",
        "dt": "date",
        "t": "time",
        "ts": "timestamp",
        "tz": "timestamptz",
        "dur": "duration",
        "by": "bytes",
        "u": "uuid",
        "j": "json",
        "arr": "array<int>",
    }
    values: dict[str, Any] = {
        "s": "héllo",
        "f": 1.25,
        "b": True,
        "d": Decimal("-12.345"),
        "dt": date(2024, 2, 29),
        "t": time(23, 59, 59, 999999),
        "ts": datetime(2024, 1, 1, 12, 0, 0, 1),
        "tz": datetime(2024, 1, 1, 14, 0, tzinfo=UTC),
        "dur": timedelta(days=2, microseconds=3),
        "by": b"\x00\xff",
        "u": uuid.UUID(int=7),
        "j": {"a": [1, "x", None]},
        "arr": [1, None, 3],
    }
    table = spec(ch_database, {n: parse_type(t) for n, t in kinds.items()})
    key = "k\x00'"  # a string key with awkward characters

    def rec(version: int, **vals: Any) -> Any:
        r = record(0, version, **vals)
        return r._replace(key=(key,), value={**r.value, "id": key})

    async def body(sink: ClickHouseSink) -> None:
        await sink.ensure_table(table)
        assert await sink.write(table, [rec(1, **values)]) == []
        later = {n: UNCHANGED for n in values if n != "s"}
        assert await sink.write(table, [rec(2, s="changed", **later)]) == []

    run(stack, body)
    result = clickhouse.query(
        f"SELECT * FROM `{ch_database}`.`rows` FINAL", column_formats={"by": "bytes"}
    )
    stored = dict(zip(result.column_names, result.result_rows[0], strict=True))
    assert stored == {
        **values,
        "id": key,
        "s": "changed",
        "t": 86_399_999_999,  # microseconds since midnight
        "ts": datetime(2024, 1, 1, 12, 0, 0, 1),
        "tz": datetime(2024, 1, 1, 14, 0),  # chDB drops the zone: UTC wall clock
        "dur": 172_800_000_003,
        "j": '{"a":[1,"x",null]}',
        "arr": "[1,null,3]",
        "__version": 2,
        "__is_deleted": 0,
    }


def test_a_second_process_on_the_same_chdb_dir_gets_a_clear_error(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys, time
        from streamapp.errors import ConfigError
        from streamapp.sinks.clickhouse.sink import ClickHouseSink

        async def main():
            sink = ClickHouseSink(sys.argv[1])
            try:
                await sink.start()
            except ConfigError as exc:
                print("ConfigError:", exc, flush=True)
                return
            print("opened", flush=True)
            sys.stdin.readline()  # hold the directory until told to stop
            await sink.close()

        asyncio.run(main())
        """
    )
    dsn = f"chdb://{tmp_path / 'chdb'}"
    cmd = [sys.executable, "-c", script, dsn]
    holder = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "opened"
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=120, input="")
        lines = second.stdout.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ConfigError: "), second.stdout
        assert "in use by another process" in lines[0]
        assert "STREAMAPP_CLICKHOUSE_DSN" in lines[0]
    finally:
        holder.communicate("\n", timeout=60)
    after = subprocess.run(cmd, capture_output=True, text=True, timeout=120, input="\n")
    assert after.stdout.strip() == "opened"
