"""State bounds: memory and disk of a materialised table, and how long a restart takes to load it.

Builds a Table of N customers-like rows (id, name, email, city, credit_limit, created_at) in a
RocksStore, checkpoints it, and prints: the Python heap the rows take (tracemalloc), the store's
size on disk, and the seconds a restart needs to load it back (``Table.load``), each also per
million rows. The topic is not involved: catching up after the load reads only what the topic
got since the checkpoint.
Usage: python bench/state_bench.py [N]   (needs rocksdict: pip install 'streamapp[state]')
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

from streamapp.records import Op, OutputRecord
from streamapp.state import RocksStore, Table


def rows(n: int) -> list[OutputRecord]:
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return [
        OutputRecord(
            "customers",
            (i,),
            {
                "id": i,
                "name": f"Customer {i}",
                "email": f"***@example{i % 100}.com",
                "city": ("Leeds", "Paris", "Lima")[i % 3],
                "credit_limit": Decimal(i % 100000) / 100,
                "created_at": at + dt.timedelta(seconds=i),
            },
            i,
            Op.CREATE,
            False,
            frozenset(),
            None,
        )
        for i in range(n)
    ]


def size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    per_million = 1_000_000 / n
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "customers"
        table = Table("customers", ("id",), RocksStore(path, "bench"))
        tracemalloc.start()
        records = rows(n)
        table.apply(records)
        del records  # the table keeps the row dicts, not the records
        memory = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        table.advance({0: n})
        started = time.perf_counter()
        table.checkpoint()
        checkpoint = time.perf_counter() - started
        table.close()
        disk = size(path)
        again = Table("customers", ("id",), RocksStore(path, "bench"))
        started = time.perf_counter()
        loaded = again.load()
        load = time.perf_counter() - started
        again.close()
    assert loaded == n
    mib = 1024 * 1024
    print(f"rows                          {n:>10,}")
    show("memory (rows, Python heap)", memory / mib, "MiB", per_million)
    show("disk (RocksDB store)", disk / mib, "MiB", per_million)
    show("checkpoint of every row", checkpoint, "s", per_million)
    show("restart: load from the store", load, "s", per_million)


def show(what: str, value: float, unit: str, per_million: float) -> None:
    print(
        f"{what:<29} {value:>10.1f} {unit:<4} {value * per_million:>8.1f} {unit} per million rows"
    )


if __name__ == "__main__":
    main()
