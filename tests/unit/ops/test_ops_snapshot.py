"""`streamapp snapshot`'s pure logic: tables, signal rows, and the snapshot's state in offsets."""

from __future__ import annotations

import json
import re
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.cli import build_parser
from streamapp.ops import OpsError
from streamapp.ops.connect import ConnectorConfig
from streamapp.ops.snapshot import (
    check_signalling,
    java_long_key,
    new_signal_id,
    resolve_tables,
    signal_data,
    snapshot_collections,
    snapshot_state,
    split_table,
    table_of_topic,
)

# Debezium 3.0.8's incremental_snapshot_primary_key / _maximum_key for an Object[]{Long}, as
# read from a real connector's offsets (keys 2581 and 3000).
_LONG_PREFIX = (
    "aced0005757200135b4c6a6176612e6c616e672e4f626a6563743b90ce589f1073296c0200007870000000017372"
    "000e6a6176612e6c616e672e4c6f6e673b8be490cc8f23df0200014a000576616c7565787200106a6176612e6c61"
    "6e672e4e756d62657286ac951d0b94e08b020000787000000000"
)
KEY_2581 = _LONG_PREFIX + "00000a15"
KEY_3000 = _LONG_PREFIX + "00000bb8"
SHOP = ConnectorConfig(
    "shop",
    {
        "connector.class": "io.debezium.connector.postgresql.PostgresConnector",
        "database.dbname": "source",
        "topic.prefix": "shop",
        "table.include.list": "public.customers,public.orders,public.debezium_signal",
        "signal.data.collection": "public.debezium_signal",
        "signal.enabled.channels": "source",
    },
)


def _config(**values: str) -> ConnectorConfig:
    return ConnectorConfig("c", {k.replace("_", "."): v for k, v in values.items()})


@pytest.mark.parametrize(
    ("values", "table", "captured"),
    [
        ({}, "public.orders", True),
        ({"table.include.list": "public.orders"}, "public.orders", True),
        ({"table.include.list": "public.orders"}, "public.orders_archive", False),  # anchored
        ({"table.include.list": "public.orders"}, "xpublic.orders", False),
        ({"table.include.list": "public.ORDERS"}, "public.orders", True),  # case-insensitive
        ({"table.include.list": "public\\.ord.*,s\\.t"}, "public.orders", True),
        ({"table.include.list": "public\\.ord.*, s\\.t"}, "s.t", True),
        ({"table.include.list": "a\\.x{1\\,3}"}, "a.xx", True),  # \, escapes a comma
        ({"table.exclude.list": "public.orders"}, "public.orders", False),
        ({"table.exclude.list": "public.orders"}, "public.customers", True),
        ({"schema.include.list": "sales"}, "public.orders", False),
        ({"schema.include.list": "sales,public"}, "public.orders", True),
        ({"schema.exclude.list": "public"}, "public.orders", False),
    ],
)
def test_captures_applies_debezium_lists(
    values: dict[str, str], table: str, captured: bool
) -> None:
    assert ConnectorConfig("c", values).captures(table) is captured


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "connector 'c' has no signal table; create one"),
        (
            {"signal.data.collection": "public.sig", "signal.enabled.channels": "kafka,jmx"},
            "does not read its signal table (signal.enabled.channels=kafka,jmx); add 'source'",
        ),
        (
            {"signal.data.collection": "public.sig", "table.include.list": "public.orders"},
            "its signal table public.sig is not captured",
        ),
    ],
)
def test_check_signalling_refuses(values: dict[str, str], message: str) -> None:
    with pytest.raises(OpsError, match=re.escape(message)) as err:
        check_signalling(ConnectorConfig("c", values))
    assert "\n" not in str(err.value)


def test_check_signalling_returns_the_signal_table() -> None:
    assert check_signalling(SHOP) == "public.debezium_signal"
    default_channel = ConnectorConfig("c", {"signal.data.collection": "public.s"})
    assert default_channel.signal_channels == ("source",)
    assert check_signalling(default_channel) == "public.s"


@pytest.mark.parametrize(
    ("topic", "prefix", "table"),
    [
        ("shop.public.orders", "shop", "public.orders"),
        ("shop.public.orders", "shopjson", None),
        ("shopjson.public.orders", "shop", None),
        ("shop.orders", "shop", None),
        ("shop.a.b.c", "shop", None),
        ("shop.public.", "shop", None),
        ("shop.public.orders", None, None),
    ],
)
def test_table_of_topic(topic: str, prefix: str | None, table: str | None) -> None:
    assert table_of_topic(topic, prefix) == table


@pytest.mark.parametrize("text", ["orders", "a.b.c", ".orders", "public.", ""])
def test_split_table_refuses_other_forms(text: str) -> None:
    with pytest.raises(OpsError, match=re.escape("is not of the form schema.table")):
        split_table(text)


