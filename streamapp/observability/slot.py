"""Replication-slot health: the WAL a source keeps for each logical slot, and how fast it grows.

A PostgreSQL source keeps every WAL segment a replication slot has not confirmed. When the
connector stops (or stops confirming), the slot's lag — ``pg_current_wal_lsn() -
confirmed_flush_lsn`` in bytes — grows with every write on the server, and so does the source's
disk until it is full. :func:`read_slots` reads that lag for the slots streamapp is told to watch
(``STREAMAPP_SOURCE_SLOTS``: names, or ``*`` for every logical slot of the source database);
:class:`SlotTrend` turns samples over time into a growth rate (bytes/s over a window).

A MySQL-family source has no slot: its binlog is kept by ``binlog_expire_logs_seconds``, not by
readers, so nothing grows on a stalled connector. Reading one returns its binlog position
(``SHOW MASTER STATUS``) and no slots.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from streamapp.redact import redact_url

ALL = "*"

# One query, version tolerant (wal_status exists from PostgreSQL 13 on); on a standby the
# replay position stands in for the current one (logical slots on standbys, PostgreSQL 16).
_SQL = (
    "SELECT slot_name, plugin, active, "
    "(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() ELSE pg_current_wal_lsn() END"
    " - confirmed_flush_lsn)::bigint, to_jsonb(s) ->> 'wal_status' "
    "FROM pg_replication_slots s WHERE slot_type = 'logical' AND "
)


@dataclass(frozen=True, slots=True)
class SlotSample:
    """One logical slot: ``lag_bytes`` is None when the slot has no confirmed position yet;
    ``wal_status`` is PostgreSQL's (reserved, extended, unreachable, lost) or None (< 13)."""

    slot: str
    plugin: str
    active: bool
    lag_bytes: int | None
    wal_status: str | None = None


@dataclass(frozen=True, slots=True)
class SlotReading:
    """What one look at the source found: ``kind`` is ``postgres`` or ``mysql``; ``problem``
    says why nothing could be read (one line, the DSN redacted); ``missing`` names watched slots
    the source does not have; ``binlog`` is a MySQL-family source's ``file:pos``."""

    kind: str
    slots: tuple[SlotSample, ...] = ()
    missing: tuple[str, ...] = ()
    binlog: str | None = None
    problem: str | None = None
    at: float = field(default_factory=time.monotonic)


def parse_slot_names(value: str) -> tuple[str, ...] | None:
    """``STREAMAPP_SOURCE_SLOTS`` -> the names to watch; None for ``*`` (every logical slot of
    the source database); ``()`` for an empty value (watch nothing)."""
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    return None if ALL in names else names


def is_mysql(dsn: str) -> bool:
    """True for a ``mysql://`` or ``mariadb://`` source DSN."""
    return dsn.split(":", 1)[0].lower() in ("mysql", "mariadb")


def read_slots(dsn: str, names: tuple[str, ...] | None, *, timeout: int = 5) -> SlotReading:
    """Read the watched slots (or a MySQL-family source's binlog position). Never raises for
    an unreachable or refusing source: the reading's ``problem`` says what went wrong."""
    if is_mysql(dsn):
        return _read_binlog(dsn, timeout)
    import psycopg

    try:
        with psycopg.connect(
            dsn, connect_timeout=timeout, application_name="streamapp-slots", autocommit=True
        ) as conn:
            if names is None:
                rows = conn.execute(_SQL + "database = current_database()").fetchall()
            else:
                rows = conn.execute(_SQL + "slot_name = ANY(%s)", [list(names)]).fetchall()
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[:1] or [type(exc).__name__]
        why = redact_url(" ".join(first[0].split()))[:200]
        return SlotReading(
            "postgres",
            problem=f"cannot read replication slots from {redact_url(dsn)} ({why}); "
            "check STREAMAPP_SOURCE_DSN, or set STREAMAPP_SLOT_LAG_INTERVAL=0 to stop sampling",
        )
    slots = tuple(
        SlotSample(str(r[0]), str(r[1]), bool(r[2]), None if r[3] is None else int(r[3]), r[4])
        for r in sorted(rows, key=lambda r: str(r[0]))
    )
    found = {s.slot for s in slots}
    missing = () if names is None else tuple(n for n in names if n not in found)
    return SlotReading("postgres", slots, missing)


