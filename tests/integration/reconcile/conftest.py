"""A unique source table, a topology over it, and its three sinks, removed after the test.

ClickHouse is an embedded chDB directory of the test's own (one process per chDB path): the
seeding, the tampering and `streamapp reconcile` each run in a subprocess.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from reconcile_env import COLUMNS, DDL, Rec, rows

from streamapp.settings import Settings


@pytest.fixture
def rec(
    stack: Settings,
    unique: str,
    tmp_path: Path,
    pg_source: Any,
    pg_warehouse: Any,
    redis_client: Any,
) -> Iterator[Rec]:
    from psycopg.types.json import Jsonb

    r = Rec(stack, unique, tmp_path)
    pg_source.execute(DDL.format(unique))
    with pg_source.cursor() as cur:
        for row in rows():
            values = [Jsonb(row[c]) if c == "meta" else row[c] for c in COLUMNS]
            cur.execute(
                f"INSERT INTO public.{unique} ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join(['%s'] * len(COLUMNS))})",
                values,
            )
    yield r
    pg_source.execute(f"DROP TABLE IF EXISTS public.{unique}")
    pg_warehouse.execute(f'DROP VIEW IF EXISTS public."{unique}_current"')
    pg_warehouse.execute(f'DROP TABLE IF EXISTS public."{unique}"')
