"""PostgreSQL specifics: server-side rejects found by bisection, tombstones, view, reconnects."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sinks_harness import COLUMNS, record

from streamapp.records import UNCHANGED
from streamapp.settings import Settings
from streamapp.sinks.base import TableSpec
from streamapp.sinks.postgres.sink import COPY_THRESHOLD, PostgresSink
from streamapp.sinks.resilience import RetryPolicy, retry
from streamapp.types import parse_type


@pytest.fixture
def table(unique: str, pg_warehouse: Any) -> Iterator[TableSpec]:
    yield TableSpec("sinks", unique, ("id",), COLUMNS)
    pg_warehouse.execute(f'DROP TABLE IF EXISTS "{unique}" CASCADE')


def run(
    stack: Settings, body: Callable[[PostgresSink], Awaitable[Any]], name: str = "streamapp-sink"
) -> Any:
    async def main() -> Any:
        sink = PostgresSink(stack.warehouse_dsn, application_name=name)
        await sink.start()
        try:
            return await body(sink)
        finally:
            await sink.close()

    return asyncio.run(main())


@pytest.mark.parametrize("size", [10, COPY_THRESHOLD * 3])  # multi-row VALUES, then COPY + merge
def test_server_side_rejects_are_bisected_out(
    stack: Settings, table: TableSpec, pg_warehouse: Any, size: int
) -> None:
    async def body(sink: PostgresSink) -> list[Any]:
        await sink.ensure_table(table)
        # a constraint added by hand: only the server knows the limit
        pg_warehouse.execute(
            f'ALTER TABLE "{table.target}" ADD CONSTRAINT short_note CHECK (length(note) <= 5)'
        )
        batch = [record(i, 1, name=f"n{i}", note="short") for i in range(size)]
        batch[3] = record(3, 1, name="n3", note="far too long")
        batch[size - 1] = record(size - 1, 1, name="last", note="also too long")
        return await sink.write(table, batch)

    rejected = run(stack, body)
    assert sorted(r.positions for r in rejected) == [(3,), (size - 1,)]
    assert all("23514" in str(r.error) and "too long" not in str(r.error) for r in rejected)
    count = pg_warehouse.execute(f'SELECT count(*) FROM "{table.target}"').fetchone()[0]
    assert count == size - 2


def test_a_delete_keeps_a_tombstone_that_the_view_hides(
    stack: Settings, table: TableSpec, pg_warehouse: Any
) -> None:
    async def body(sink: PostgresSink) -> None:
        await sink.ensure_table(table)
        await sink.write(table, [record(1, 1, name="a", note="n"), record(2, 1, name="b")])
        await sink.write(table, [record(1, 5, deleted=True, name="before-image")])

    run(stack, body)
    base = pg_warehouse.execute(
        f'SELECT id, name, note, __version, __deleted FROM "{table.target}" ORDER BY id'
    ).fetchall()
    assert base == [(1, None, None, 5, True), (2, "b", None, 1, False)]
    view = pg_warehouse.execute(f'SELECT * FROM "{table.target}_current"').fetchall()
    assert view == [(2, "b", None, None, 1)]


def test_drift_widens_the_view_and_ensure_table_is_idempotent(
    stack: Settings, table: TableSpec, pg_warehouse: Any
) -> None:
    wider = TableSpec("sinks", table.target, ("id",), {**COLUMNS, "extra": parse_type("int")})

    async def body(sink: PostgresSink) -> None:
        for spec in (table, table, wider, wider, table):
            await sink.ensure_table(spec)
        await sink.write(wider, [record(1, 1, name="a", extra=7)])

    run(stack, body)
    cols = pg_warehouse.execute(f'SELECT * FROM "{table.target}_current"').description
    assert [c.name for c in cols] == ["id", "name", "amount", "note", "__version", "extra"]


def test_every_kind_round_trips_and_survives_unchanged(
    stack: Settings, unique: str, pg_warehouse: Any
) -> None:
    kinds: dict[str, Any] = {
        "id": "int",
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
        "rec": {"city": "string"},
    }
    values: dict[str, Any] = {
        "id": 1,
        "s": "héllo",
        "f": 1.25,
        "b": True,
        "d": Decimal("-12.345"),
        "dt": date(2024, 2, 29),
        "t": time(23, 59, 59, 999999),
        "ts": datetime(2024, 1, 1, 12, 0, 0, 1),
        "tz": datetime(2024, 1, 1, 12, 0, tzinfo=UTC),
        "dur": timedelta(days=2, microseconds=3),
        "by": b"\x00\xff",
        "u": uuid.UUID(int=7),
        "j": {"a": [1, "x", None]},
        "arr": [1, None, 3],
        "rec": {"city": "Zürich"},
    }
    spec = TableSpec("sinks", unique, ("id",), {n: parse_type(t) for n, t in kinds.items()})
    later: dict[str, Any] = {n: UNCHANGED for n in kinds if n not in ("id", "s")}

    async def body(sink: PostgresSink) -> None:
        await sink.ensure_table(spec)
        await sink.write(spec, [record(1, 1, **{k: v for k, v in values.items() if k != "id"})])
        await sink.write(spec, [record(1, 2, s="changed", **later)])

    try:
        run(stack, body)
        names = ", ".join(f'"{n}"' for n in kinds)
        stored = pg_warehouse.execute(f'SELECT {names} FROM "{unique}"').fetchone()
    finally:
        pg_warehouse.execute(f'DROP TABLE IF EXISTS "{unique}" CASCADE')
    assert dict(zip(kinds, stored, strict=True)) == {**values, "s": "changed"}


def test_a_killed_connection_is_retriable_and_the_retry_reconnects(
    stack: Settings, table: TableSpec, pg_warehouse: Any
) -> None:
    async def body(sink: PostgresSink) -> None:
        await sink.ensure_table(table)
        await sink.write(table, [record(1, 1, name="before")])
        killed = pg_warehouse.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [table.target],
        ).fetchall()
        assert killed == [(True,)]
        batch = [record(1, 2, name="after"), record(2, 1, name="new")]
        errors: list[bool] = []

        async def attempt() -> None:
            try:
                await sink.write(table, batch)
            except Exception as exc:
                errors.append(getattr(exc, "retriable", False))
                raise

        await retry(attempt, RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05))
        assert errors == [True]

    run(stack, body, name=table.target)
    rows = pg_warehouse.execute(
        f'SELECT id, name, __version FROM "{table.target}" ORDER BY id'
    ).fetchall()
    assert rows == [(1, "after", 2), (2, "new", 1)]
