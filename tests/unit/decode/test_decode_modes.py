"""Handling modes: declared per source with Debezium's names, defaults, and live comparison."""

from __future__ import annotations

import pytest

from streamapp.decode.modes import PROPERTIES, HandlingModes
from streamapp.topology import Source, Topology
from streamapp.transform.checks import declaration_problems

PG = "io.debezium.connector.postgresql.PostgresConnector"
MYSQL = "io.debezium.connector.mysql.MySqlConnector"


def test_defaults_are_debeziums() -> None:
    assert HandlingModes().as_config() == {
        "decimal.handling.mode": "precise",
        "time.precision.mode": "adaptive",
        "binary.handling.mode": "bytes",
        "interval.handling.mode": "numeric",
        "hstore.handling.mode": "json",
        "bigint.unsigned.handling.mode": "long",
    }
    assert HandlingModes.parse(None) == HandlingModes.parse({}) == HandlingModes()


def test_parse_reads_debezium_names_case_insensitively() -> None:
    modes = HandlingModes.parse(
        {"decimal.handling.mode": "STRING", "time.precision.mode": "connect"}
    )
    assert (modes.decimal, modes.time_precision) == ("string", "connect")


def test_parse_names_every_bad_entry() -> None:
    with pytest.raises(ValueError) as info:
        HandlingModes.parse({"decimal.handling.mode": "exact", "tombstones.on.delete": "true"})
    text = str(info.value)
    assert "decimal.handling.mode='exact' is not one of precise, double, string" in text
    assert "'tombstones.on.delete' is not a handling mode streamapp reads" in text


@pytest.mark.parametrize(
    ("declared", "cls", "config", "expected"),
    [
        ({}, PG, {}, []),
        ({}, PG, {"decimal.handling.mode": "precise"}, []),
        (
            {"decimal.handling.mode": "string"},
            PG,
            {},
            ["decimal.handling.mode: the topology reads string, the connector writes precise"],
        ),
        (
            {},
            PG,
            {"time.precision.mode": "connect"},
            ["time.precision.mode: the topology reads adaptive, the connector writes connect"],
        ),
        # MySQL's default differs from PostgreSQL's: an undeclared source is told so
        (
            {},
            MYSQL,
            {},
            [
                "time.precision.mode: the topology reads adaptive, "
                "the connector writes adaptive_time_microseconds"
            ],
        ),
        ({"time.precision.mode": "adaptive_time_microseconds"}, MYSQL, {}, []),
        # a property the connector does not have is not compared
        (
            {"hstore.handling.mode": "map"},
            MYSQL,
            {},
            [
                "time.precision.mode: the topology reads "
                "adaptive, the connector writes "
                "adaptive_time_microseconds"
            ],
        ),
        ({"bigint.unsigned.handling.mode": "precise"}, PG, {}, []),
    ],
)
def test_mismatches_with_a_running_connector(
    declared: dict[str, str], cls: str, config: dict[str, str], expected: list[str]
) -> None:
    assert HandlingModes.parse(declared).mismatches(cls, config) == expected


def test_every_property_default_is_allowed() -> None:
    for allowed, default, _ in PROPERTIES.values():
        assert default in allowed


def test_a_source_with_a_bad_mode_is_a_topology_problem() -> None:
    top = Topology(
        name="t",
        source=Source("db.public.t", {"id": "int"}, handling={"binary.handling.mode": "raw"}),
        key="id",
    )
    problems = declaration_problems(top)
    assert problems == [
        "source handling: binary.handling.mode='raw' is not one of bytes, base64, "
        "base64-url-safe, hex"
    ]
