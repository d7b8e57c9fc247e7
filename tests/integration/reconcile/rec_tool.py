"""Run in a subprocess (an embedded chDB belongs to one process): seed the sinks, or run SQL.

``python rec_tool.py seed ROWS.pickle TOPOLOGY`` turns each pickled source row into an insert
event, runs the topology's compiled ``process`` and writes the records with the real sink
classes (every sink the topology declares). ``python rec_tool.py ch SQL...`` runs ClickHouse
statements against STREAMAPP_CLICKHOUSE_DSN. ``python rec_tool.py hold SECONDS`` opens the
chDB directory and keeps it, like a running worker.
"""

from __future__ import annotations

import asyncio
import pickle
import sys
import time
from pathlib import Path
from typing import Any

from streamapp.commands import find, load
from streamapp.records import ChangeEvent, EventKind, Op, SourceInfo
from streamapp.runtime.worker import table_specs
from streamapp.settings import Settings
from streamapp.sinks import create_sink


def _event(row: dict[str, Any], lsn: int) -> ChangeEvent:
    source = SourceInfo(
        "postgresql",
        "source",
        "public",
        "t",
        1_700_000_000_000,
        "false",
        lsn,
        7,
        None,
        None,
        None,
        None,
        None,
        {},
    )
    version = lsn << 1 | 1
    return ChangeEvent(
        EventKind.DATA, Op.CREATE, {"id": row["id"]}, None, dict(row), source, 0, None, version
    )


async def seed(settings: Settings, rows: list[dict[str, Any]], name: str) -> None:
    topology = find(load(settings), name)
    records = [r for i, row in enumerate(rows) for r in topology.process(_event(row, 1000 + i))]
    for kind, table in table_specs(topology):
        sink = create_sink(kind, settings)
        await sink.start()
        try:
            await sink.ensure_table(table)
            rejected = await sink.write(table, records)
            assert not rejected, [r.error for r in rejected]
        finally:
            await sink.close()


def main(argv: list[str]) -> None:
    settings = Settings.from_env()
    if argv[0] == "seed":
        rows = pickle.loads(Path(argv[1]).read_bytes())
        asyncio.run(seed(settings, rows, argv[2]))
        return
    import clickhouse_connect

    client = clickhouse_connect.get_client(dsn=settings.clickhouse_client_dsn())
    if argv[0] == "hold":
        print("holding", flush=True)
        time.sleep(float(argv[1]))
        return
    for statement in argv[1:]:
        client.command(statement, settings={"mutations_sync": 2})
    client.close()


if __name__ == "__main__":
    main(sys.argv[1:])
