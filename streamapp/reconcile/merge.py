"""The per-sink tally and the merge-join of two key-ordered streams (no I/O here).

The expected stream (source rows through the topology) and a sink's live rows both arrive in
ascending key order; one pass pairs them. A key only on the expected side is *missing* from the
sink, a key only in the sink is *extra*, a pair whose checksums differ is *differing* (and the
columns that differ are named). Only keys are ever kept as samples, never values.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from streamapp.ops import OpsError
from streamapp.reconcile.keylog import KeyLog
from streamapp.reconcile.layout import Canon, Expected, Key, differing_columns, digest

SAMPLES: Final = 5

OK: Final = 0
DIFFERS: Final = 1
UNVERIFIED: Final = 2


@dataclass(slots=True)
class Diffs:
    """Every differing key of one sink, for ``reconcile --repair`` (keys only, on disk).

    ``resnap``: source keys (``Expected.source_key``) of the rows missing from the sink or
    differing in it; ``strays``: sort keys of the sink's extra rows, each with its payload
    ``(stored key values, stored version)`` (None when the sink did not say).
    """

    resnap: KeyLog = field(default_factory=KeyLog)
    strays: KeyLog = field(default_factory=KeyLog)

    def close(self) -> None:
        self.resnap.close()
        self.strays.close()


@dataclass(slots=True)
class Tally:
    """What one sink's comparison found. ``state`` is ``ok``, ``busy`` or ``error`` (``detail``).

    ``expected`` counts expected rows, ``rows`` the sink's live rows (for Redis: its keys found
    by SCAN), ``read`` the sink rows whose values were read (null rates are over those).
    """

    sink: str
    names: tuple[str, ...]
    state: str = "ok"
    detail: str = ""
    expected: int = 0
    rows: int = 0
    read: int = 0
    matched: int = 0
    missing: int = 0
    extra: int = 0
    differing: int = 0
    missing_keys: list[Key] = field(default_factory=list)
    extra_keys: list[Key] = field(default_factory=list)
    differing_keys: list[tuple[Key, tuple[str, ...]]] = field(default_factory=list)
    column_diffs: list[int] = field(default_factory=list)
    nulls_expected: list[int] = field(default_factory=list)
    nulls_sink: list[int] = field(default_factory=list)
    newest_version: int | None = None
    notes: list[str] = field(default_factory=list)
    diffs: Diffs | None = None

    def __post_init__(self) -> None:
        width = len(self.names)
        self.column_diffs = [0] * width
        self.nulls_expected = [0] * width
        self.nulls_sink = [0] * width

    def fail(self, state: str, detail: str) -> None:
        """Mark the sink as not verified (``busy`` or ``error``), with a one-line reason."""
        self.state, self.detail = state, detail

    def count_expected(self, canon: Canon) -> None:
        """One more expected row; its nulls count toward the expected null rates."""
        self.expected += 1
        nulls = self.nulls_expected
        for i, v in enumerate(canon):
            if v is None:
                nulls[i] += 1

    def count_read(self, canon: Canon) -> None:
        """One more sink row whose values were read; its nulls count toward the sink rates."""
        self.read += 1
        nulls = self.nulls_sink
        for i, v in enumerate(canon):
            if v is None:
                nulls[i] += 1

    def add_missing(self, key: Key, source: Key = ()) -> None:
        """One expected row the sink lacks (``source``: its source key, logged in ``diffs``)."""
        self.missing += 1
        if len(self.missing_keys) < SAMPLES:
            self.missing_keys.append(key)
        if self.diffs is not None:
            self.diffs.resnap.add(source)

    def add_extra(self, key: Key, stored: Any = None) -> None:
        """One sink row nothing expects (``stored``: its key values and version, in ``diffs``)."""
        self.extra += 1
        if len(self.extra_keys) < SAMPLES:
            self.extra_keys.append(key)
        if self.diffs is not None:
            self.diffs.strays.add(key, stored)

    def pair(self, key: Key, want: Canon, got: Canon, source: Key = ()) -> None:
        """Compare one key present on both sides by checksum; name the differing columns."""
        self.matched += 1
        if digest(want) == digest(got):
            return
        if self.diffs is not None:
            self.diffs.resnap.add(source)
        cols = differing_columns(self.names, want, got)
        self.differing += 1
        for i, n in enumerate(self.names):
            if n in cols:
                self.column_diffs[i] += 1
        if len(self.differing_keys) < SAMPLES:
            self.differing_keys.append((key, cols))

    @property
    def bad(self) -> int:
        """Rows that do not match: missing + extra + differing."""
        return self.missing + self.extra + self.differing

    def verdict(self, tolerance: float) -> int:
        """OK when the bad rows are at most ``tolerance`` of the expected rows (0: none);
        UNVERIFIED when the sink could not be read; DIFFERS otherwise."""
        if self.state != "ok":
            return UNVERIFIED
        return OK if self.bad <= tolerance * max(self.expected, 1) else DIFFERS


class OrderedJoin:
    """Merge-join the expected rows, fed in ascending key order, with a key-ordered sink stream.

    ``rows`` yields ``(key, canonical row)`` in ascending key order, optionally with a third
    item, ``(stored key values, stored version)``, logged for extra rows; OpsError when the
    order is not ascending (the sink's ORDER BY and the key's sort value disagree: a bug to
    report).
    """

    def __init__(self, tally: Tally, rows: Iterator[tuple[Any, ...]]) -> None:
        self.tally = tally
        self._rows = rows
        self._last: Key | None = None
        self._head: tuple[Any, ...] | None = None
        self._advance()

    def _advance(self) -> None:
        head = next(self._rows, None)
        if head is not None:
            if self._last is not None and not self._last < head[0]:
                raise OpsError(
                    f"{self.tally.sink}: rows did not arrive in strictly ascending key order; "
                    "the sink's key order is not the one reconcile assumes, report this"
                )
            self._last = head[0]
            self.tally.rows += 1
            self.tally.count_read(head[1])
        self._head = head

    def feed(self, item: Expected) -> None:
        """Account for one expected row (keys strictly ascending across calls)."""
        tally = self.tally
        tally.count_expected(item.canon)
        key = item.key
        while self._head is not None and self._head[0] < key:
            self._extra(self._head)
            self._advance()
        head = self._head
        if head is not None and head[0] == key:
            tally.pair(key, item.canon, head[1], item.source_key)
            self._advance()
        else:
            tally.add_missing(key, item.source_key)

    def _extra(self, head: tuple[Any, ...]) -> None:
        self.tally.add_extra(head[0], head[2] if len(head) > 2 else None)

    def finish(self) -> None:
        """Count every sink row after the last expected key as extra."""
        while self._head is not None:
            self._extra(self._head)
            self._advance()
