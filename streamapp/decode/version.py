"""Event versions: one int in [0, 2**63) per event, larger for a later change of the same key.

Sinks keep, per key, the row with the largest version, so replays, restarts and duplicates
converge. Each connector's position in its source log decides (bit 62 is the high bit):

PostgreSQL  ``pos << 1 | streamed``; pos (62 bits) = max(source.lsn, lastCommitLsn), where
            lastCommitLsn is the first element of ``source.sequence``; streamed = 0 for rows of a
            blocking snapshot (``source.snapshot`` true/first/last/...), else 1.
            Why not ``lsn`` alone: ``lsn`` is the position of the change record, written when
            the statement ran, while logical decoding emits whole transactions in commit
            order. Two changes of one row are still in ``lsn`` order (the second writer waits
            for the first one's commit), but a transaction that was running when the snapshot
            was taken and committed after it has changes with an ``lsn`` *below* the
            snapshot's, although the snapshot does not contain them; sorted by ``lsn`` the
            snapshot row would win and the change would be lost. Every event of a transaction
            carries the previous commit's LSN (``sequence[0]``), which is above the snapshot
            point for every transaction decoded after it, so max() places such a change above
            the snapshot row, and the low bit puts a streamed change above a snapshot row at
            the same position. The order of one row's changes is kept: a later transaction's
            change lsn exceeds the earlier transaction's commit LSN, which exceeds both parts
            of the earlier events. Caveats: (a) two changes of one row inside one transaction
            whose lsn are both below the previous commit get the same version (partition order
            decides; sinks apply ``>=``); (b) the very first transaction a new connector
            decodes has no ``sequence[0]`` yet, so if it overlapped the snapshot it falls back
            to lsn order.
            Incremental snapshot rows (``snapshot="incremental"``) carry no ``lsn``; Debezium
            emits them between watermarks, dropping rows whose key changed inside the window, so
            they reflect the table as of their ``sequence`` position: pos = the largest element
            of ``sequence``, low bit 0 (a streamed change at the same position still wins).
MySQL       ``file_number << 43 | pos << 11 | min(row, 2047)``, MariaDB's connector too (its
            ``source.connector`` is "mariadb"): binlog file number (20 bits,
            from ``mysql-bin.000042``), ``pos`` of the rows event (32 bits, binlog positions are
            32-bit), ``row`` within the event (11 bits; a statement touches a key once per
            event, so saturating only matters for keys changed by the same statement). The
            binlog is written at commit, so snapshot rows (taken at the snapshot's binlog
            position) order before every streamed change. After ``RESET MASTER`` or a failover
            to a server with other binlog numbering versions restart lower: reconcile then.
MongoDB     ``seconds << 31 | ord``: ``source.ts_ms // 1000`` (32 bits) and the oplog ordinal
            within that second (31 bits), i.e. the BSON timestamp of the change.
Others      ``ts_ms << 21 | (offset & 0x1FFFFF)``: Debezium's processing time (42 bits, good
            until 2109) with the Kafka offset as tie-breaker (offsets of one key grow within a
            partition; a tie-breaker that wraps within one millisecond is the only failure).
A DATA event of PostgreSQL/MySQL/MongoDB without its position fields raises MissingPosition (a
DecodeError) rather than mixing version schemes for one key, when ``strict`` (the worker). Not
strict (``streamapp topology test``, library use) such an event gets the ``ts_ms``/offset
fallback version instead, and :func:`version_note` says so.
"""

from __future__ import annotations

from streamapp.errors import DecodeError
from streamapp.records import ChangeEvent, EventKind, SourceInfo

MAX_VERSION = 2**63
BLOCKING_SNAPSHOT = frozenset(
    {"true", "first", "last", "first_in_data_collection", "last_in_data_collection"}
)
_OFFSET_MASK = (1 << 21) - 1
# source.connector of Debezium's binlog connectors: MySQL's, and MariaDB's own.
MYSQL_FAMILY = frozenset({"mysql", "mariadb"})


def postgres_version(lsn: int, sequence: object, snapshot: str | None) -> int:
    """Version of a PostgreSQL event from its ``lsn``, ``sequence`` text and ``snapshot`` flag."""
    pos = lsn
    last_commit = _last_commit_lsn(sequence)
    if last_commit is not None and last_commit > pos:
        pos = last_commit
    if not 0 <= pos < 1 << 62:
        raise DecodeError("source.lsn is outside [0, 2**62); cannot order the event")
    return pos << 1 | (0 if snapshot in BLOCKING_SNAPSHOT else 1)


