"""Real connector output (tests/golden/decode/real/): Debezium PostgreSQL 3.0.8 + JsonConverter."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streamapp.decode import Decoder
from streamapp.records import Op
from streamapp.types import parse_type

REAL = json.loads(
    (Path(__file__).parents[2] / "golden" / "decode" / "real" / "pg_fidelity.json").read_text()
)
TOPIC = "h11capschema.h11cap.fidelity"
COLUMNS = {
    "id": "int",
    "r": "float",
    "d": "float",
    "s": "int",
    "b": "bool",
    "n": "decimal(10,2)",
    "ts3": "timestamp(3)",
    "ts6": "timestamp",
    "tstz": "timestamptz",
    "t3": "time(3)",
    "t6": "time",
    "ttz": "time",
    "dt": "date",
    "iv": "duration",
}
ROW1 = {
    "id": 1,
    "r": 1.5,
    "d": 2.25,
    "s": 7,
    "b": True,
    "n": Decimal("12.34"),
    "ts3": datetime(2026, 3, 1, 12, 34, 56, 789000),
    "ts6": datetime(2026, 3, 1, 12, 34, 56, 789012),
    "tstz": datetime(2026, 3, 1, 10, 34, 56, 789000, tzinfo=UTC),
    "t3": time(12, 34, 56, 789000),
    "t6": time(12, 34, 56, 789012),
    "ttz": time(10, 34, 56),  # timetz '12:34:56+02' -> ZonedTime '10:34:56Z' -> naive UTC
    "dt": date(2026, 3, 1),
    "iv": timedelta(days=1, hours=2),
}
ROW2 = {
    "id": 2,
    "r": math.nan,
    "d": math.inf,
    "s": -1,
    "b": False,
    "n": Decimal("-0.01"),
    "ts3": datetime(1969, 12, 31, 23, 59, 59, 999000),
    "ts6": datetime(2000, 1, 1),
    "tstz": datetime(2000, 1, 1, tzinfo=UTC),
    "t3": time(0),
    "t6": time(23, 59, 59, 999999),
    "ttz": time(0),
    "dt": date(1969, 12, 31),
    "iv": timedelta(days=-3),
}
ROW3 = {name: (3 if name == "id" else None) for name in COLUMNS}


def same(row: dict[str, Any], expected: dict[str, Any]) -> None:
    assert row.keys() == expected.keys()
    for name, want in expected.items():
        got = row[name]
        if isinstance(want, float) and math.isnan(want):
            assert isinstance(got, float) and math.isnan(got), name
        else:
            assert got == want and type(got) is type(want), name
        if isinstance(want, (datetime, time)):
            assert (got.tzinfo is None) == (want.tzinfo is None), name


def decode_all(messages: list[dict[str, str]], decoder: Decoder) -> list[Any]:
    return [
        decoder.decode(m["key"].encode(), m["value"].encode(), topic=TOPIC, offset=i)
        for i, m in enumerate(messages)
    ]


@pytest.mark.parametrize("declared", [False, True], ids=["no-hints", "declared"])
def test_json_with_schema_real_double_float_ms_timestamps_and_timetz(declared: bool) -> None:
    hints = {k: parse_type(v) for k, v in COLUMNS.items()} if declared else None
    events = decode_all(REAL["with_schema"], Decoder(hints=hints))
    assert [e.op for e in events] == [Op.READ, Op.CREATE, Op.CREATE]
    for event, expected in zip(events, (ROW1, ROW2, ROW3), strict=True):
        assert event.key == {"id": expected["id"]}
        same(event.after, expected)


def test_schemaless_real_values_with_declared_precisions() -> None:
    hints = {k: parse_type(v) for k, v in COLUMNS.items()}
    events = decode_all(REAL["schemaless"], Decoder(hints=hints))
    for event, expected in zip(events, (ROW1, ROW2, ROW3), strict=True):
        same(event.after, expected)


def test_schemaless_millisecond_timestamp_without_its_precision_is_misread() -> None:
    """Why ``timestamp(3)`` must be declared: the value alone cannot tell ms from us."""
    hints = {**{k: parse_type(v) for k, v in COLUMNS.items()}, "ts3": parse_type("timestamp")}
    event = decode_all(REAL["schemaless"][:1], Decoder(hints=hints))[0]
    assert event.after["ts3"].year == 1970
