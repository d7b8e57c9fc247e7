"""Slot health without a server: names, growth over a window, gauges, status lines, settings."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from prometheus_client import generate_latest

from streamapp.errors import ConfigError
from streamapp.observability.metrics import Metrics
from streamapp.observability.slot import (
    SlotReading,
    SlotSample,
    SlotTrend,
    parse_slot_names,
    read_slots,
    render_slots,
)
from streamapp.observability.slotwatch import SlotWatch, start_slot_watch
from streamapp.settings import Settings


def _reading(at: float, **lags: int | None) -> SlotReading:
    slots = tuple(SlotSample(name, "pgoutput", True, lag) for name, lag in lags.items())
    return SlotReading("postgres", slots, at=at)


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("*", None),
        ("a, *", None),
        ("", ()),
        (" , ", ()),
        ("streamapp_shop", ("streamapp_shop",)),
        ("a,b , c", ("a", "b", "c")),
    ],
)
def test_slot_names_setting(value: str, names: tuple[str, ...] | None) -> None:
    assert parse_slot_names(value) == names


def test_growth_is_the_change_over_the_window() -> None:
    trend = SlotTrend(window=60)
    assert trend.add(_reading(0, s=1000)) == {}  # one sample: no rate yet
    assert trend.add(_reading(0.5, s=1500)) == {}  # under a second apart: no rate yet
    assert trend.add(_reading(10, s=2000)) == {"s": 100.0}
    assert trend.add(_reading(30, s=7000)) == {"s": 200.0}
    # past the window the oldest samples go: 100 s -> compared with the one at 30 s
    assert trend.add(_reading(100, s=7000)) == {"s": 0.0}
    assert trend.add(_reading(110, s=6000)) == {"s": -1000 / 80}


def test_a_slot_that_goes_away_is_forgotten_and_unconfirmed_ones_are_skipped() -> None:
    trend = SlotTrend(window=60)
    trend.add(_reading(0, a=100, b=100, c=None))
    assert trend.add(_reading(10, a=200, c=None)) == {"a": 10.0}
    assert trend.add(_reading(20, a=200, b=500)) == {"a": 5.0}  # b starts again


def test_status_lines_for_slots_missing_names_problems_and_mysql() -> None:
    reading = SlotReading(
        "postgres",
        (
            SlotSample("streamapp_shop", "pgoutput", True, 163064, "reserved"),
            SlotSample("old", "test_decoding", False, None, None),
        ),
        missing=("typo",),
    )
    lines = render_slots(
        "postgresql://u:secret@h:5432/source", reading, {"streamapp_shop": 21.4}, 3
    )
    text = "\n".join(lines)
    assert "secret" not in text and "postgresql://u:***@h:5432/source" in text
    assert "slot            plugin         active  lag bytes  growth (3 s)  wal" in text
    assert "streamapp_shop  pgoutput       yes       163,064       +21 B/s  reserved" in text
    assert "old             test_decoding  NO              -             -  -" in text
    assert "slot typo: no such replication slot on the source" in text

    problem = SlotReading("postgres", problem="cannot read replication slots from x (refused)")
    assert render_slots("x", problem, {}, 0)[-1] == (
        "  slots         unknown: cannot read replication slots from x (refused)"
    )
    none = render_slots("x", SlotReading("postgres"), {}, 1)
    assert none[-1] == "  slots         none (no logical replication slot on the source database)"
    mysql = render_slots(
        "mariadb://u:p@h/shop", SlotReading("mysql", binlog="bin.000003:42"), {}, 1
    )
    assert mysql[2] == "  binlog        bin.000003:42"
    assert "none: a MySQL-family source has none" in mysql[3]


def test_an_unreachable_source_is_a_problem_not_an_exception() -> None:
    reading = read_slots("postgresql://streamapp:hunter2@127.0.0.1:1/source", None, timeout=2)
    assert reading.problem is not None and reading.slots == ()
    assert "hunter2" not in reading.problem and "127.0.0.1:1" in reading.problem
    assert "STREAMAPP_SOURCE_DSN" in reading.problem
    mysql = read_slots("mysql://streamapp:hunter2@127.0.0.1:1/shop", None, timeout=2)
    assert mysql.kind == "mysql" and mysql.problem is not None and "hunter2" not in mysql.problem


def _exposed(metrics: Metrics) -> str:
    return generate_latest(metrics.registry).decode()


class _Reader:
    """Readings to hand out in order, as read_slots would return them."""

    def __init__(self, *readings: SlotReading | Exception) -> None:
        self.readings = list(readings)

    def __call__(self, dsn: str, names: Any) -> SlotReading:
        item = self.readings.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def test_the_worker_sampler_sets_clears_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    metrics = Metrics()
    s = Settings(source_slots="*", slot_lag_window="60")
    down = SlotReading("postgres", problem="cannot read replication slots from x (refused)")
    reader = _Reader(
        _reading(0, shop=1000, other=5),
        _reading(10, shop=3000),
        down,
        down,
        RuntimeError("boom"),
        _reading(40, shop=500),
    )
    watch = SlotWatch(s, metrics, reader)
    caplog.set_level(logging.INFO, "streamapp.slots")

    asyncio.run(watch.sample())
    text = _exposed(metrics)
    assert 'streamapp_source_slot_lag_bytes{slot="shop"} 1000.0' in text
    assert 'streamapp_source_slot_lag_bytes{slot="other"} 5.0' in text
    assert 'streamapp_source_slot_active{slot="shop"} 1.0' in text
    assert "streamapp_source_slot_lag_growth_bytes_per_second{" not in text

    asyncio.run(watch.sample())
    text = _exposed(metrics)
    assert 'streamapp_source_slot_lag_bytes{slot="shop"} 3000.0' in text
    assert 'streamapp_source_slot_lag_growth_bytes_per_second{slot="shop"} 200.0' in text
    assert 'slot="other"' not in text  # a dropped slot leaves no stale series

    for _ in range(3):  # unreachable twice, then a reader that raises: gauges absent, no crash
        asyncio.run(watch.sample())
        assert "streamapp_source_slot_lag_bytes{" not in _exposed(metrics)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "cannot read replication slots from x (refused); slot gauges absent until it answers"
    ]

    asyncio.run(watch.sample())
    assert 'streamapp_source_slot_lag_bytes{slot="shop"} 500.0' in _exposed(metrics)
    assert any("answers again" in r.getMessage() for r in caplog.records)


def test_a_missing_named_slot_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    reading = SlotReading("postgres", missing=("typo",))
    watch = SlotWatch(Settings(source_slots="typo"), Metrics(), _Reader(reading, reading))
    asyncio.run(watch.sample())
    asyncio.run(watch.sample())
    assert [r.getMessage() for r in caplog.records if "typo" in r.getMessage()] == [
        "STREAMAPP_SOURCE_SLOTS: no replication slot typo on the source "
        "postgresql://streamapp:***@127.0.0.1:15432/source"
    ]


class _App:
    def __init__(self) -> None:
        self.tasks: list[Any] = []

    def task(self, fun: Any) -> Any:
        self.tasks.append(fun)
        return fun


@pytest.mark.parametrize(
    ("settings", "started"),
    [
        (Settings(), True),
        (Settings(slot_lag_interval="0"), False),
        (Settings(source_slots=""), False),
        (Settings(source_dsn="mariadb://u:p@127.0.0.1:13306/shop"), False),
    ],
)
def test_the_sampler_starts_only_for_a_postgresql_source_with_slots(
    settings: Settings, started: bool
) -> None:
    app = _App()
    watch = start_slot_watch(app, settings, Metrics())
    assert (watch is not None) is started
    assert len(app.tasks) == (1 if started else 0)


def test_metrics_declare_gaps_and_expose_the_process_start_time() -> None:
    metrics = Metrics()
    metrics.gaps.labels("orders", "shop.public.orders[1]").inc()
    text = _exposed(metrics)
    assert 'streamapp_gaps_total{partition="shop.public.orders[1]",topology="orders"} 1.0' in text
    assert "process_start_time_seconds " in text


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("STREAMAPP_SLOT_LAG_INTERVAL", "often", "use seconds, 1 to 3600, or 0 for off"),
        ("STREAMAPP_SLOT_LAG_INTERVAL", "0.5", "use seconds, 1 to 3600, or 0 for off"),
        ("STREAMAPP_SLOT_LAG_INTERVAL", "7200", "use seconds, 1 to 3600, or 0 for off"),
        ("STREAMAPP_SLOT_LAG_WINDOW", "5", "use seconds, 10 to 86400"),
        ("STREAMAPP_SLOT_LAG_WINDOW", "nan", "use seconds, 10 to 86400"),
    ],
)
def test_invalid_slot_settings_are_one_line(env: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({env: value})
    assert Settings.from_env({"STREAMAPP_SLOT_LAG_INTERVAL": "0"}).slot_lag_interval == "0"
