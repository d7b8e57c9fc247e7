"""The freshness contract: per partition newest stored source time, caught-up clock, minimum."""

from __future__ import annotations

from typing import Any, NamedTuple

import pytest

from streamapp.observability.freshness import HW_SLACK, FreshnessTracker, iso


class TP(NamedTuple):
    topic: str
    partition: int


class Rec(NamedTuple):
    topic: str
    partition: int
    offset: int


class Out(NamedTuple):
    source_ts_ms: int | None


class Prepared(NamedTuple):
    records: list[Rec]
    outputs: list[Out]
    origins: list[int]


T0, T1 = TP("src", 0), TP("src", 1)
NOW = 1_800_000_000.0


def batch(parts: dict[TP, list[int | None]]) -> tuple[dict[TP, list[Rec]], Prepared]:
    """Records per partition, one output per record with the given source ts (None: the
    record had no output, e.g. a tombstone)."""
    fetched: dict[TP, list[Rec]] = {}
    records, outputs, origins = [], [], []
    for tp, stamps in parts.items():
        fetched[tp] = []
        for i, ts in enumerate(stamps):
            rec = Rec(tp.topic, tp.partition, 100 + i)
            fetched[tp].append(rec)
            if ts is not None:
                outputs.append(Out(ts))
                origins.append(len(records))
            records.append(rec)
    return fetched, Prepared(records, outputs, origins)


def tracker() -> FreshnessTracker:
    return FreshnessTracker({"orders": ["src"]}, {"orders": ["postgres:orders"]}, lambda _: 2)


def progress(state: dict[TP, tuple[int | None, int | None, bool]]) -> Any:
    return lambda tp: state[tp]


def test_each_partition_keeps_its_newest_stored_time_and_the_topology_takes_the_minimum() -> None:
    tr = tracker()
    tr.stored(*batch({T0: [1000, 2000, None], T1: [1500, None]}))
    [fresh] = tr.snapshot([T0, T1], progress({T0: (200, 500, False), T1: (200, 500, False)}), NOW)
    by = {p.partition: p.complete_through_ms for p in fresh.partitions}
    assert by == {0: 2000, 1: 1500}  # records without output do not move the time
    assert fresh.complete_through_ms == 1500
    assert fresh.owns_all and fresh.sinks == ("postgres:orders",)


def test_a_caught_up_partition_is_complete_through_the_connector_clock() -> None:
    tr = tracker()
    tr.stored(*batch({T0: [1000], T1: [5000]}))
    state = {T0: (101, 101, False), T1: (101, 900, False)}  # T0 caught up, T1 behind
    [fresh] = tr.snapshot([T0, T1], progress(state), NOW)
    assert [p.complete_through_ms for p in fresh.partitions] == [5000, 5000]
    state[T1] = (101, 101, False)
    tr.heartbeat("orders", 9000)
    [fresh] = tr.snapshot([T0, T1], progress(state), NOW)
    assert fresh.complete_through_ms == 9000


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ({T0: (101, 101, True), T1: (101, 101, False)}, 1000),  # paused: its watermark is old
        ({T0: (101, 150, False), T1: (101, 101, False)}, 1000),  # behind
        ({T0: (None, 150, False), T1: (101, 101, False)}, 1000),  # no position yet
    ],
)
def test_a_partition_not_known_to_be_caught_up_keeps_its_own_time(
    state: dict[TP, tuple[int | None, int | None, bool]], expected: int
) -> None:
    tr = tracker()
    tr.stored(*batch({T0: [1000], T1: [5000]}))
    [fresh] = tr.snapshot([T0, T1], progress(state), NOW)
    assert fresh.partitions[0].complete_through_ms == expected


def test_a_partition_without_a_time_makes_the_topology_unknown() -> None:
    tr = tracker()
    tr.stored(*batch({T1: [5000]}))
    [fresh] = tr.snapshot([T0, T1], progress({T0: (0, 7, False), T1: (1, 1, False)}), NOW)
    assert fresh.complete_through_ms is None
    assert fresh.as_json(int(NOW * 1000))["lag_seconds"] is None


def test_the_heartbeat_clock_is_capped_one_fetch_back() -> None:
    tr = tracker()
    tr.heartbeat("orders", int(NOW * 1000) + 60_000)  # a connector clock ahead of ours
    [fresh] = tr.snapshot([T0], progress({T0: (0, 0, False)}), NOW)
    assert fresh.complete_through_ms == int((NOW - HW_SLACK) * 1000)


def test_owning_some_partitions_is_reported_and_revoked_ones_are_forgotten() -> None:
    tr = tracker()
    tr.stored(*batch({T0: [1000], T1: [5000]}))
    [fresh] = tr.snapshot([T1], progress({T1: (101, 900, False)}), NOW)
    assert not fresh.owns_all and fresh.partitions_total == 2
    assert fresh.source_position == "src/1@101"
    tr.forget([T1])
    [fresh] = tr.snapshot([T0, T1], progress({T0: (101, 900, False), T1: (101, 900, False)}))
    assert fresh.partitions[0].complete_through_ms is None


def test_times_only_move_forward_and_iso_is_utc() -> None:
    tr = tracker()
    tr.stored(*batch({T0: [5000]}))
    tr.stored(*batch({T0: [4000]}))  # a replayed older event
    [fresh] = tr.snapshot([T0], progress({T0: (101, 900, False)}), NOW)
    assert fresh.complete_through_ms == 5000
    assert iso(1_700_000_000_123) == "2023-11-14T22:13:20.123Z"


def test_heartbeat_topics_are_looked_for_by_the_source_topics_prefixes() -> None:
    from streamapp.observability.freshwire import heartbeat_candidates

    assert heartbeat_candidates("shop.public.orders") == [
        "__debezium-heartbeat.shop.public",
        "__debezium-heartbeat.shop",
    ]


def test_metrics_export_the_complete_through_lag_of_owned_topologies_only() -> None:
    """/metrics' streamapp_complete_through_lag_seconds: now - complete_through per topology
    with a known time; no sample while it is unknown (the alert must not see a stale 0)."""
    import time

    from streamapp.observability.freshwire import FreshnessService
    from streamapp.observability.metrics import Metrics
    from streamapp.settings import Settings

    tr = tracker()
    fetched, prepared = batch({T0: [1_000], T1: [None]})
    tr.stored(fetched, prepared)
    state = {T0: (101, 500, False), T1: (101, 500, False)}

    class Consumer:
        progress = staticmethod(progress(state))

        @staticmethod
        def assignment() -> set[TP]:
            return {T0, T1}

    service = FreshnessService(Consumer(), [], Settings.from_env({}), tr)
    metrics = Metrics()
    service.export(metrics)  # partition 1 has no time yet: unknown, no sample
    assert (
        metrics.registry.get_sample_value(
            "streamapp_complete_through_lag_seconds", {"topology": "orders"}
        )
        is None
    )
    tr.stored(*batch({T1: [2_000]}))
    service.export(metrics)
    lag = metrics.registry.get_sample_value(
        "streamapp_complete_through_lag_seconds", {"topology": "orders"}
    )
    assert lag is not None and abs(lag - (time.time() - 1.0)) < 5
