"""A materialised table: one topology's output rows by key, with versions and tombstones.

This is the read interface lookups use, and the one later state features build on (stable):

=============================================  ==================================================
``get(key) -> Mapping | None``                 the live row (None: never seen, or deleted)
``version(key) -> int | None``                 the version of the last change applied to ``key``
                                               (deletes included)
``last_image(key) -> Mapping | None``          the live row, or the last image of a deleted one
``position() -> dict[int, int]``               partition -> next offset of the source topic the
                                               table reflects
``index(column)`` then ``referencing(column,   keys of the live rows whose ``column`` equals
value) -> Iterator[key]``                      ``value`` (declare indexes before rows arrive)
``clock``                                      the largest version applied to any key (0: none)
=============================================  ==================================================

Keys are tuples of the topology's key columns in declared order; rows are the topology's
*output* rows (after its transforms: a masked column is stored masked). Rows must be treated as
read-only by callers.

Semantics of :meth:`Table.apply` (records in topic order of each key):

* a change whose version is lower than the key's applied version is ignored (a re-delivered or
  out-of-order older change); an equal version is applied, as the sinks do: versions tie only
  for two changes of one row in one source transaction, which arrive in order (see
  ``decode.version``), and re-applying an identical change stores the same row;
* a delete keeps a tombstone: the version (so an older update cannot resurrect the row) and
  the last image (for TOAST fill after a primary-key update). Tombstones are never purged:
  memory and disk grow with the keys ever seen, not only the live ones;
* an UNCHANGED column (a TOASTed value Debezium did not send) keeps the stored value; with no
  stored value it stays UNCHANGED (unknown), and a lookup hands UNCHANGED on, so the fact's
  sinks keep what they have.

Memory: every row is held in a dict (about the size of the row's Python objects, plus two
dict slots per key); the store is only the checkpoint (see ``state.store``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from streamapp.records import UNCHANGED, OutputRecord
from streamapp.state.store import Entry, Key, MemoryStore, Store


class Table:
    """The rows of one topology, kept by key (see the module docstring for the contract)."""

    def __init__(self, name: str, key_columns: tuple[str, ...], store: Store | None = None) -> None:
        self.name = name
        self.key_columns = key_columns
        self.store: Store = store if store is not None else MemoryStore()
        self._live: dict[Key, dict[str, Any]] = {}
        self._entries: dict[Key, Entry] = {}
        self._indexes: dict[str, dict[Any, set[Key]]] = {}
        self._position: dict[int, int] = {}
        self._dirty: dict[Key, Entry] = {}
        self.clock = 0  # the largest version applied to any key (as_of="current" lookups)
        # the hot path: one dict get, no Python frame; the row, or None
        self.get: Callable[[Key], dict[str, Any] | None] = self._live.get

    def load(self) -> int:
        """Fill the table from its store (at start); returns the number of entries."""
        entries, offsets = self.store.load()
        for key, entry in entries:
            self._entries[key] = entry
            self.clock = max(self.clock, entry.version)
            if not entry.deleted:
                self._live[key] = entry.row
                self._index_add(key, entry.row)
        self._position = dict(offsets)
        return len(self._entries)

    def __len__(self) -> int:
        """The number of live rows."""
        return len(self._live)

    def rows(self) -> Iterator[tuple[Key, Mapping[str, Any]]]:
        """Every live row with its key (a snapshot: the table may change meanwhile)."""
        return iter(tuple(self._live.items()))

    def version(self, key: Key) -> int | None:
        """The version of the last change applied to ``key`` (a delete's too), or None."""
        entry = self._entries.get(key)
        return None if entry is None else entry.version

    def last_image(self, key: Key) -> Mapping[str, Any] | None:
        """The live row of ``key``, or the last image before its delete, or None."""
        entry = self._entries.get(key)
        return None if entry is None else entry.row

    def position(self) -> dict[int, int]:
        """Partition -> the next offset of the source topic that the table reflects."""
        return dict(self._position)

    def index(self, column: str) -> None:
        """Maintain an index on ``column`` (idempotent); existing live rows are indexed."""
        if column in self._indexes:
            return
        self._indexes[column] = {}
        for key, row in self._live.items():
            self._index_row(column, key, row)

    def referencing(self, column: str, value: Any) -> Iterator[Key]:
        """Keys of the live rows whose ``column`` is ``value`` (KeyError: not indexed)."""
        return iter(tuple(self._indexes[column].get(value, ())))

    def apply(self, outputs: Iterable[OutputRecord]) -> int:
        """Apply output records in topic order; returns how many changed the table."""
        changed = 0
        entries = self._entries
        for out in outputs:
            key = out.key
            old = entries.get(key)
            if old is not None and out.version < old.version:
                continue
            if out.deleted:
                image = old.row if old is not None else _known(out.value)
                entry = Entry(out.version, True, image)
            else:
                row = out.value
                if out.unchanged and old is not None:
                    row = dict(row)
                    stored = old.row
                    for column in out.unchanged:
                        if column in stored:
                            row[column] = stored[column]
                entry = Entry(out.version, False, row)
            self._put(key, old, entry)
            if out.version > self.clock:
                self.clock = out.version
            changed += 1
        return changed

    def fill_unchanged(self, out: OutputRecord, old_key: Key) -> OutputRecord:
        """``out`` with its UNCHANGED columns taken from the last image of ``old_key`` (the
        row's key before a primary-key update), where that image has a known value."""
        image = self.last_image(old_key)
        if image is None or not out.unchanged:
            return out
        value = dict(out.value)
        left = set(out.unchanged)
        for column in out.unchanged:
            stored = image.get(column, UNCHANGED)
            if stored is not UNCHANGED:
                value[column] = stored
                left.discard(column)
        return out._replace(value=value, unchanged=frozenset(left))

    def advance(self, offsets: Mapping[int, int]) -> None:
        """Record that the table reflects the topic up to these next offsets."""
        self._position.update(offsets)

    def checkpoint(self, extra: Mapping[bytes, bytes] | None = None) -> int:
        """Commit the entries changed since the last checkpoint with the position (and
        ``extra``, state derived from the rows: see ``Store.commit``), atomically; returns how
        many entries were written."""
        dirty, self._dirty = self._dirty, {}
        self.store.commit(dirty, [], self._position, extra)
        return len(dirty)

    def close(self) -> None:
        self.store.close()

    def _put(self, key: Key, old: Entry | None, entry: Entry) -> None:
        if self._indexes and old is not None and not old.deleted:
            self._index_remove(key, old.row)
        self._entries[key] = entry
        if self.store.persistent:
            self._dirty[key] = entry
        if entry.deleted:
            self._live.pop(key, None)
        else:
            self._live[key] = entry.row
            if self._indexes:
                self._index_add(key, entry.row)

    def _index_add(self, key: Key, row: Mapping[str, Any]) -> None:
        for column in self._indexes:
            self._index_row(column, key, row)

    def _index_row(self, column: str, key: Key, row: Mapping[str, Any]) -> None:
        value = row.get(column, UNCHANGED)
        if value is not UNCHANGED and value.__hash__ is not None:  # JSON values: not indexed
            self._indexes[column].setdefault(value, set()).add(key)

    def _index_remove(self, key: Key, row: Mapping[str, Any]) -> None:
        for column, index in self._indexes.items():
            value = row.get(column, UNCHANGED)
            hashable = value is not UNCHANGED and value.__hash__ is not None
            keys = index.get(value) if hashable else None
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del index[value]


def _known(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not UNCHANGED}
