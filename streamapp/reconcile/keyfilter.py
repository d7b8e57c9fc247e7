"""Sets of source keys as SQL filters for Debezium's ``additional-conditions`` (no I/O here).

Sorted integer keys are compressed into runs: a run of at least ``MIN_RUN`` consecutive
values becomes ``"id" BETWEEN a AND b``, the rest ``"id" IN (...)``; composite or non-integer
keys become IN-lists of literals or tuples. Filters are packed greedily so that each fits a
length budget (the signal table's ``data`` column), several filters when one is not enough.

Key values come from the source table (or, through the sinks, from what a sink stored), so
they are never pasted into SQL as they are: integers are rendered by ``int``, everything else
as a quoted literal with quotes doubled (PostgreSQL's standard strings), identifiers as quoted
identifiers; a value of another type, or text with a NUL, is refused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Final
from uuid import UUID

from streamapp.ops import OpsError

MIN_RUN: Final = 3
Term = tuple[str, int]  # (SQL text, number of keys it selects)


def ident(name: str) -> str:
    """``name`` as a PostgreSQL quoted identifier."""
    if "\x00" in name:
        raise OpsError("a key column name holds a NUL character; it cannot be used in a filter")
    return '"' + name.replace('"', '""') + '"'


def literal(value: Any) -> str:
    """One key value as a SQL literal; OpsError (naming the type, never the value) when it has
    no safe form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise OpsError("a key value is a non-finite float; it cannot be used in a filter")
        return repr(float(value))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise OpsError("a key value is a non-finite decimal; it cannot be used in a filter")
        return format(value, "f")
    if isinstance(value, UUID | datetime | date | time):
        return _quoted(value.isoformat() if not isinstance(value, UUID) else str(value))
    if isinstance(value, str):
        return _quoted(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "'\\x" + bytes(value).hex() + "'::bytea"
    raise OpsError(
        f"a key value of type {type(value).__name__} has no SQL literal form; "
        "repair supports integer, decimal, text, uuid, date/time and bytea keys"
    )


def _quoted(text: str) -> str:
    if "\x00" in text:
        raise OpsError("a key value holds a NUL character; it cannot be used in a filter")
    return "'" + text.replace("'", "''") + "'"


def runs(keys: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Maximal runs ``(low, high)`` of consecutive integers in ascending, distinct ``keys``."""
    low = high = None
    for k in keys:
        if high is not None and k == high + 1:
            high = k
            continue
        if low is not None and high is not None:
            yield low, high
        low = high = k
    if low is not None and high is not None:
        yield low, high


def _int_terms(col: str, ints: Iterable[int]) -> Iterator[Term | str]:
    for low, high in runs(ints):
        if high - low + 1 >= MIN_RUN:
            yield (f"{col} BETWEEN {low} AND {high}", high - low + 1)
        else:
            yield from (str(v) for v in range(low, high + 1))


def _terms(columns: Sequence[str], keys: Iterable[tuple[Any, ...]]) -> Iterator[Term | str]:
    """BETWEEN terms as (text, count); single keys as their literal (str) for IN-lists.

    ``keys`` ascending and distinct (as ``KeyLog.sorted_keys`` gives them): integer runs stream."""
    if len(columns) == 1:
        others: list[Any] = []

        def ints() -> Iterator[int]:
            for (value,) in keys:
                if isinstance(value, int) and not isinstance(value, bool):
                    yield value
                else:
                    others.append(value)  # not integers: a key of another kind, rare

        yield from _int_terms(ident(columns[0]), ints())
        yield from (literal(v) for v in others)
        return
    for key in keys:
        if len(key) != len(columns):
            raise OpsError("a key has the wrong number of values for the key columns")
        yield "(" + ", ".join(literal(v) for v in key) + ")"


def pack(
    columns: Sequence[str], keys: Iterable[tuple[Any, ...]], fits: Callable[[str], bool]
) -> Iterator[tuple[str, int]]:
    """Filters ``(SQL text, keys selected)`` that together select exactly ``keys``, each one
    accepted by ``fits`` (e.g. "the signal's JSON fits the data column"). OpsError when a
    single key does not fit on its own."""
    target = ident(columns[0]) if len(columns) == 1 else "(" + ", ".join(map(ident, columns)) + ")"
    ranges: list[str] = []
    values: list[str] = []
    count = 0

    def text(rs: list[str], vs: list[str]) -> str:
        parts = list(rs)
        if vs:
            parts.append(f"{target} IN ({', '.join(vs)})")
        return " OR ".join(parts)

    for term in _terms(columns, keys):
        if isinstance(term, tuple):
            trial_r, trial_v, n = [*ranges, term[0]], values, term[1]
        else:
            trial_r, trial_v, n = ranges, [*values, term], 1
        if fits(text(trial_r, trial_v)):
            ranges, values, count = trial_r, trial_v, count + n
            continue
        if ranges or values:
            yield text(ranges, values), count
        ranges, values, count = [], [], 0
        if isinstance(term, tuple):
            ranges, count = [term[0]], term[1]
        else:
            values, count = [term], 1
        if not fits(text(ranges, values)):
            raise OpsError(
                "one key alone does not fit in a signal's filter; enlarge the signal table's "
                "data column"
            )
    if ranges or values:
        yield text(ranges, values), count
