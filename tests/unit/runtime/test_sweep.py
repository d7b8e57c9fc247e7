"""The sweep after a gap snapshot: two passes agree on a stray, then a tombstone through the
worker's own sink; busy sinks, failures and other topologies are left alone."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from streamapp.ops import OpsError
from streamapp.reconcile.merge import Diffs, Tally
from streamapp.records import Op, OutputRecord
from streamapp.runtime.sweep import SinkSweep, Sweeper

TOPIC = "shop.public.orders"


@dataclass
class FakeSink:
    """A started sink that stores what it is given (``refuse``: reject every record)."""

    kind: str = "postgres"
    refuse: bool = False
    written: list[OutputRecord] = field(default_factory=list)

    async def write(self, table: Any, records: list[OutputRecord]) -> list[Any]:
        if self.refuse:
            return [SimpleNamespace(error="no")]
        self.written.extend(records)
        return []


class Spec:
    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return self.name


def pipeline(name: str, on_gap: str = "snapshot", topic: str = TOPIC, **sinks: FakeSink) -> Any:
    topology = SimpleNamespace(
        name=name,
        key_columns=("id",),
        source_topics=(topic,),
        topology=SimpleNamespace(on_gap=on_gap),
        sinks=[Spec(s) for s in sinks],
    )
    writers = [SimpleNamespace(sink=s, table=SimpleNamespace(where=n)) for n, s in sinks.items()]
    return SimpleNamespace(topology=topology, writers=writers)


def tally(sink: str, strays: dict[int, int], state: str = "ok") -> Tally:
    """A pass's tally of ``sink``: stray key -> stored version."""
    t = Tally(sink, (), diffs=Diffs())
    if state != "ok":  # a sink that could not be read logs nothing
        t.fail(state, "held")
        return t
    for key, version in sorted(strays.items()):
        t.add_extra((key,), ((key,), version))
    return t


class Passes(Sweeper):
    """A Sweeper whose reconcile passes are scripted: one list of tallies per pass."""

    def __init__(self, pipelines: list[Any], passes: list[list[Tally] | Exception]) -> None:
        names = [p.topology for p in pipelines]
        super().__init__(
            SimpleNamespace(pipelines=pipelines, topologies=names, settings=None),  # type: ignore[arg-type]
            note=lambda topology, text: self.notes.append((topology, text)),
        )
        self.notes: list[tuple[str, str]] = []
        self.passes = passes
        self.ran: list[str] = []

    def _pass(self, topology: Any) -> Any:
        self.ran.append(topology.name)
        step = self.passes.pop(0)
        if isinstance(step, Exception):
            raise step
        return SimpleNamespace(tallies=step, close=lambda: None)


def test_only_strays_both_passes_found_with_the_same_version_get_tombstones() -> None:
    pg = FakeSink()
    first = {1: 10, 2: 20, 3: 30}  # 2 changes meanwhile, 3 was in flight (in the source now)
    second = {1: 10, 2: 22, 4: 40}  # 4 is new: the next sweep (or repair) confirms it
    sweeper = Passes([pipeline("orders", pg=pg)], [[tally("pg", first)], [tally("pg", second)]])
    asyncio.run(sweeper.sweep("orders", TOPIC))
    assert [(r.key, r.version, r.op, r.deleted) for r in pg.written] == [
        ((1,), 11, Op.DELETE, True)
    ]
    assert pg.written[0].value == {"id": 1}
    assert sweeper.notes == [
        (
            "orders",
            f"swept after the snapshot of {TOPIC}: pg: 3 stray row(s) found, 1 tombstoned "
            "(2 not confirmed by two passes: in flight, left alone)",
        )
    ]


def test_each_sink_of_each_snapshot_topology_reading_the_topic_is_swept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pg, ch, other = FakeSink(), FakeSink("clickhouse"), FakeSink()
    pipelines = [
        pipeline("orders", pg=pg, ch=ch),
        pipeline("audit", on_gap="ignore", x=other),  # not on_gap="snapshot"
        pipeline("items", topic="shop.public.items", x=other),  # another topic
    ]
    passes: list[list[Tally] | Exception] = [
        [tally("pg", {5: 7}), tally("ch", {5: 7}, state="busy")],
        [tally("pg", {5: 7}), tally("ch", {5: 7})],
    ]
    sweeper = Passes(pipelines, passes)
    with caplog.at_level(logging.INFO, logger="streamapp.heal"):
        asyncio.run(sweeper.sweep("orders", TOPIC))
    assert sweeper.ran == ["orders", "orders"] and not other.written
    assert [r.version for r in pg.written] == [8] and not ch.written  # ch: no first pass
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        f"sweep of topology orders after the gap snapshot of {TOPIC}: pg: 1 stray row(s) "
        "found, 1 tombstoned",
        f"sweep of topology orders after the gap snapshot of {TOPIC}: ch: 1 stray row(s) "
        "found, 0 tombstoned (1 not confirmed by two passes: in flight, left alone)",
    ]


@pytest.mark.parametrize(
    ("sink", "passes", "outcome"),
    [
        (FakeSink(), [[tally("pg", {})], [tally("pg", {})]], SinkSweep("pg", 0, 0)),
        (
            FakeSink(),
            [[tally("pg", {1: 1})], [tally("pg", {1: 1}, state="busy")]],
            SinkSweep("pg", state="busy", detail="held"),
        ),
        (
            FakeSink(refuse=True),
            [[tally("pg", {1: 1})], [tally("pg", {1: 1})]],
            SinkSweep("pg", 1, 0, "error", "x: the sink refused a tombstone: no"),
        ),
    ],
)
def test_sink_outcomes(sink: FakeSink, passes: list[Any], outcome: SinkSweep) -> None:
    one = pipeline("orders", pg=sink)
    one.writers[0].table.where = "x"
    sweeper = Passes([one], passes)
    assert asyncio.run(sweeper.sweep_pipeline(one, TOPIC)) == [outcome]


def test_a_failed_pass_is_one_error_line_and_a_note_never_an_exception(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sweeper = Passes([pipeline("orders", pg=FakeSink())], [OpsError("cannot read the source")])
    asyncio.run(sweeper.sweep("orders", TOPIC))
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        f"sweep of topology orders after the gap snapshot of {TOPIC} failed: cannot read the "
        "source; run `streamapp reconcile orders --repair` to remove rows deleted during the gap"
    ]
    assert sweeper.notes == [
        ("orders", f"sweep after the snapshot of {TOPIC} failed: cannot read the source")
    ]


def test_closed_sweeper_runs_no_pass_and_writes_nothing() -> None:
    pg = FakeSink()
    sweeper = Passes([pipeline("orders", pg=pg)], [[tally("pg", {1: 1})], [tally("pg", {1: 1})]])
    sweeper.close()
    asyncio.run(sweeper.sweep("orders", TOPIC))
    assert sweeper.ran == [] and not pg.written and sweeper.notes == []
