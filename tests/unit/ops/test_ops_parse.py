"""Positions, partition lists and durations as operators type them; times formatted back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.ops.parse import (
    Position,
    format_age,
    format_ms,
    parse_duration,
    parse_partitions,
    parse_position,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("earliest", Position("earliest")),
        (" LATEST ", Position("latest")),
        ("offset 42", Position("offset", 42)),
        ("offset:7", Position("offset", 7)),
        ("offset=0", Position("offset", 0)),
        ("1714557600000", Position("timestamp", 1_714_557_600_000)),
        ("2024-05-01T10:00:00Z", Position("timestamp", 1_714_557_600_000)),
        ("2024-05-01T10:00:00", Position("timestamp", 1_714_557_600_000)),  # naive = UTC
        ("2024-05-01T12:00:00+02:00", Position("timestamp", 1_714_557_600_000)),
        ("2024-05-01", Position("timestamp", 1_714_521_600_000)),
    ],
)
def test_positions(text: str, expected: Position) -> None:
    assert parse_position(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "offset", "offset -1", "-5", "2024-13-01", "off 3"])
def test_bad_positions_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="is not a position; use earliest, latest, 'offset N'"):
        parse_position(text)


@pytest.mark.parametrize("text", ["earliest", "latest"])
def test_a_kind_outside_allow_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="use 'offset N', an ISO time"):
        parse_position(text, allow=("offset", "timestamp"))


@pytest.mark.parametrize(
    ("text", "expected"), [("0", (0,)), ("2,0", (0, 2)), (" 1, 1 ,3", (1, 3)), ("5,", (5,))]
)
def test_partition_lists(text: str, expected: tuple[int, ...]) -> None:
    assert parse_partitions(text) == expected


@pytest.mark.parametrize("text", ["", ",", "a", "1,-2", "1.5"])
def test_bad_partition_lists(text: str) -> None:
    with pytest.raises(ValueError, match="not a partition list"):
        parse_partitions(text)


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("90s", 90_000),
        ("15m", 900_000),
        ("2h", 7_200_000),
        ("7d", 604_800_000),
        ("1w", 604_800_000),
        ("1h30m", 5_400_000),
        ("1H 30M", 5_400_000),
    ],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "5", "m", "5x", "1h-30m", "0s", "h1"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@given(st.lists(st.tuples(st.integers(1, 10_000), st.sampled_from("smhdw")), min_size=1))
def test_a_duration_is_the_sum_of_its_parts(parts: list[tuple[int, str]]) -> None:
    unit = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
    text = "".join(f"{n}{u}" for n, u in parts)
    assert parse_duration(text) == sum(n * unit[u] for n, u in parts)


@given(st.integers(0, 4_102_444_800_000))
def test_format_ms_reads_back_as_the_same_position(ms: int) -> None:
    assert parse_position(format_ms(ms)) == Position("timestamp", ms)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (59.9, "59s"),
        (61, "1m01s"),
        (3600 * 3 + 720, "3h12m"),
        (86_400 * 2 + 3600 * 4, "2d04h"),
    ],
)
def test_ages(seconds: float, text: str) -> None:
    assert format_age(seconds) == text


def test_format_ms_of_none() -> None:
    assert format_ms(None) == "-"
