"""What reconciliation compares for one topology: key columns, mapped columns, canonical rows.

Compared columns are the topology's output columns except its key columns (the join matches
those) and its metadata columns (``t.metadata``: ``__op``, ``__lsn``, ``__source_ts_ms``,
``__txid``, ``__version``, ...): those describe the event that last wrote a row (a snapshot read
here, an insert or update in the stream), not the row, so they legitimately differ. Sink
bookkeeping (``__version``, ``__deleted``, ``__is_deleted``, Redis ``K:__version``) is never read
as data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from streamapp.reconcile.canon import KEY_KINDS, canonical_fn, sort_fn
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.metadata import DELETED, FIELDS
from streamapp.types import FieldType

Key = tuple[Any, ...]
Canon = tuple[str | None, ...]
METADATA: frozenset[str] = frozenset({*FIELDS, DELETED})


class Expected(NamedTuple):
    """One expected sink row: its sort key, canonical values, rendered Redis keys, and the
    values of the source columns the rows were read by (what ``reconcile --repair`` asks
    Debezium to re-read)."""

    key: Key
    canon: Canon
    redis_keys: tuple[str, ...]
    source_key: Key = ()


@dataclass(frozen=True, slots=True)
class Layout:
    """Key and compared columns of one topology, in output order, with their declared types."""

    topology: str
    key_names: tuple[str, ...]
    key_types: tuple[FieldType, ...]
    names: tuple[str, ...]
    types: tuple[FieldType, ...]

    @classmethod
    def of(cls, topology: CompiledTopology) -> Layout:
        """The layout of ``topology``; ValueError when a key column's kind cannot be ordered."""
        cols = topology.output_columns
        keys = topology.key_columns
        for k in keys:
            if cols[k].kind not in KEY_KINDS:
                raise ValueError(
                    f"topology {topology.name!r}: key column {k!r} is {cols[k]}; "
                    "reconcile needs scalar key columns"
                )
        names = tuple(n for n in cols if n not in keys and n not in METADATA)
        return cls(
            topology=topology.name,
            key_names=keys,
            key_types=tuple(cols[k] for k in keys),
            names=names,
            types=tuple(cols[n] for n in names),
        )

    def canonicalisers(self, *, json_text: bool = False) -> tuple[Callable[[Any], Any], ...]:
        """One canonicaliser per compared column (see ``canon.canonical_fn``)."""
        return tuple(canonical_fn(t, json_text=json_text) for t in self.types)

    def key_sorters(self, *, json_text: bool = False) -> tuple[Callable[[Any], Any], ...]:
        """One sort-value function per key column (see ``canon.sort_fn``)."""
        return tuple(sort_fn(t, json_text=json_text) for t in self.key_types)


def make_key(sorters: Sequence[Callable[[Any], Any]], values: Sequence[Any]) -> Key:
    """The sort key of one row from its key column values."""
    return tuple(f(v) for f, v in zip(sorters, values, strict=True))


def make_canon(canons: Sequence[Callable[[Any], Any]], values: Sequence[Any]) -> Canon:
    """The canonical row from its compared column values (same order as the layout)."""
    return tuple(f(v) for f, v in zip(canons, values, strict=True))


def digest(canon: Canon) -> bytes:
    """A 16-byte blake2b checksum of a canonical row; a null differs from every text."""
    h = hashlib.blake2b(digest_size=16)
    for text in canon:
        if text is None:
            h.update(b"\x00N")
        else:
            data = text.encode("utf-8", "surrogatepass")
            h.update(b"\x00S" + len(data).to_bytes(8, "big") + data)
    return h.digest()


def differing_columns(names: Sequence[str], want: Canon, got: Canon) -> tuple[str, ...]:
    """The names of the columns whose canonical values differ."""
    return tuple(n for n, a, b in zip(names, want, got, strict=True) if a != b)