def test_resolve_tables_by_name_and_topology() -> None:
    topics = {"orders": "shop.public.orders", "legacy": "other.public.legacy"}
    got = resolve_tables(["public.customers", "orders", "public.orders"], SHOP, topics.__getitem__)
    assert got == ("public.customers", "public.orders")  # order kept, duplicate dropped
    with pytest.raises(
        OpsError, match=re.escape("topology 'legacy' reads topic 'other.public.legacy'")
    ):
        resolve_tables(["legacy"], SHOP, topics.__getitem__)


@given(st.lists(st.text(min_size=1), max_size=5))
def test_signal_data_is_debezium_json(tables: list[str]) -> None:
    assert json.loads(signal_data(tables)) == {"data-collections": tables, "type": "incremental"}


def test_signal_ids_fit_the_signal_table_and_differ() -> None:
    ids = {new_signal_id() for _ in range(100)}
    assert len(ids) == 100 and all(len(i) <= 42 for i in ids)


def _offsets(server: str = "shop", **offset: object) -> list[dict[str, object]]:
    return [{"partition": {"server": server}, "offset": offset}]


def _collections(*tables: str) -> str:
    return json.dumps(
        [
            {
                "incremental_snapshot_collections_id": t,
                "incremental_snapshot_collections_additional_condition": None,
                "incremental_snapshot_collections_surrogate_key": None,
            }
            for t in tables
        ]
    )


@pytest.mark.parametrize(
    ("offsets", "phase", "key", "max_key"),
    [
        ([], "pending", None, None),  # nothing committed yet
        (_offsets(lsn=900, lsn_commit=950), "pending", None, None),  # before the signal
        (_offsets(lsn=1000), "done", None, None),  # at the signal's position, no snapshot
        (_offsets(lsn_proc=1200, lsn=10), "done", None, None),
        (
            _offsets(
                lsn=990,  # a running snapshot wins whatever the position
                incremental_snapshot_collections=_collections("public.orders"),
                incremental_snapshot_primary_key=KEY_2581,
                incremental_snapshot_maximum_key=KEY_3000,
            ),
            "running",
            2581,
            3000,
        ),
        (
            _offsets(lsn=2000, incremental_snapshot_collections=_collections("PUBLIC.Orders")),
            "running",
            None,
            None,
        ),
        (  # another table's snapshot does not hold ours
            _offsets(lsn=2000, incremental_snapshot_collections=_collections("public.other")),
            "done",
            None,
            None,
        ),
        (  # releases before 2.0 joined the ids with commas
            _offsets(lsn=2000, incremental_snapshot_collections="public.a,public.orders"),
            "running",
            None,
            None,
        ),
        (  # another connector's partition is not ours
            _offsets("other", lsn=2000, incremental_snapshot_collections="public.orders"),
            "pending",
            None,
            None,
        ),
    ],
)
def test_snapshot_state(
    offsets: list[dict[str, object]], phase: str, key: int | None, max_key: int | None
) -> None:
    state = snapshot_state(offsets, "shop", ["public.orders"], 1000)
    assert (state.phase, state.key, state.max_key) == (phase, key, max_key)


def test_snapshot_collections_ignores_garbage() -> None:
    assert snapshot_collections({}) == []
    assert snapshot_collections({"incremental_snapshot_collections": 5}) == []
    assert snapshot_collections({"incremental_snapshot_collections": "[1, {}]"}) == []


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_java_long_key_reads_any_long(value: int) -> None:
    assert java_long_key(_LONG_PREFIX[:-8] + struct.pack(">q", value).hex()) == value


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        "zz",
        "aced0005",
        KEY_3000.replace("00000001", "00000002", 1),  # two key columns
        KEY_3000.replace("4c6f6e67", "4c6f6e68"),  # not a java.lang.Long
    ],
)
def test_java_long_key_refuses_other_keys(text: str | None) -> None:
    assert java_long_key(text) is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["snapshot", "public.orders"],
            {"tables": ["public.orders"], "connector": "shop", "wait": False, "stop": False},
        ),
        (
            ["snapshot", "a.b", "orders", "--connector", "c", "--wait", "--timeout", "30"],
            {"tables": ["a.b", "orders"], "connector": "c", "wait": True, "timeout": 30.0},
        ),
        (["snapshot", "a.b", "--stop"], {"stop": True, "wait": False}),
    ],
)
def test_command_line(argv: list[str], expected: dict[str, object]) -> None:
    args = vars(build_parser().parse_args(argv))
    assert {k: args[k] for k in expected} == expected


def test_wait_and_stop_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["snapshot", "a.b", "--wait", "--stop"])