def _read_binlog(dsn: str, timeout: int) -> SlotReading:
    try:
        import pymysql

        from streamapp.reconcile.myread import connect_args

        conn = pymysql.connect(**connect_args(dsn), connect_timeout=timeout)
    except ImportError:
        return SlotReading(
            "mysql", problem="a mysql:// source needs pymysql: pip install 'streamapp[mysql]'"
        )
    except Exception as exc:  # noqa: BLE001 - pymysql's errors, or a malformed DSN
        return SlotReading(
            "mysql",
            problem=f"cannot read the binlog position from {redact_url(dsn)} "
            f"({type(exc).__name__}); check STREAMAPP_SOURCE_DSN",
        )
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW MASTER STATUS")
            row: Any = cur.fetchone()
    except Exception:  # noqa: BLE001 - no binlog or no privilege: position unknown
        row = None
    finally:
        conn.close()
    return SlotReading("mysql", binlog=f"{row[0]}:{row[1]}" if row else None)


class SlotTrend:
    """Growth of each slot's lag in bytes/s over the last ``window`` seconds of samples.

    The rate compares the newest sample with the oldest one still inside the window, so a
    connector that confirms its position in steps (Debezium does, every offset flush) shows
    about 0 on average while a stalled one shows the source's write rate.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        self._samples: dict[str, deque[tuple[float, int]]] = {}

    def add(self, reading: SlotReading) -> dict[str, float]:
        """Record ``reading`` and return the growth (bytes/s) of every slot that has two
        samples at least a second apart; slots no longer present are forgotten."""
        present = {s.slot for s in reading.slots if s.lag_bytes is not None}
        for gone in set(self._samples) - present:
            del self._samples[gone]
        growth = {}
        for s in reading.slots:
            if s.lag_bytes is None:
                continue
            samples = self._samples.setdefault(s.slot, deque())
            samples.append((reading.at, s.lag_bytes))
            while len(samples) > 2 and reading.at - samples[1][0] >= self.window:
                samples.popleft()
            first_at, first_lag = samples[0]
            if reading.at - first_at >= 1.0:
                growth[s.slot] = (s.lag_bytes - first_lag) / (reading.at - first_at)
        return growth


def render_slots(
    dsn: str, reading: SlotReading, growth: dict[str, float], over: float
) -> list[str]:
    """The `streamapp status` block for the source: one row per slot (lag, growth over the
    last ``over`` seconds, active, WAL status), or a MySQL-family source's binlog position, or
    the problem."""
    lines = ["", f"source {redact_url(dsn)}"]
    if reading.problem is not None:
        return [*lines, f"  slots         unknown: {reading.problem}"]
    if reading.kind == "mysql":
        where = reading.binlog or "unknown (no binlog, or no REPLICATION CLIENT privilege)"
        return [
            *lines,
            f"  binlog        {where}",
            "  slots         none: a MySQL-family source has none (a stalled connector "
            "holds no binlog)",
        ]
    from streamapp.ops.dlqshow import table

    rows = [("slot", "plugin", "active", "lag bytes", f"growth ({over:.0f} s)", "wal")]
    for s in reading.slots:
        lag = "-" if s.lag_bytes is None else f"{s.lag_bytes:,}"
        rate = growth.get(s.slot)
        shown = "-" if rate is None else f"{rate:+,.0f} B/s"
        rows.append(
            (s.slot, s.plugin, "yes" if s.active else "NO", lag, shown, s.wal_status or "-")
        )
    if len(rows) == 1:
        lines.append("  slots         none (no logical replication slot on the source database)")
    else:
        lines += ["  " + line for line in table(rows, frozenset({3, 4}))]
    lines += [f"  slot {name}: no such replication slot on the source" for name in reading.missing]
    return lines
