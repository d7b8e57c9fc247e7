"""What the reconcile tests share: the source rows, the topology module and ``Rec``, the test's
names, environment and subprocess helpers (a module of its own: test modules import it by a
name no other test directory uses, where ``from conftest import`` got whichever conftest was
imported first in a run over several directories)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from streamapp.settings import Settings

TOOL = Path(__file__).with_name("rec_tool.py")
SECRET = "reconcile-test-secret-0123456789"
MODULE = """
from streamapp.topology import Output, Sink, Source, Topology, t


def not_a_test(event):
    row = event.after if event.after is not None else event.before
    return not (row is not None and row.get("kind") == "test")


topology = Topology(
    name="{name}",
    source=Source(topic="it.public.{name}", columns={columns!r}),
    key=["id"],
    transforms=[
        t.filter(not_a_test),{key_mask}
        t.mask("ssn", t.hmac_sha256()),
        t.mask("email", t.email_keep_domain()),
        t.metadata("__op", "__lsn", "__source_ts_ms"),
    ],
    output=Output(topic="{name}.out"),
    sinks=[Sink.clickhouse("{name}"), Sink.postgres("{name}"), Sink.redis("{name}:{{id}}")],
)
"""
COLUMNS = {
    "id": "int",
    "email": "string",
    "ssn": "string",
    "amount": "decimal(10,2)",
    "born": "date",
    "seen_at": "timestamptz",
    "meta": "json",
    "flag": "bool",
    "kind": "string",
}
DDL = (
    "CREATE TABLE public.{} (id bigint PRIMARY KEY, email text, ssn text, amount numeric(10,2), "
    "born date, seen_at timestamptz, meta jsonb, flag boolean, kind text)"
)


def ssn(i: int) -> str:
    return f"900-{i:02d}-{i * 7919 % 10000:04d}"


def rows() -> list[dict[str, Any]]:
    """Ten rows: NULLs, negative and long decimals, JSON, a filtered-out test row (id 10)."""
    out = []
    for i in range(1, 11):
        out.append(
            {
                "id": i,
                "email": None if i == 7 else f"person{i}@example{i % 3}.com",
                "ssn": None if i == 8 else ssn(i),
                "amount": Decimal(f"{'-' if i % 2 else ''}{i * 1234567 % 10**7}.{i % 10}5"),
                "born": date(1970 + i, i, i),
                "seen_at": None if i == 9 else datetime(2024, 1, i, 12, 30, i, i * 1000, UTC),
                "meta": {"tags": ["a", str(i)], "score": i / 4, "nested": {"n": i}},
                "flag": i % 2 == 0,
                "kind": "test" if i == 10 else "real",
            }
        )
    return out


class Rec:
    """The test's names, environment and subprocess helpers."""

    def __init__(self, settings: Settings, unique: str, tmp: Path) -> None:
        self.settings = settings
        self.name = unique
        self.tmp = tmp
        (tmp / "topologies").mkdir()
        self.write_topology()
        self.env = dict(
            os.environ,
            STREAMAPP_TOPOLOGIES_DIR=str(tmp / "topologies"),
            STREAMAPP_SCHEMAS_DIR=str(tmp),
            STREAMAPP_CLICKHOUSE_DSN=f"chdb://{tmp / 'chdb'}",
            STREAMAPP_MASK_SECRET=SECRET,
        )

    def write_topology(self, *, mask_key: bool = False) -> None:
        """(Re)write the topology; ``mask_key`` HMACs the key (output order != source order)."""
        mask = '\n        t.mask("id", t.hmac_sha256()),' if mask_key else ""
        (self.tmp / "topologies" / f"{self.name}.py").write_text(
            MODULE.format(name=self.name, columns=COLUMNS, key_mask=mask)
        )

    def run(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def seed(self, data: list[dict[str, Any]]) -> None:
        path = self.tmp / "rows.pickle"
        path.write_bytes(pickle.dumps(data))
        done = self.run(str(TOOL), "seed", str(path), self.name)
        assert done.returncode == 0, done.stderr[-3000:]

    def ch(self, *statements: str) -> None:
        done = self.run(str(TOOL), "ch", *statements)
        assert done.returncode == 0, done.stderr[-3000:]

    def reconcile(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("-m", "streamapp", "reconcile", self.name, *args)