def _last_commit_lsn(sequence: object) -> int | None:
    """First element of Debezium's ``sequence`` text ``["<lastCommitLsn>","<lsn>"]``."""
    if not isinstance(sequence, str) or sequence[:1] != "[":
        return None
    end = sequence.find('",', 2)
    if sequence[1:2] == '"' and end > 2:  # the usual ["123","456"]: digits up to the first '",'
        first = sequence[2:end]
        if first.isdigit():
            return int(first)
    head, comma, _ = sequence.partition(",")
    first = (head[1:] if comma else sequence[1:-1]).strip().strip('"')
    return int(first) if first.isdigit() else None


def _sequence_max(sequence: object) -> int | None:
    """The largest LSN in Debezium's ``sequence`` text, or None when there is none."""
    if not isinstance(sequence, str) or sequence[:1] != "[":
        return None
    found = []
    for part in sequence[1:-1].split(","):
        text = part.strip().strip('"')
        if text.isdigit():
            found.append(int(text))
    return max(found) if found else None


def mysql_version(file: str, pos: int, row: int | None) -> int:
    """Version of a MySQL event from binlog ``file`` name, ``pos`` and ``row``."""
    digits = file.rpartition(".")[2]
    if not digits.isdigit():
        raise DecodeError("source.file is not a binlog file name ending in digits")
    number = int(digits)
    if number >= 1 << 20 or not 0 <= pos < 1 << 32:
        raise DecodeError("binlog file number >= 2**20 or position >= 2**32; cannot order events")
    return number << 43 | pos << 11 | min(max(row or 0, 0), 2047)


def mongo_version(ts_ms: int, ord_: int | None) -> int:
    """Version of a MongoDB event from ``source.ts_ms`` and ``source.ord``."""
    seconds = ts_ms // 1000
    ordinal = ord_ or 0
    if not 0 <= seconds < 1 << 32 or not 0 <= ordinal < 1 << 31:
        raise DecodeError("source.ts_ms or source.ord out of range; cannot order the event")
    return seconds << 31 | ordinal


def fallback_version(ts_ms: int | None, offset: int) -> int:
    """Version from Debezium's ``ts_ms`` and the Kafka offset (connectors without a position)."""
    ts = ts_ms or 0
    if not 0 <= ts < 1 << 42:
        raise DecodeError("ts_ms is outside [0, 2**42); cannot order the event")
    return ts << 21 | (offset & _OFFSET_MASK)


class MissingPosition(DecodeError):
    """A PostgreSQL/MySQL/MongoDB data event without its log position: it cannot be ordered
    against the same key's other events, so the worker refuses it."""


def missing_position(source: SourceInfo | None) -> str | None:
    """Why a data event with ``source`` has no log-position version; None when it has one."""
    if source is None:
        return None
    connector = source.connector
    if connector == "postgresql":
        if source.lsn is None and not (
            source.snapshot == "incremental" and _sequence_max(source.raw.get("sequence"))
        ):
            return "PostgreSQL event has no source.lsn"
    elif connector in MYSQL_FAMILY:
        if not source.file or source.pos is None:
            return "MySQL event has no source.file/pos"
    elif connector == "mongodb" and source.ts_ms is None:
        return "MongoDB event has no source.ts_ms"
    return None


def version_note(event: ChangeEvent) -> str | None:
    """For a data event decoded with ``strict_versions=False``: why its version is only the
    ts_ms/offset fallback (a sink must not mix it with log-position versions); else None."""
    if event.kind is not EventKind.DATA:
        return None
    why = missing_position(event.source)
    if why is None:
        return None
    return f"{why}; its version is derived from ts_ms and the Kafka offset (the worker refuses it)"


def event_version(
    source: SourceInfo | None, ts_ms: int | None, offset: int, *, data: bool, strict: bool = True
) -> int:
    """The version of one event (see the module docstring for each connector's layout).

    ``strict=False``: a data event without its log position gets the fallback version."""
    if source is not None:
        connector = source.connector
        if connector == "postgresql":
            if source.lsn is not None:
                return postgres_version(source.lsn, source.raw.get("sequence"), source.snapshot)
            position = _sequence_max(source.raw.get("sequence"))
            if source.snapshot == "incremental" and position is not None:
                return postgres_version(position, None, "true")
            if data and strict:
                raise MissingPosition("PostgreSQL event has no source.lsn; cannot order it")
        elif connector in MYSQL_FAMILY:
            if source.file and source.pos is not None:
                return mysql_version(source.file, source.pos, source.row)
            if data and strict:
                raise MissingPosition("MySQL event has no source.file/pos; cannot order it")
        elif connector == "mongodb":
            if source.ts_ms is not None:
                return mongo_version(source.ts_ms, source.ord)
            if data and strict:
                raise MissingPosition("MongoDB event has no source.ts_ms; cannot order it")
    return fallback_version(
        ts_ms if ts_ms is not None else source.ts_ms if source else None, offset
    )
