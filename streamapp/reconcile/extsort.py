"""Sort expected rows by key with bounded memory: sorted runs spilled to temp files, then merged."""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Final

from streamapp.reconcile.layout import Expected

RUN_ROWS: Final = 100_000


def _by_key(item: Expected) -> tuple[object, ...]:
    return item.key


def _spill(run: list[Expected], directory: str | None) -> IO[bytes]:
    run.sort(key=_by_key)
    f = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed by external_sort
    # One pickle per item, each with its own memo: a Pickler whose memo is cleared between
    # items makes the Unpickler resolve a later item's shared objects to an earlier item's.
    for item in run:
        pickle.dump(tuple(item), f, protocol=pickle.HIGHEST_PROTOCOL)
    f.seek(0)
    return f


def _read(f: IO[bytes]) -> Iterator[Expected]:
    while True:
        try:
            fields = pickle.load(f)
        except EOFError:
            return
        yield Expected(*fields)


def external_sort(
    items: Iterable[Expected], *, run_rows: int = RUN_ROWS, directory: str | None = None
) -> Iterator[Expected]:
    """``items`` in ascending key order (stable for equal keys), holding at most ``run_rows``
    of them in memory; runs go to anonymous temp files removed when the iterator ends."""
    files: list[IO[bytes]] = []
    run: list[Expected] = []
    try:
        for item in items:
            run.append(item)
            if len(run) >= run_rows:
                files.append(_spill(run, directory))
                run = []
        if not files:
            run.sort(key=_by_key)
            yield from run
            return
        if run:
            files.append(_spill(run, directory))
            run = []
        yield from heapq.merge(*(_read(f) for f in files), key=_by_key)
    finally:
        for f in files:
            f.close()
