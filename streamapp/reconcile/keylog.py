"""Keys collected by a reconcile pass, with bounded memory: sorted runs spilled to temp files."""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Iterator
from typing import IO, Any, Final

RUN_KEYS: Final = 100_000
Entry = tuple[tuple[Any, ...], Any]


def _order(entry: Entry) -> tuple[Any, ...]:
    return entry[0]


class KeyLog:
    """An append-only log of ``(key, payload)`` entries: keys only, never row values.

    At most ``run_keys`` entries stay in memory; each full run is sorted by key and spilled to
    an anonymous temp file. :meth:`entries` yields every entry once per key (the first one
    added for a key wins), in ascending key order. ``len()`` counts distinct keys only after
    :meth:`entries` ran to the end; ``added`` counts every call to :meth:`add`.
    """

    def __init__(self, *, run_keys: int = RUN_KEYS, directory: str | None = None) -> None:
        self.run_keys = max(run_keys, 1)
        self.directory = directory
        self.added = 0
        self._run: list[Entry] = []
        self._files: list[IO[bytes]] = []

    def add(self, key: tuple[Any, ...], payload: Any = None) -> None:
        """Log one key (with an optional small payload, e.g. a stored version)."""
        self.added += 1
        self._run.append((key, payload))
        if len(self._run) >= self.run_keys:
            self._spill()

    def _spill(self) -> None:
        run, self._run = self._run, []
        run.sort(key=_order)
        f = tempfile.TemporaryFile(dir=self.directory)  # noqa: SIM115 - closed by close()
        for entry in run:  # one pickle (one memo) per entry: see extsort._spill
            pickle.dump(entry, f, protocol=pickle.HIGHEST_PROTOCOL)
        self._files.append(f)

    @staticmethod
    def _read(f: IO[bytes]) -> Iterator[Entry]:
        f.seek(0)
        while True:
            try:
                yield pickle.load(f)
            except EOFError:
                return

    def entries(self) -> Iterator[Entry]:
        """One entry per distinct key, ascending by key (may be read again, one reader at a
        time: the spilled runs are read in place)."""
        self._run.sort(key=_order)
        sources: list[Iterator[Entry]] = [iter(list(self._run))]
        sources += [self._read(f) for f in self._files]
        last: tuple[Any, ...] | None = None
        for entry in heapq.merge(*sources, key=_order):
            if last is not None and entry[0] == last:
                continue
            last = entry[0]
            yield entry

    def sorted_keys(self) -> Iterator[tuple[Any, ...]]:
        """Every distinct key, ascending."""
        for key, _ in self.entries():
            yield key

    def close(self) -> None:
        """Remove the spilled runs; idempotent."""
        files, self._files, self._run = self._files, [], []
        for f in files:
            f.close()

    def __enter__(self) -> KeyLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
