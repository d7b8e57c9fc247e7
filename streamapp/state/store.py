"""Where a table's rows and the topic offsets they reflect are kept: in memory, or RocksDB.

A store is a table's checkpoint, not its working set: the :class:`~streamapp.state.table.Table`
keeps every row in a dict (one dict get per lookup) and hands the store what changed since the
last checkpoint. ``commit(rows, deletes, offsets)`` writes the changed entries *and* the offsets
they reflect in one atomic step (a RocksDB ``WriteBatch``), so after a crash the store holds a
table as of some offsets, never rows of one moment with offsets of another; reading the topic
again from those offsets re-applies events whose versions are already in the table, which the
table's per-key version guard makes harmless.

``MemoryStore`` keeps nothing across restarts (a restarted worker re-reads the topic from the
beginning). ``RocksStore`` (``pip install 'streamapp[state]'``: ``rocksdict``) keeps the table in
``<STREAMAPP_STATE_DIR>/<table>``: a restart loads it and reads the topic from the stored offsets.
Entries are pickled (the table's own values: Decimals, datetimes, UUIDs keep their types); the
directory is the worker's own state, not an exchange format. A stored ``fingerprint`` (the
table topology's generated code and source topic) that differs from the running one means the
rows were made by another version of the topology: the store is emptied and rebuilt from the
topic, and one line says so.
"""

from __future__ import annotations

import logging
import pickle
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from streamapp.errors import ConfigError

log = logging.getLogger("streamapp.state")

Key = tuple[Any, ...]


class Entry(NamedTuple):
    """A table row as stored: the version of the change that made it, whether it is deleted
    (a tombstone: ``row`` is then the last image before the delete) and the row itself."""

    version: int
    deleted: bool
    row: dict[str, Any]


class Store(Protocol):
    """A table's durable checkpoint.

    Guarantees: ``load()`` returns exactly the entries and offsets of the last ``commit`` that
    returned (all of it or, after a crash inside ``commit``, all of the one before); ``commit``
    is atomic; ``offsets`` maps partition -> the next offset to read.
    """

    persistent: bool

    def load(self) -> tuple[Iterator[tuple[Key, Entry]], dict[int, int]]:
        """Every stored entry and the stored offsets."""
        ...

    def commit(
        self,
        rows: Mapping[Key, Entry],
        deletes: Iterator[Key] | list[Key],
        offsets: Mapping[int, int],
        extra: Mapping[bytes, bytes] | None = None,
    ) -> None:
        """Write ``rows``, remove ``deletes``, record ``offsets`` and put ``extra`` (state
        kept with the rows, e.g. aggregate group versions; see ``load_extra``), atomically."""
        ...

    def load_extra(self) -> Iterator[tuple[bytes, bytes]]:
        """Every ``extra`` entry stored by ``commit``."""
        ...

    def close(self) -> None:
        """Release the store (files stay)."""
        ...


class MemoryStore:
    """No durability: ``commit`` only remembers the offsets (for ``position`` after a reload)."""

    persistent = False

    def __init__(self) -> None:
        self._offsets: dict[int, int] = {}

    def load(self) -> tuple[Iterator[tuple[Key, Entry]], dict[int, int]]:
        return iter(()), {}

    def commit(
        self,
        rows: Mapping[Key, Entry],
        deletes: Iterator[Key] | list[Key],
        offsets: Mapping[int, int],
        extra: Mapping[bytes, bytes] | None = None,
    ) -> None:
        self._offsets.update(offsets)

    def load_extra(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(())

    def close(self) -> None:
        pass


_ROW = b"r"
_OFFSET = b"o"
_FINGERPRINT = b"f"
_EXTRA = b"x"


class RocksStore:
    """A RocksDB directory per table (via ``rocksdict``); see the module docstring."""

    persistent = True

    def __init__(self, path: Path, fingerprint: str) -> None:
        try:
            import rocksdict
        except ImportError:  # pragma: no cover - the CI venv installs the extra
            raise ConfigError(
                "RocksStore needs rocksdict; install it with pip install 'streamapp[state]'"
            ) from None
        self.path = path
        self._rocksdict = rocksdict
        path.parent.mkdir(parents=True, exist_ok=True)
        self._options = rocksdict.Options(raw_mode=True)
        self._options.create_if_missing(True)
        self._db: Any = self._open()
        stored = self._db.get(_FINGERPRINT)
        if stored is not None and stored != fingerprint.encode():
            log.warning(
                "state of %s was made by another version of its topology; rebuilding it from "
                "the topic",
                path,
            )
            self._reset()
        if stored != fingerprint.encode():
            self._db.put(_FINGERPRINT, fingerprint.encode())

    def _open(self) -> Any:
        try:
            return self._rocksdict.Rdict(str(self.path), self._options)
        except Exception as exc:  # noqa: BLE001 - rocksdict raises plain Exception
            raise ConfigError(
                f"state store {self.path} cannot be opened ({exc}); another worker on this "
                "host may use it: give each worker its own STREAMAPP_STATE_DIR"
            ) from None

    def _reset(self) -> None:
        self._db.close()
        del self._db
        shutil.rmtree(self.path, ignore_errors=True)
        self._db = self._open()

    def load(self) -> tuple[Iterator[tuple[Key, Entry]], dict[int, int]]:
        offsets: dict[int, int] = {}
        for key, value in self._db.items(from_key=_OFFSET):
            if not key.startswith(_OFFSET):
                break
            offsets[int.from_bytes(key[1:], "big")] = int.from_bytes(value, "big")
        return self._rows(), offsets

    def _rows(self) -> Iterator[tuple[Key, Entry]]:
        for key, value in self._db.items(from_key=_ROW):
            if not key.startswith(_ROW):
                break
            version, deleted, row = pickle.loads(value)
            yield pickle.loads(key[1:]), Entry(version, deleted, row)

    def load_extra(self) -> Iterator[tuple[bytes, bytes]]:
        for key, value in self._db.items(from_key=_EXTRA):
            if not key.startswith(_EXTRA):
                break
            yield key[1:], value

    def commit(
        self,
        rows: Mapping[Key, Entry],
        deletes: Iterator[Key] | list[Key],
        offsets: Mapping[int, int],
        extra: Mapping[bytes, bytes] | None = None,
    ) -> None:
        batch = self._rocksdict.WriteBatch(raw_mode=True)
        dumps = pickle.dumps
        for key, entry in rows.items():
            batch.put(_ROW + dumps(key, 5), dumps(tuple(entry), 5))
        for key in deletes:
            batch.delete(_ROW + dumps(key, 5))
        for partition, offset in offsets.items():
            batch.put(_OFFSET + partition.to_bytes(4, "big"), offset.to_bytes(8, "big"))
        for name, value in (extra or {}).items():
            batch.put(_EXTRA + name, value)
        self._db.write(batch)

    def close(self) -> None:
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()
            del self._db  # rocksdict releases the directory's lock when the object goes


def open_store(state_dir: Path | None, table: str, fingerprint: str) -> Store:
    """A RocksStore in ``state_dir/table`` when ``state_dir`` is set and rocksdict is
    installed, else a MemoryStore (a restart then re-reads the topic from the beginning)."""
    if state_dir is None:
        return MemoryStore()
    try:
        import rocksdict  # noqa: F401
    except ImportError:
        log.info("rocksdict is not installed: table %s is kept in memory only", table)
        return MemoryStore()
    return RocksStore(state_dir / table, fingerprint)
