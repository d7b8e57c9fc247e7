"""GapWatch: a jump past the expected offset is a gap only when retention removed the events."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import pytest

from streamapp.observability.metrics import Metrics
from streamapp.runtime.gaps import Gap, GapWatch


class TP(NamedTuple):
    topic: str
    partition: int


T0, T1 = TP("shop.public.orders", 0), TP("shop.public.orders", 1)


def watch(lows: dict[TP, int | None], policy: str = "snapshot") -> tuple[GapWatch, list[Any]]:
    seen: list[Any] = []

    async def low(tps: Any) -> dict[Any, int]:
        if any(lows[tp] is None for tp in tps):
            raise OSError("no answer")
        return {tp: lows[tp] for tp in tps}

    gw = GapWatch(
        {"orders": policy}, low, metrics=Metrics(), on_gap=lambda g, p: seen.append((g, p))
    )
    return gw, seen


def settle(gw: GapWatch, tps: list[TP], topology: str = "orders") -> list[Gap]:
    return asyncio.run(gw.settle(topology, tps))


@pytest.mark.parametrize(
    ("committed", "first", "low", "gap"),
    [
        (100, 100, 0, None),  # read on where it stopped
        (100, 101, 0, None),  # a transaction marker took offset 100
        (100, 140, 0, None),  # compaction removed records, the log still starts at 0
        (100, 140, 140, (100, 140, 40)),  # retention: the log starts past the committed offset
        (100, 140, None, (100, 140, 40)),  # start unknown: the fetched offset decides
        (None, 140, 140, None),  # nothing committed yet: a new group reads from the start
    ],
)
def test_a_jump_is_a_gap_only_past_the_log_start(
    committed: int | None, first: int, low: int | None, gap: tuple[int, int, int] | None
) -> None:
    gw, seen = watch({T0: low})
    gw.seen(T0, first, first + 9, committed)
    found = settle(gw, [T0])
    if gap is None:
        assert found == [] and seen == []
    else:
        (g,) = found
        assert (g.committed, g.first_available, g.lost) == gap
        assert seen == [(g, "snapshot")]
        sample = gw.metrics.registry.get_sample_value(  # type: ignore[union-attr]
            "streamapp_gaps_total", {"topology": "orders", "partition": "shop.public.orders[0]"}
        )
        assert sample == 1.0
    assert not gw.candidates


def test_a_reset_while_running_is_found_from_the_last_fetched_offset() -> None:
    gw, _seen = watch({T0: 500})
    gw.seen(T0, 10, 19, 10)
    gw.seen(T0, 20, 29, 10)  # the committed offset is not what counts once fetching went on
    assert not gw.candidates
    gw.seen(T0, 500, 510, 10)
    (gap,) = settle(gw, [T0])
    assert (gap.committed, gap.lost) == (30, 470)


def test_only_the_batch_partitions_are_settled_and_each_gap_once() -> None:
    gw, seen = watch({T0: 50, T1: 70})
    gw.seen(T0, 50, 60, 10)
    gw.seen(T1, 70, 80, 20)
    assert [g.partition for g in settle(gw, [T1])] == [1]
    assert list(gw.candidates) == [T0]
    assert [g.partition for g in settle(gw, [T0, T1])] == [0]
    assert settle(gw, [T0, T1]) == [] and len(seen) == 2


def test_reassignment_reads_from_the_committed_offset_again() -> None:
    gw, _seen = watch({T0: 0})
    gw.seen(T0, 10, 19, 10)
    gw.forget([T0])
    gw.seen(T0, 10, 19, 10)  # re-delivered from the committed offset: no jump
    assert not gw.candidates


def test_fail_policy_halts_with_one_error_line_and_ignore_records_only(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gw, seen = watch({T0: 40}, policy="fail")
    gw.seen(T0, 40, 41, 5)
    with caplog.at_level("WARNING", logger="streamapp.gaps"):
        assert len(settle(gw, [T0])) == 1
    assert gw.halted and seen[0][1] == "fail"
    (record,) = caplog.records
    text = record.getMessage()
    assert record.levelname == "ERROR" and "\n" not in text
    assert "committed offset 5, first available offset 40: 35 event(s) deleted" in text
    assert "on_gap='fail': stopping the worker" in text
    gw, seen = watch({T0: 40}, policy="ignore")
    gw.seen(T0, 40, 41, 5)
    assert len(settle(gw, [T0])) == 1 and seen[0][1] == "ignore" and len(gw.recent) == 1
    assert not gw.halted


def test_the_log_line_names_topology_topic_partition_and_offsets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gw, _seen = watch({T1: 1_200})
    gw.seen(T1, 1_200, 1_300, 1_000)
    with caplog.at_level("WARNING", logger="streamapp.gaps"):
        settle(gw, [T1])
    (record,) = caplog.records
    assert record.getMessage().startswith(
        "gap in topology orders: topic shop.public.orders partition 1: committed offset 1,000, "
        "first available offset 1,200: 200 event(s) deleted by retention before they were "
        "consumed; on_gap='snapshot'"
    )


def test_assignment_finds_a_committed_offset_below_the_log_start_without_a_fetch() -> None:
    gw, seen = watch({T0: 300, T1: 0})
    asyncio.run(gw.assigned({T0: "orders", T1: "orders"}, {T0: 120, T1: 40}))
    assert [(g.partition, g.committed, g.first_available) for g, _p in seen] == [(0, 120, 300)]
    gw.seen(T0, 300, 310, 120)  # the consumer's reset fetches from the log start: no second gap
    gw.seen(T1, 40, 45, 40)
    assert not gw.candidates and len(gw.recent) == 1


def test_assignment_with_nothing_committed_or_unknown_starts_finds_nothing() -> None:
    gw, seen = watch({T0: None, T1: 5})
    asyncio.run(gw.assigned({T0: "orders", T1: "orders"}, {T0: 3, T1: None}))
    assert seen == []
