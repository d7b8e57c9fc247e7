"""A worker's web port serves streamapp's endpoints only; readiness never waits for a write."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from worker_harness import WorkerHarness, free_port, http_get, wait_until

from streamapp.observability.health import sink_probe
from streamapp.observability.readiness import Readiness
from streamapp.records import Op, OutputRecord
from streamapp.settings import Settings
from streamapp.sinks.base import TableSpec
from streamapp.sinks.postgres.sink import PostgresSink
from streamapp.types import parse_type


def test_only_streamapps_endpoints_are_served(harness: WorkerHarness) -> None:
    harness.web_port = free_port()
    harness.start()
    port = harness.web_port
    wait_until(lambda: http_get(port, "/readyz")[0] == 200, what="/readyz 200", harness=harness)
    status, body = http_get(port, "/healthz")
    assert (status, json.loads(body)) == (200, {"alive": True, "reason": "ok"})
    status, body = http_get(port, "/metrics")
    assert status == 200 and "streamapp_partitions_assigned" in body
    # Faust's own views (partition routing, table contents, its index and statistics) are gone
    for path in ("/router/", "/router", "/table/", "/table/x/", "/", "/stats/", "/graph/"):
        assert http_get(port, path)[0] == 404, path
    assert harness.stop() == 0


class _App:
    """The consumer's assignment, as Readiness reads it from a Faust app."""

    consumer: Any = None

    def __init__(self) -> None:
        self.consumer = self

    def assignment(self) -> set[int]:
        return {0}


def test_readiness_is_answered_while_a_write_holds_the_sink(
    stack: Settings, unique: str, pg_warehouse: Any
) -> None:
    """A PostgreSQL write blocked on a table lock holds the sink's connection and write lock;
    readiness probes on a connection of its own and answers at once."""
    columns = {"id": parse_type("int"), "note": parse_type("string")}
    table = TableSpec("ready", unique, ("id",), columns)
    record = OutputRecord(
        "ready", (1,), {"id": 1, "note": "n"}, 1, Op.CREATE, False, frozenset(), None
    )

    async def main() -> tuple[dict[str, Any], bool]:
        sink = PostgresSink(stack.warehouse_dsn)
        await sink.start()
        await sink.ensure_table(table)
        readiness = Readiness(_App(), {"postgres": sink_probe("postgres", stack)}, [])
        pg_warehouse.execute("BEGIN")
        pg_warehouse.execute(f'LOCK TABLE "{unique}" IN ACCESS EXCLUSIVE MODE')
        write = asyncio.ensure_future(sink.write(table, [record]))
        try:
            await asyncio.sleep(0.5)
            assert not write.done()  # the write waits for the table lock, holding the sink
            await asyncio.wait_for(readiness.refresh(), 10)
            report = readiness.report()
            blocked = not write.done()
        finally:
            pg_warehouse.execute("ROLLBACK")
        assert await asyncio.wait_for(write, 30) == []
        await sink.close()
        return report, blocked

    try:
        report, blocked = asyncio.run(main())
    finally:
        pg_warehouse.execute(f'DROP TABLE IF EXISTS "{unique}" CASCADE')
    assert blocked
    assert report["ready"] is True and report["sinks"] == {"postgres": "ok"}
