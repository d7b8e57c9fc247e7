"""Event versions: documented bit layouts and ordering properties."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.decode.envelope import source_info
from streamapp.decode.version import (
    _last_commit_lsn,
    event_version,
    fallback_version,
    mongo_version,
    mysql_version,
    postgres_version,
)
from streamapp.errors import DecodeError

U63 = 2**63


@pytest.mark.parametrize(
    ("lsn", "sequence", "snapshot", "expected"),
    [
        (100, None, None, 201),
        (100, '["90","100"]', "false", 201),
        (100, '["150","100"]', "false", 301),  # change written before the previous commit
        (100, '[null,"100"]', "false", 201),
        (100, None, "true", 200),
        (100, None, "last", 200),
        (100, None, "incremental", 201),  # incremental snapshot rows sit in the stream
    ],
)
def test_postgres_layout(lsn: int, sequence: Any, snapshot: str | None, expected: int) -> None:
    assert postgres_version(lsn, sequence, snapshot) == expected


def _reference_last_commit_lsn(sequence: object) -> int | None:
    """The first implementation, kept as the specification of the faster one."""
    if not isinstance(sequence, str) or not sequence.startswith("["):
        return None
    first = sequence[1 : sequence.find(",")] if "," in sequence else sequence[1:-1]
    first = first.strip().strip('"')
    return int(first) if first.isdigit() else None


@given(
    st.text(alphabet='[]",0123456789 nul\t٣x', max_size=24)
    | st.tuples(st.integers(0, 2**64), st.integers(0, 2**64)).map(lambda t: f'["{t[0]}","{t[1]}"]')
    | st.none()
    | st.integers()
)
def test_last_commit_lsn_matches_its_reference(sequence: object) -> None:
    assert _last_commit_lsn(sequence) == _reference_last_commit_lsn(sequence)


def test_postgres_transaction_spanning_the_snapshot_wins() -> None:
    """T wrote row X at lsn 100, the snapshot was taken at 150 (without T), T committed at 200."""
    snapshot_row = postgres_version(150, '[null,"150"]', "last")
    # T is decoded after another transaction that committed at 180 (> snapshot point)
    t_change = postgres_version(100, '["180","100"]', "false")
    assert t_change > snapshot_row


@given(st.integers(0, 2**61), st.integers(0, 2**61))
def test_postgres_streamed_changes_keep_lsn_order(a: int, b: int) -> None:
    if a < b:
        assert postgres_version(a, None, "false") < postgres_version(b, None, "false")


@given(st.integers(0, 2**61))
def test_postgres_streamed_beats_snapshot_at_same_position(lsn: int) -> None:
    assert postgres_version(lsn, None, "false") > postgres_version(lsn, None, "true")


@pytest.mark.parametrize(
    ("file", "pos", "row", "expected"),
    [
        ("mysql-bin.000003", 154, 0, (3 << 43) | (154 << 11)),
        ("mysql-bin.000003", 154, 2, (3 << 43) | (154 << 11) | 2),
        ("binlog.999999", 2**32 - 1, 5000, (999999 << 43) | ((2**32 - 1) << 11) | 2047),
    ],
)
def test_mysql_layout(file: str, pos: int, row: int, expected: int) -> None:
    assert mysql_version(file, pos, row) == expected < U63


POSITIONS = st.tuples(st.integers(1, 2**20 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2047))


@given(POSITIONS, POSITIONS)
def test_mysql_order_is_binlog_order(a: tuple[int, int, int], b: tuple[int, int, int]) -> None:
    va = mysql_version(f"mysql-bin.{a[0]:06d}", a[1], a[2])
    vb = mysql_version(f"mysql-bin.{b[0]:06d}", b[1], b[2])
    assert (va < vb) == (a < b) and 0 <= va < U63


@pytest.mark.parametrize(
    ("file", "pos"), [("mysql-bin", 1), ("mysql-bin.001048576", 1), ("mysql-bin.000001", 2**32)]
)
def test_mysql_out_of_range(file: str, pos: int) -> None:
    with pytest.raises(DecodeError):
        mysql_version(file, pos, 0)


@given(
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**31 - 1)),
    st.tuples(st.integers(0, 2**32 - 1), st.integers(0, 2**31 - 1)),
)
def test_mongo_order_is_oplog_order(a: tuple[int, int], b: tuple[int, int]) -> None:
    va, vb = mongo_version(a[0] * 1000 + 999, a[1]), mongo_version(b[0] * 1000, b[1])
    assert (va < vb) == (a < b) and 0 <= va < U63


@given(
    st.integers(0, 2**42 - 1),
    st.integers(0, 2**21 - 1),
    st.integers(0, 2**42 - 1),
    st.integers(0, 2**21 - 1),
)
def test_fallback_orders_by_time_then_offset(t1: int, o1: int, t2: int, o2: int) -> None:
    v1, v2 = fallback_version(t1, o1), fallback_version(t2, o2)
    assert (v1 < v2) == ((t1, o1) < (t2, o2)) and 0 <= v1 < U63


def test_event_version_dispatch_and_missing_positions() -> None:
    pg = source_info({"connector": "postgresql", "lsn": 10})
    assert event_version(pg, 5, 0, data=True) == 21
    with pytest.raises(DecodeError, match="lsn"):
        event_version(source_info({"connector": "postgresql"}), 5, 0, data=True)
    with pytest.raises(DecodeError, match="file/pos"):
        event_version(source_info({"connector": "mysql"}), 5, 0, data=True)
    with pytest.raises(DecodeError, match="ts_ms"):
        event_version(source_info({"connector": "mongodb"}), 5, 0, data=True)
    # a non-data event without a position falls back instead of failing
    assert event_version(source_info({"connector": "mysql"}), 5, 3, data=False) == (5 << 21) | 3
    sqlserver = source_info({"connector": "sqlserver", "ts_ms": 7})
    assert event_version(sqlserver, None, 3, data=True) == (7 << 21) | 3
    assert event_version(None, None, 3, data=False) == 3


def test_incremental_snapshot_rows_order_by_their_sequence_below_streamed_changes() -> None:
    """Incremental snapshot events have no lsn (seen with Debezium 3.0.8 against PostgreSQL)."""
    from streamapp.decode.version import event_version, postgres_version
    from streamapp.records import SourceInfo

    def source(lsn: int | None, sequence: str, snapshot: str) -> SourceInfo:
        return SourceInfo(
            "postgresql",
            "source",
            "public",
            "t",
            1,
            snapshot,
            lsn,
            7,
            None,
            None,
            None,
            None,
            None,
            {"sequence": sequence},
        )

    snap = event_version(source(None, '["108974520","108990184"]', "incremental"), 1, 0, data=True)
    assert snap == 108990184 << 1
    streamed_same_position = postgres_version(108990184, '["108974520","108990184"]', "false")
    assert streamed_same_position > snap
    older_streamed = postgres_version(108974000, '["108970000","108974000"]', "false")
    assert older_streamed < snap
    with pytest.raises(DecodeError, match=r"no source\.lsn"):
        event_version(source(None, "", "false"), 1, 0, data=True)


def test_mariadb_connector_orders_by_binlog_position() -> None:
    """Debezium's MariaDB connector names itself "mariadb": its events get binlog versions
    (not the ts_ms/offset fallback, which would not order against snapshot rows)."""
    first = source_info({"connector": "mariadb", "file": "mariadb-bin.000002", "pos": 900})
    later = source_info(
        {"connector": "mariadb", "file": "mariadb-bin.000002", "pos": 1400, "row": 1}
    )
    assert event_version(first, 10**12, 7, data=True) == mysql_version("mariadb-bin.000002", 900, 0)
    assert event_version(first, 10**12, 7, data=True) < event_version(later, 1, 0, data=True)
    with pytest.raises(DecodeError, match="file/pos"):
        event_version(source_info({"connector": "mariadb"}), 5, 0, data=True)
