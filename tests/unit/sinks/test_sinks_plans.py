"""The pure parts of each sink: compiled plans, rows, script arguments, error classification."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import clickhouse_connect.driver.exceptions as ch_exc
import psycopg
import pytest
import redis.exceptions as redis_exc
from psycopg import sql

from streamapp.errors import ConfigError
from streamapp.records import UNCHANGED, Op, OutputRecord
from streamapp.settings import Settings
from streamapp.sinks import SINK_KINDS, create_sink
from streamapp.sinks.base import Rejected, TableSpec
from streamapp.sinks.clickhouse import connect as chconnect
from streamapp.sinks.clickhouse import sink as ch
from streamapp.sinks.postgres import sink as pg
from streamapp.sinks.redis import sink as rs
from streamapp.sinks.values import Unfit
from streamapp.types import parse_type

SECRET = "s3cr3t-Value"
COLS = {
    n: parse_type(t) for n, t in {"id": "int", "name": "string", "amount": "decimal(5,2)"}.items()
}


def rec(key: int, version: int, *, deleted: bool = False, **values: Any) -> OutputRecord:
    unchanged = frozenset(c for c, v in values.items() if v is UNCHANGED)
    value = {"id": key, **values}
    return OutputRecord("t", (key,), value, version, Op.UPDATE, deleted, unchanged, None)


# -- Redis ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "options", "message"),
    [
        ("orders", {}, "names no column"),
        ("orders:{nope}", {}, "must name an output column"),
        ("orders:{id!r}", {}, "without format spec"),
        ("orders:{id:>5}", {}, "without format spec"),
        ("orders:{id", {}, "malformed"),
        ("orders:{id}", {"format": "xml"}, "format must be"),
        ("orders:{id}", {"ttl_seconds": -1}, "ttl_seconds"),
        ("orders:{id}", {"ttl_seconds": "60"}, "ttl_seconds"),
        ("orders:{id}", {"tombstone_ttl_seconds": 0}, "tombstone_ttl_seconds"),
    ],
)
def test_redis_template_and_options_are_validated(
    target: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        rs.compile_table(TableSpec("topo", target, ("id",), COLS, options))


def args_of(target: str, record: OutputRecord, **options: Any) -> list[bytes]:
    plan = rs.compile_table(TableSpec("topo", target, ("id",), COLS, options))
    return rs._call_args(plan, record)


def test_redis_json_document_args() -> None:
    args = args_of("o:{id}:{name}", rec(7, 42, name="a b", amount=Decimal("1.50")), ttl_seconds=60)
    assert args[:7] == [b"o:7:a b", b"o:7:a b:__version", b"42", b"j", b"60", b"604800", args[6]]
    assert json.loads(args[6]) == {"amount": "1.50", "id": 7, "name": "a b"}
    assert args[6] == b'{"amount":"1.50","id":7,"name":"a b"}'  # sorted keys, compact


def test_redis_merge_args_mark_unchanged_columns_empty() -> None:
    args = args_of("o:{id}", rec(7, 3, name=UNCHANGED, amount=None))
    assert args[3] == b"m"
    pairs = dict(zip(args[6::2], args[7::2], strict=True))
    assert pairs == {b'"amount"': b"null", b'"id"': b"7", b'"name"': b""}


def test_redis_hash_args() -> None:
    args = args_of("o:{id}", rec(7, 3, name=UNCHANGED, amount=Decimal("2.00")), format="hash")
    assert args[3:] == [b"h", b"0", b"604800", b"1", b"name", b"amount", b"2.00", b"id", b"7"]


@pytest.mark.parametrize(
    ("amount", "text"),
    [(Decimal("2"), "2.00"), (Decimal("1.505"), "1.51"), (Decimal("-9.2E+2"), "-920.00")],
)
def test_redis_decimals_at_the_column_scale_as_the_other_sinks(amount: Decimal, text: str) -> None:
    """decimal(5,2) as PostgreSQL's numeric(5,2) and ClickHouse's Decimal(5,2) hold it (the
    connector's text in decimal.handling.mode=string, or a variable-scale numeric, has its own
    scale)."""
    doc = args_of("o:{id}", rec(7, 1, name="a", amount=amount))[6]
    assert json.loads(doc)["amount"] == text
    merged = args_of("o:{id}", rec(7, 1, name=UNCHANGED, amount=amount))
    assert dict(zip(merged[6::2], merged[7::2], strict=True))[b'"amount"'] == f'"{text}"'.encode()
    hashed = args_of("o:{id}", rec(7, 1, name="a", amount=amount), format="hash")
    assert hashed[hashed.index(b"amount") + 1] == text.encode()


def test_redis_delete_args_keep_only_the_key() -> None:
    args = args_of("o:{id}", rec(7, 9, deleted=True), tombstone_ttl_seconds=5)
    assert args == [b"o:7", b"o:7:__version", b"9", b"d", b"0", b"5"]


@pytest.mark.parametrize(
    ("target", "record", "column"),
    [
        ("o:{name}", rec(1, 1, name=None), "name"),
        ("o:{name}", rec(1, 1, name=UNCHANGED), "name"),
        ("o:{id}", rec(1, 1, name=SECRET, amount=Decimal("1234.5")), "amount"),
        ("o:{id}", rec(1, 1, name=5), "name"),
    ],
)
def test_redis_unfit_records_name_the_column_not_the_value(
    target: str, record: OutputRecord, column: str
) -> None:
    with pytest.raises(Unfit) as info:
        args_of(target, record)
    assert info.value.column == column
    assert SECRET not in str(info.value) and "1234" not in str(info.value)


# -- PostgreSQL ----------------------------------------------------------------------------------

TABLE = TableSpec("topo", "orders", ("id",), COLS)
PG_PLAN = pg.PostgresSink._compile(TABLE, sql.Identifier("public", "orders"))


def test_pg_on_conflict_leaves_unchanged_columns_out_of_the_set() -> None:
    full = PG_PLAN.on_conflict(frozenset()).as_string(None)
    keep = PG_PLAN.on_conflict(frozenset({"name"})).as_string(None)
    assert full == (
        ' ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "amount" = EXCLUDED."amount", '
        '"__version" = EXCLUDED."__version", "__deleted" = EXCLUDED."__deleted" '
        "WHERE t.__version <= EXCLUDED.__version"
    )
    assert '"name"' not in keep and '"amount" = EXCLUDED."amount"' in keep
    assert PG_PLAN.on_conflict(frozenset({"name"})) is PG_PLAN.on_conflict(frozenset({"name"}))


def test_pg_rows_tombstones_unchanged_and_rejections() -> None:
    rejected: list[Rejected] = []
    records = [
        rec(1, 5, name="a", amount=Decimal("1.50")),
        rec(2, 6, deleted=True, name="gone"),
        rec(3, 7, name=UNCHANGED, amount=None),
        rec(4, 8, name=SECRET + "\x00", amount=None),
    ]
    origins = [(j,) for j in range(len(records))]
    items = pg.PostgresSink(dsn="postgresql://x")._rows(PG_PLAN, records, origins, rejected)
    assert [(row, keep) for _, row, keep in items] == [
        ([1, "a", Decimal("1.50"), 5, False], frozenset()),
        ([2, None, None, 6, True], frozenset()),
        ([3, None, None, 7, False], frozenset({"name"})),
    ]
    assert [r.positions for r in rejected] == [(3,)]
    assert rejected[0].error.field == "name" and SECRET not in str(rejected[0].error)


@pytest.mark.parametrize(
    ("exc", "content"),
    [
        (psycopg.errors.NumericValueOutOfRange("x"), True),
        (psycopg.errors.StringDataRightTruncation("x"), True),
        (psycopg.errors.NotNullViolation("x"), True),
        (psycopg.errors.ProgramLimitExceeded("x"), True),
        (psycopg.DataError("NUL bytes"), True),
        (psycopg.errors.UndefinedColumn("x"), False),
        (psycopg.errors.AdminShutdown("x"), False),
        (psycopg.OperationalError("connection refused"), False),
        (OSError("reset"), False),
    ],
)
def test_pg_content_classification(exc: BaseException, content: bool) -> None:
    assert pg._is_content(exc) is content


@pytest.mark.parametrize(
    ("exc", "retriable"),
    [
        (psycopg.OperationalError("connection refused"), True),
        (psycopg.errors.AdminShutdown("x"), True),
        (psycopg.errors.DeadlockDetected("x"), True),
        (psycopg.errors.QueryCanceled("x"), True),
        (psycopg.errors.UndefinedTable("x"), False),
        (psycopg.errors.InsufficientPrivilege("x"), False),
        (ConnectionResetError("reset"), True),
    ],
)
def test_pg_batch_errors_say_whether_to_retry(exc: BaseException, retriable: bool) -> None:
    error = pg.PostgresSink("postgresql://x")._error(TABLE, "writing a batch", exc)
    assert error.retriable is retriable and "orders" in str(error)


# -- ClickHouse ----------------------------------------------------------------------------------


CH_PLAN = ch._compile(TABLE, "db", "orders")


def test_ch_rows_in_insert_form() -> None:
    rejected: list[Rejected] = []
    records = [
        rec(1, 5, name="a", amount=Decimal("1.505")),
        rec(2, 6, deleted=True),
        rec(3, 7, name=UNCHANGED, amount=None),
        rec(4, 8, name=SECRET, amount=Decimal("99999")),
    ]
    items = ch._rows(CH_PLAN, records, rejected)
    assert [row for _, row in items] == [
        [1, "a", Decimal("1.51"), 5, 0],
        [2, None, None, 6, 1],
        [3, None, None, 7, 0],
    ]
    assert [r.positions for r in rejected] == [(3,)]
    assert rejected[0].error.field == "amount" and "99999" not in str(rejected[0].error)


class _Server(ch_exc.DatabaseError):
    def __init__(self, code: int) -> None:
        super().__init__(f"Code: {code}. DB::Exception: value {SECRET}")
        self.code = code


@pytest.mark.parametrize(
    ("exc", "content", "retriable"),
    [
        (ch_exc.DataError("Unable to create native array"), True, False),
        (TypeError("x"), True, False),
        (_Server(407), True, False),
        (_Server(60), False, False),
        (_Server(241), False, True),
        (ch_exc.OperationalError("HTTP connection refused"), False, True),
    ],
)
def test_ch_error_classification(exc: BaseException, content: bool, retriable: bool) -> None:
    assert ch._is_content(exc) is content
    if not content:
        error = ch._error(TABLE, "inserting a batch", exc)
        assert error.retriable is retriable and SECRET not in str(error)
    else:
        assert SECRET not in str(ch._content_error(TABLE, exc))


@pytest.mark.parametrize(
    ("dsn", "path"),
    [
        ("chdb:///abs/data/chdb", "/abs/data/chdb"),
        ("chdb://memory", None),
        ("chdb://:memory:", None),
        ("http://localhost:8123/db", None),
    ],
)
def test_chdb_dir_of_a_dsn(dsn: str, path: str | None) -> None:
    found = chconnect.chdb_dir_of(dsn)
    assert (str(found) if found else None) == path


def test_held_elsewhere_is_false_for_a_missing_or_free_status_file(tmp_path: Any) -> None:
    assert not chconnect._held_elsewhere(tmp_path / "status")
    (tmp_path / "status").write_text("pid")
    assert not chconnect._held_elsewhere(tmp_path / "status")


def test_a_chdb_dir_this_process_opened_is_not_held_elsewhere(tmp_path: Any) -> None:
    import fcntl
    import os

    (tmp_path / "status").write_text("pid")
    fd = os.open(tmp_path / "status", os.O_RDONLY)  # the lock chDB's engine takes
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert chconnect.chdb_held(tmp_path)
        chconnect._OPENED_HERE.add(tmp_path.resolve())  # what get_client notes for chdb://
        assert not chconnect.chdb_held(tmp_path)  # a second handle of our own engine works
    finally:
        chconnect._OPENED_HERE.discard(tmp_path.resolve())
        os.close(fd)


# -- factory -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SINK_KINDS)
def test_create_sink_builds_each_kind_without_connecting(kind: str) -> None:
    sink = create_sink(kind, Settings())
    assert sink.kind == kind


def test_create_sink_refuses_unknown_kinds() -> None:
    with pytest.raises(ConfigError, match="unknown sink 'kafka'"):
        create_sink("kafka", Settings())


@pytest.mark.parametrize(
    ("exc", "retriable"),
    [
        (redis_exc.ConnectionError("refused"), True),
        (redis_exc.TimeoutError("timed out"), True),
        (redis_exc.BusyLoadingError("loading", status_code="LOADING"), True),
        (redis_exc.OutOfMemoryError("command not allowed", status_code="OOM"), True),
        (redis_exc.ResponseError("BUSY Redis is busy running a script"), True),
        (redis_exc.ReadOnlyError("replica", status_code="READONLY"), True),
        (redis_exc.AuthenticationError("invalid password"), False),
        (redis_exc.ResponseError("WRONGTYPE Operation against a key"), False),
    ],
)
def test_redis_errors_say_whether_to_retry(exc: BaseException, retriable: bool) -> None:
    error = rs.RedisSink("redis://u:pw@host:1/0")._error("writing a batch", exc)
    assert error.retriable is retriable and "pw" not in str(error)
