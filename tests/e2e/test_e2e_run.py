"""`streamapp run` (the README's `make run`): generator -> Debezium -> worker -> every sink."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psycopg

from streamapp.settings import Settings


def test_run_moves_generated_changes_into_every_sink(tmp_path: Path) -> None:
    settings = Settings.from_env()
    with psycopg.connect(settings.warehouse_dsn, autocommit=True) as conn:
        before = _count(conn)
    env = dict(
        os.environ,
        STREAMAPP_GROUP_ID=f"run-{uuid.uuid4().hex[:8]}",
        STREAMAPP_CLICKHOUSE_DSN=f"chdb://{tmp_path / 'chdb'}",
        STREAMAPP_WEB_PORT="0",
    )
    done = subprocess.run(
        [sys.executable, "-m", "streamapp", "run", "--duration", "25", "--rate", "30"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "loaded 2 topologies" in output and "FAIL" not in output
    lines = re.findall(
        r"streamapp: ([\d,]+) events .*?([\d,]+) stored, lag ([\d,]+), DLQ (\d+)", output
    )
    assert lines, output[-3000:]
    events, stored, _lag, dlq = (int(x.replace(",", "")) for x in lines[-1])
    assert events > 0 and stored > 0 and dlq == 0
    with psycopg.connect(settings.warehouse_dsn, autocommit=True) as conn:
        assert _count(conn) > before  # the generator's changes reached the warehouse


def _count(conn: Any) -> int:
    try:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM public.customers) + (SELECT count(*) FROM public.orders)"
        ).fetchone()
    except psycopg.errors.UndefinedTable:
        return 0
    return int(row[0]) if row else 0
