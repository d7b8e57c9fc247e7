"""Expected rows through a real compiled topology, Redis key rendering, the report, the source."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from streamapp.ops import OpsError
from streamapp.reconcile.expected import Counts, expected_rows, snapshot_source
from streamapp.reconcile.freshness import SourcePosition, behind, format_lsn, parse_lsn
from streamapp.reconcile.layout import Layout
from streamapp.reconcile.merge import Tally
from streamapp.reconcile.report import exit_code, render
from streamapp.reconcile.run import Result
from streamapp.reconcile.source import SourceTable, _coercer
from streamapp.sinks.redis.reader import RedisTarget
from streamapp.topology import Output, Sink, Source, Topology, t
from streamapp.transform.compile import CompiledTopology, compile_topology
from streamapp.transform.spec import RedisSink
from streamapp.types import parse_type

SECRETS = {"default": b"k" * 32}
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
SSN = "123-45-6789"


def people() -> CompiledTopology:
    return compile_topology(
        Topology(
            name="people",
            source=Source(
                topic="app.public.people",
                columns={"id": "int", "ssn": "string", "amount": "decimal(10,2)", "kind": "string"},
            ),
            key=["id"],
            transforms=[
                t.filter(lambda ev: (ev.after or {}).get("kind") != "test"),
                t.mask("ssn", t.hmac_sha256()),
                t.metadata("__op", "__lsn", "__source_ts_ms"),
            ],
            output=Output(topic="warehouse.people"),
            sinks=[Sink.postgres("people"), Sink.redis("person:{id}", format="hash")],
        ),
        secrets=SECRETS,
        schemas_dir=SCHEMAS,
    )


def _rows() -> list[dict[str, Any]]:
    return [
        {"id": 1, "ssn": SSN, "amount": Decimal("1.5"), "kind": "a"},
        {"id": 2, "ssn": None, "amount": None, "kind": "test"},
        {"id": 3, "ssn": "x", "amount": Decimal("-2.25"), "kind": "b"},
    ]


def test_expected_rows_mask_filter_and_leave_metadata_out() -> None:
    top = people()
    layout = Layout.of(top)
    assert layout.names == ("ssn", "amount", "kind")  # key and __op/__lsn/... left out
    redis = [RedisTarget(s, layout.key_names) for s in top.sinks if isinstance(s, RedisSink)]
    counts = Counts()
    out = list(
        expected_rows(
            top,
            layout,
            _rows(),
            source=snapshot_source("db", "public", "people"),
            key_columns=("id",),
            redis=redis,
            counts=counts,
        )
    )
    assert [e.key for e in out] == [(1,), (3,)]
    assert (counts.source_rows, counts.filtered, counts.failed) == (3, 1, 0)
    ssn, amount, kind = out[0].canon
    assert ssn is not None and len(ssn) == 64 and SSN not in ssn  # HMAC, never the clear value
    assert (amount, kind) == ("1.50", "a")
    assert out[0].redis_keys == ("person:1",)
    assert redis[0].is_value_key(b"person:1")
    assert not redis[0].is_value_key(b"person:1:__version")
    assert not redis[0].is_value_key(b"other:1")


@pytest.mark.parametrize(
    ("template", "pattern"),
    [("order:{id}", "order:*"), ("a*[{id}]", "a\\*\\[*\\]"), ("{{x}}:{id}", "{x}:*")],
)
def test_redis_scan_pattern_escapes_glob_characters(template: str, pattern: str) -> None:
    assert RedisTarget(RedisSink(template), ("id",)).pattern == pattern


@pytest.mark.parametrize(
    ("spec", "value", "want"),
    [
        (
            "timestamptz",
            datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
            datetime(2024, 1, 1, tzinfo=UTC),
        ),
        ("timestamptz", datetime(2024, 1, 1), datetime(2024, 1, 1, tzinfo=UTC)),
        (
            "timestamp",
            datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
            datetime(2024, 1, 1),
        ),
        ("json", '{"a": 1}', {"a": 1}),
        ("json", "not json", "not json"),
        ({"x": "int"}, '{"x": 1}', {"x": 1}),
        (
            "uuid",
            "12345678-1234-5678-1234-567812345678",
            UUID("12345678-1234-5678-1234-567812345678"),
        ),
        ("string", UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ("float", Decimal("1.5"), 1.5),
        ("decimal(5,2)", 2, Decimal(2)),
        ("bytes", memoryview(b"ab"), b"ab"),
    ],
)
def test_source_values_take_the_decoders_python_form(spec: Any, value: Any, want: Any) -> None:
    coerce = _coercer(parse_type(spec))
    got = value if coerce is None else coerce(value)
    assert got == want and type(got) is type(want)


@pytest.mark.parametrize(
    ("text", "schema", "table"),
    [("public.customers", "public", "customers"), ("customers", "public", "customers")],
)
def test_table_option(text: str, schema: str, table: str) -> None:
    assert SourceTable.parse(text) == SourceTable(schema, table)


@pytest.mark.parametrize("text", ["a.b.c", ".x", "x."])
def test_bad_table_option(text: str) -> None:
    with pytest.raises(OpsError, match=r"schema\.table"):
        SourceTable.parse(text)


def test_table_from_topic() -> None:
    assert SourceTable.of_topic("shop.public.orders") == SourceTable("public", "orders")
    with pytest.raises(OpsError, match="--table"):
        SourceTable.of_topic("orders")


@pytest.mark.parametrize("lsn", [0, 1, 0x16_B374D848, 2**64 - 1])
def test_lsn_text_round_trips(lsn: int) -> None:
    assert parse_lsn(format_lsn(lsn)) == lsn


@pytest.mark.parametrize(
    ("ahead", "at", "text"),
    [(100, 40, "60 WAL bytes behind"), (100, 100, "up to date"), (None, 1, ""), (1, None, "")],
)
def test_behind(ahead: int | None, at: int | None, text: str) -> None:
    assert behind(ahead, at) == text


def _result() -> Result:
    ok = Tally("postgres:public.people", ("ssn", "amount"), expected=2, rows=2, read=2)
    ok.nulls_expected, ok.nulls_sink = [1, 0], [1, 0]
    ok.newest_version = (0x1000 << 1) | 1
    bad = Tally("redis:person:{id}", ("ssn", "amount"), expected=2, rows=3, read=2)
    bad.add_missing((7,))
    bad.pair((3,), ("h1", "1.00"), ("h1", "2.00"))
    bad.extra = 1
    busy = Tally("clickhouse:people", ("ssn", "amount"))
    busy.fail("busy", "busy: stop the worker or point STREAMAPP_CLICKHOUSE_DSN at a server")
    return Result(
        "people",
        SourceTable("public", "people"),
        SourcePosition(0x1100, "slot1", 0x1080),
        Counts(source_rows=3, expected=2, filtered=1),
        (),
        False,
        [ok, bad, busy],
    )


def test_report_names_keys_and_columns_never_values() -> None:
    result = _result()
    text = "\n".join(render(result, ("id",), 0.0, False))
    assert "postgres:public.people  MATCH" in text
    assert "redis:person:{id}  DIFFERS" in text
    assert "  missing keys    id=7" in text
    assert "  differing keys  id=3 (amount)" in text
    assert "  extra keys      1 (counted by SCAN)" in text
    assert "clickhouse:people  BUSY  busy: stop the worker" in text
    assert "newest applied change at 0/1000 (256 WAL bytes behind)" in text
    assert "slot slot1 confirmed 0/1080 (128 WAL bytes behind)" in text
    assert "h1" not in text and "2.00" not in text
    assert text.splitlines()[-1].startswith("result: NOT VERIFIED, 1 of 3 sink(s) match")
    assert exit_code(result, 0.0) == 2
    result.tallies.pop()
    assert exit_code(result, 0.0) == 1
    assert exit_code(result, 1.0) == 1  # 3 bad rows of 2 expected
    result.tallies[1].extra = 0
    assert exit_code(result, 1.0) == 0
