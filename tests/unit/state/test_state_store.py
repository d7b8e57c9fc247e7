"""Stores: MemoryStore keeps nothing; RocksStore round-trips rows with offsets, atomically."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path

from streamapp.records import UNCHANGED, Op, OutputRecord
from streamapp.state import Entry, MemoryStore, RocksStore, Table, open_store


def rec(key: int, version: int, deleted: bool = False, **value: object) -> OutputRecord:
    unchanged = frozenset(k for k, v in value.items() if v is UNCHANGED)
    op = Op.DELETE if deleted else Op.CREATE
    return OutputRecord("c", (key,), {"id": key, **value}, version, op, deleted, unchanged, None)


def test_memory_store_keeps_nothing() -> None:
    store = MemoryStore()
    store.commit({(1,): Entry(1, False, {"id": 1})}, [], {0: 4})
    rows, offsets = store.load()
    assert (list(rows), offsets) == ([], {})
    assert not store.persistent


def test_rocks_store_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "customers"
    t = Table("customers", ("id",), RocksStore(path, "fp1"))
    values = {
        "amount": Decimal("12.50"),
        "at": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
        "uid": uuid.UUID(int=7),
        "notes": UNCHANGED,
    }
    t.apply([rec(1, 10, **values), rec(2, 10, name="b"), rec(2, 20, deleted=True)])
    t.advance({0: 3, 1: 0})
    assert t.checkpoint() == 2
    t.apply([rec(3, 30, name="not checkpointed")])
    t.close()
    again = Table("customers", ("id",), RocksStore(path, "fp1"))
    assert again.load() == 2
    assert again.get((1,)) == {"id": 1, **values}
    assert again.get((1,))["notes"] is UNCHANGED  # type: ignore[index]
    assert again.get((2,)) is None
    assert again.version((2,)) == 20
    assert again.last_image((2,)) == {"id": 2, "name": "b"}
    assert again.get((3,)) is None  # applied after the checkpoint: read again from the topic
    assert again.position() == {0: 3, 1: 0}
    again.close()


def test_rocks_store_deletes_and_index_after_load(tmp_path: Path) -> None:
    store = RocksStore(tmp_path / "t", "fp")
    store.commit(
        {(1,): Entry(1, False, {"id": 1, "c": 5}), (2,): Entry(1, False, {"id": 2})}, [], {}
    )
    store.commit({}, [(2,)], {0: 9})
    store.close()
    t = Table("t", ("id",), RocksStore(tmp_path / "t", "fp"))
    t.load()
    t.index("c")
    assert list(t.referencing("c", 5)) == [(1,)]
    assert t.get((2,)) is None and t.position() == {0: 9}
    t.close()


def test_rocks_store_other_fingerprint_rebuilds(tmp_path: Path, caplog: object) -> None:
    store = RocksStore(tmp_path / "t", "old")
    store.commit({(1,): Entry(1, False, {"id": 1})}, [], {0: 1})
    store.close()
    store = RocksStore(tmp_path / "t", "new")
    rows, offsets = store.load()
    assert (list(rows), offsets) == ([], {})
    store.close()


def test_open_store(tmp_path: Path) -> None:
    assert isinstance(open_store(None, "t", "fp"), MemoryStore)
    store = open_store(tmp_path, "t", "fp")
    assert isinstance(store, RocksStore) and store.path == tmp_path / "t"
    store.close()
