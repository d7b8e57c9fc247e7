"""Freshness: the source's newest WAL position against the newest change each sink applied.

Every sink row carries the version of the event that wrote it; for a PostgreSQL source that
version is ``position << 1 | streamed`` where position is the change's LSN (or the previous
commit's, whichever is larger; see ``decode.version``). So ``max(version) >> 1`` is the WAL
position of the newest change a sink applied (deletes included: their tombstones keep the
version), and ``pg_current_wal_lsn() - that`` is how many WAL bytes the source has written
since. It is an upper bound on the sink's lag: WAL of other tables and databases and the
connector's heartbeats count too, so an idle, up-to-date topology shows a small gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where the source is: its current WAL LSN, and the connector slot's confirmed LSN; for a
    MySQL-family source ``binlog`` (``file:pos`` of SHOW MASTER STATUS) instead."""

    wal_lsn: int | None
    slot: str | None = None
    slot_lsn: int | None = None
    slot_problem: str | None = None
    binlog: str | None = None


def parse_lsn(text: str) -> int:
    """``16/B374D848`` -> its 64-bit position."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def format_lsn(lsn: int) -> str:
    """A 64-bit position as PostgreSQL writes it: ``16/B374D848``."""
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def lsn_of_version(version: int | None) -> int | None:
    """The WAL position a PostgreSQL-sourced version encodes (None stays None)."""
    return None if version is None else version >> 1


def format_binlog_version(version: int) -> str:
    """The binlog position a MySQL-family version encodes (see ``decode.version``):
    ``binlog #<file number> pos <pos>``."""
    return f"binlog #{version >> 43} pos {(version >> 11) & 0xFFFFFFFF}"


def current_wal_lsn(conn: psycopg.Connection[Any]) -> int | None:
    """``pg_current_wal_lsn()``, or the replay position on a standby; None when unknown."""
    try:
        row = conn.execute(
            "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
            "ELSE pg_current_wal_lsn() END::text"
        ).fetchone()
        conn.commit()
    except psycopg.Error:
        conn.rollback()
        return None
    return parse_lsn(row[0]) if row and row[0] else None


def source_position(conn: psycopg.Connection[Any], slot: str | None) -> SourcePosition:
    """The source's WAL position and, when ``slot`` is named, that slot's confirmed LSN."""
    wal = current_wal_lsn(conn)
    if slot is None:
        return SourcePosition(wal)
    try:
        row = conn.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
            [slot],
        ).fetchone()
        conn.commit()
    except psycopg.Error as exc:
        conn.rollback()
        return SourcePosition(wal, slot, None, f"cannot read pg_replication_slots ({exc.sqlstate})")
    if row is None:
        return SourcePosition(wal, slot, None, "no such replication slot on the source")
    return SourcePosition(wal, slot, parse_lsn(row[0]) if row[0] else None)


def behind(ahead: int | None, position: int | None) -> str:
    """``"1,234 bytes behind"`` (``"up to date"`` at or past ``ahead``; ``""`` when unknown)."""
    if ahead is None or position is None:
        return ""
    gap = ahead - position
    return "up to date" if gap <= 0 else f"{gap:,} WAL bytes behind"
