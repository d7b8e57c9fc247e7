"""The text `streamapp reconcile` prints, from a Result (no I/O here); keys only, never values."""

from __future__ import annotations

from collections.abc import Sequence

from streamapp.ops.dlqshow import table
from streamapp.reconcile.freshness import (
    behind,
    format_binlog_version,
    format_lsn,
    lsn_of_version,
)
from streamapp.reconcile.layout import Key
from streamapp.reconcile.merge import DIFFERS, OK, Tally
from streamapp.reconcile.run import Result

_STATE = {OK: "MATCH", DIFFERS: "DIFFERS"}


def _keys(keys: Sequence[Key], names: tuple[str, ...], total: int) -> str:
    shown = ", ".join(_key_text(k, names) for k in keys)
    more = total - len(keys)
    return shown + (f" (+{more:,} more)" if more > 0 else "")


def _key_text(key: Key, names: tuple[str, ...]) -> str:
    parts = [
        f"{n}={v.hex() if isinstance(v, bytes) else v}" for n, v in zip(names, key, strict=True)
    ]
    return parts[0] if len(parts) == 1 else "(" + ", ".join(parts) + ")"


def _rate(count: int, rows: int) -> float:
    return count / rows if rows else 0.0


def null_rows(tally: Tally, tolerance: float, verbose: bool) -> list[tuple[str, str, str]]:
    """(column, expected %, sink %) for columns whose null rates differ by more than
    ``tolerance`` (every column with ``verbose``)."""
    out = []
    for i, name in enumerate(tally.names):
        want = _rate(tally.nulls_expected[i], tally.expected)
        got = _rate(tally.nulls_sink[i], tally.read)
        if verbose or abs(want - got) > tolerance:
            out.append((name, f"{want:.2%}", f"{got:.2%}"))
    return out


def render_sink(
    tally: Tally,
    key_names: tuple[str, ...],
    source_lsn: int | None,
    tolerance: float,
    verbose: bool,
    binlog: bool = False,
) -> list[str]:
    """One block: verdict, counts, sample keys, null rates, freshness, notes (``binlog``: the
    sinks' versions are binlog positions of a MySQL-family source)."""
    verdict = tally.verdict(tolerance)
    if tally.state != "ok":
        return [f"{tally.sink}  {tally.state.upper()}  {tally.detail}", "  not verified"]
    lines = [f"{tally.sink}  {_STATE[verdict]}"]
    counts = [
        ("expected", "in sink", "missing", "extra", "differing"),
        tuple(
            f"{n:,}"
            for n in (tally.expected, tally.rows, tally.missing, tally.extra, tally.differing)
        ),
    ]
    lines += ["  " + line for line in table(counts, frozenset(range(5)))]
    if tally.missing:
        lines.append(f"  missing keys    {_keys(tally.missing_keys, key_names, tally.missing)}")
    if tally.extra:
        shown = _keys(tally.extra_keys, key_names, tally.extra) if tally.extra_keys else ""
        lines.append(f"  extra keys      {shown or f'{tally.extra:,} (counted by SCAN)'}")
    if tally.differing:
        samples = ", ".join(
            f"{_key_text(k, key_names)} ({', '.join(cols)})" for k, cols in tally.differing_keys
        )
        more = tally.differing - len(tally.differing_keys)
        lines.append(f"  differing keys  {samples}" + (f" (+{more:,} more)" if more > 0 else ""))
        per_col = [f"{n} {c:,}" for n, c in zip(tally.names, tally.column_diffs, strict=True) if c]
        lines.append(f"  differing cols  {', '.join(per_col)}")
    nulls = null_rows(tally, tolerance, verbose)
    if nulls:
        rows = [("null rate", "expected", "in sink"), *nulls]
        lines += ["  " + line for line in table(rows, frozenset({1, 2}))]
    lines.append(f"  freshness       {_freshness(tally, source_lsn, binlog)}")
    lines += [f"  note            {note}" for note in tally.notes]
    return lines


def _freshness(tally: Tally, source_lsn: int | None, binlog: bool = False) -> str:
    if binlog and tally.newest_version is not None:
        return f"newest applied change at {format_binlog_version(tally.newest_version)}"
    applied = lsn_of_version(tally.newest_version)
    if applied is None:
        return "no applied change found"
    gap = behind(source_lsn, applied)
    return f"newest applied change at {format_lsn(applied)}" + (f" ({gap})" if gap else "")


def render(
    result: Result, key_names: tuple[str, ...], tolerance: float, verbose: bool
) -> list[str]:
    """The whole report: the source, one block per sink, and the one-line verdict."""
    c = result.counts
    pos = result.position
    wal = format_lsn(pos.wal_lsn) if pos.wal_lsn is not None else "unknown"
    where = f"binlog at {pos.binlog}" if pos.binlog else f"WAL at {wal}"
    lines = [
        f"reconcile {result.topology}: source {result.table} ({where})",
        f"  source rows {c.source_rows:,}, expected in sinks {c.expected:,} "
        f"(filtered out {c.filtered:,}, failed the transform {c.failed:,}, "
        f"repeated output keys {c.duplicates:,})",
    ]
    if pos.slot is not None:
        if pos.slot_lsn is None:
            lines.append(f"  slot {pos.slot}: {pos.slot_problem or 'no confirmed position'}")
        else:
            gap = behind(pos.wal_lsn, pos.slot_lsn)
            lines.append(f"  slot {pos.slot} confirmed {format_lsn(pos.slot_lsn)} ({gap})")
    if result.missing_columns:
        lines.append(
            f"  note: declared column(s) not in the table (null): {result.missing_columns}"
        )
    if result.propagated:
        lines.append(
            "  note: column(s) propagated by the worker (from the registered output schema), "
            f"compared too: {', '.join(result.propagated)}"
        )
    if result.gone:
        lines.append(
            "  note: propagated column(s) no longer in the source table, not compared: "
            f"{', '.join(result.gone)}"
        )
    if result.sorted_on_disk:
        lines.append("  note: the output key does not follow the source order; sorted on disk")
    lines += [f"  note: {note}" for note in result.notes]
    for tally in result.tallies:
        sink = render_sink(
            tally, key_names, pos.wal_lsn, tolerance, verbose, pos.binlog is not None
        )
        lines += ["", *sink]
    lines += ["", summary(result, tolerance)]
    return lines


def exit_code(result: Result, tolerance: float) -> int:
    """0: every sink matches within ``tolerance``; 1: one differs; 2: one could not be read."""
    return max((t.verdict(tolerance) for t in result.tallies), default=OK)


def summary(result: Result, tolerance: float) -> str:
    """``result: MATCH ...`` / ``result: DIFFERS ...`` / ``result: NOT VERIFIED ...``."""
    code = exit_code(result, tolerance)
    bad = [t.sink for t in result.tallies if t.verdict(tolerance) != OK]
    total = len(result.tallies)
    if code == OK:
        return f"result: MATCH, {total} of {total} sink(s) within tolerance {tolerance:g}"
    word = "DIFFERS" if code == DIFFERS else "NOT VERIFIED"
    return f"result: {word}, {total - len(bad)} of {total} sink(s) match; check {', '.join(bad)}"
