"""The MySQL-family source reader's pure parts: DSN selection and parsing, value coercion."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest

from streamapp.decode.version import mysql_version
from streamapp.ops import OpsError
from streamapp.reconcile.freshness import format_binlog_version
from streamapp.reconcile.myread import coercer, connect_args, is_mysql_dsn
from streamapp.types import parse_type


@pytest.mark.parametrize(
    ("dsn", "mysql"),
    [
        ("mysql://u:p@h:3306/db", True),
        ("mariadb://u:p@h/db", True),
        ("MySQL://u@h/db", True),
        ("postgresql://u:p@h:5432/source", False),
        ("host=h dbname=source", False),
    ],
)
def test_scheme_selects_the_reader(dsn: str, mysql: bool) -> None:
    assert is_mysql_dsn(dsn) is mysql


def test_connect_args_unquote_and_default_port() -> None:
    assert connect_args("mariadb://us%40er:p%2Fw@db.example:13306/shop") == {
        "host": "db.example",
        "port": 13306,
        "user": "us@er",
        "password": "p/w",
        "database": "shop",
    }
    assert connect_args("mysql://u@h/db")["port"] == 3306


def test_connect_args_needs_a_database_and_hides_the_password() -> None:
    with pytest.raises(OpsError, match="mysql://user:password@host:port/database") as info:
        connect_args("mysql://u:secret@h:3306/")
    assert "secret" not in str(info.value)


CASES: list[tuple[str, str, Any, Any]] = [
    ("bool", "tinyint", 1, True),
    ("bool", "bit", b"\x00", False),
    ("decimal(20,0)", "bigint", 2**64 - 1, Decimal(2**64 - 1)),
    ("float", "float", 1, 1.0),
    ("date", "date", "0000-00-00", None),
    ("date", "date", date(2024, 2, 29), date(2024, 2, 29)),
    ("timestamp(6)", "datetime", "0000-00-00 00:00:00", None),
    ("timestamp(6)", "datetime", datetime(2024, 1, 1, 1), datetime(2024, 1, 1, 1)),
    ("timestamptz(6)", "timestamp", datetime(2024, 1, 1, 1), datetime(2024, 1, 1, 1, tzinfo=UTC)),
    ("time(6)", "time", timedelta(hours=23, microseconds=5), time(23, 0, 0, 5)),
    ("time(6)", "time", timedelta(hours=-1), timedelta(hours=-1)),  # no time: left to differ
    ("bytes", "bit", b"\x0a\xbc", b"\xbc\x0a"),
    ("bytes", "blob", bytearray(b"\x00"), b"\x00"),
    ("array<string>", "set", "red,blue", ["red", "blue"]),
    ("array<string>", "set", "", []),
    ("json", "json", '{"a": [1, null]}', {"a": [1, None]}),
    ("string", "enum", "large", "large"),
]


@pytest.mark.parametrize(("declared", "data_type", "raw", "want"), CASES)
def test_values_take_the_decoders_form(declared: str, data_type: str, raw: Any, want: Any) -> None:
    convert = coercer(parse_type(declared), data_type)
    got = raw if convert is None else convert(raw)
    assert got == want and type(got) is type(want)


def test_binlog_version_text() -> None:
    assert format_binlog_version(mysql_version("mariadb-bin.000003", 72770, 2)) == (
        "binlog #3 pos 72770"
    )
