"""`streamapp status` screen and exit code, from gathered data."""

from __future__ import annotations

import pytest
from ops_fixtures import people

from streamapp.ops.dlqstore import DlqState
from streamapp.ops.done import Done
from streamapp.ops.kafka import GroupInfo, Member
from streamapp.ops.status import PartitionLag, SinkCommit, SinkHealth, TopologyStatus
from streamapp.ops.statusview import exit_code, render_status

NOW = 1_714_557_600_000


def status(**over: object) -> TopologyStatus:
    base = TopologyStatus(
        people(),
        (
            PartitionLag("app.public.people", 0, 0, 130, 120),
            PartitionLag("app.public.people", 1, 5, 9, None),
        ),
        DlqState("app.public.people.dlq", {0: (0, 4)}, {0: Done(0).add([0, 2])}),
        NOW - 42_000,
    )
    return TopologyStatus(**{f: over.get(f, getattr(base, f)) for f in base.__dataclass_fields__})  # type: ignore[arg-type]


OK = {"postgres": SinkHealth("postgres", "ok", "round trip ok", 3.2)}


def test_one_screen_per_topology() -> None:
    group = GroupInfo("g", "Stable", (Member("w-1", "/10.0.0.5", (("app.public.people", 0),)),))
    assert render_status("g", group, [status()], OK, NOW) == [
        "streamapp status at 2024-05-01T10:00:00.000Z",
        "group 'g': Stable, 1 member(s): w-1@/10.0.0.5 (app.public.people[0])",
        "",
        "people: app.public.people -> warehouse.people",
        "  partition             committed  end  lag",
        "  app.public.people[0]        120  130   10",
        "  app.public.people[1]          -    9    4",
        "  total                                  14",
        "  dlq           app.public.people.dlq: 4 record(s), 2 replayed, 2 pending",
        "  sinks         postgres:public.people  ok       3 ms",
        "  last applied  2024-05-01T09:59:18.000Z (42s ago)",
    ]


def test_problems_and_unknowns_are_spelled_out() -> None:
    st = status(partitions=(), dlq=DlqState("x.dlq"), last_applied_ms=None, problem="no topic")
    bad = {"postgres": SinkHealth("postgres", "FAIL", "OSError: refused", 5000)}
    lines = render_status("g", None, [st], bad, NOW)
    assert lines[1] == "group 'g': cannot be described (Kafka unreachable?)"
    assert lines[4:] == [
        "  problem       no topic",
        "  dlq           x.dlq: empty (topic not created yet)",
        "  sinks         postgres:public.people  FAIL  5000 ms  OSError: refused",
        "  last applied  never (no record on the output topic)",
    ]


@pytest.mark.parametrize(
    ("state", "problem", "code"),
    [("ok", None, 0), ("busy", None, 0), ("FAIL", None, 1), ("ok", "no topic", 1)],
)
def test_exit_code(state: str, problem: str | None, code: int) -> None:
    health = {"postgres": SinkHealth("postgres", state, "", 1)}
    assert exit_code([status(problem=problem)], health) == code


def test_lag_counts_from_low_when_nothing_is_committed() -> None:
    assert PartitionLag("t", 0, 50, 80, None).lag == 30
    assert PartitionLag("t", 0, 50, 80, 10).lag == 30  # committed below retention
    assert PartitionLag("t", 0, 0, 80, 80).lag == 0


def test_a_gap_and_the_healing_log_are_shown() -> None:
    from streamapp.runtime.heallog import HealEvent

    events = (
        HealEvent("g", "people", "gap", "gap in topology people: ...", NOW - 60_000),
        HealEvent("g", "people", "snapshot", "snapshot of public.people completed", NOW),
    )
    st = status(partitions=(PartitionLag("app.public.people", 0, 150, 170, 120),), healing=events)
    lines = render_status("g", None, [st], OK, NOW)
    assert lines[7] == (
        "  GAP           app.public.people[0]: committed offset 120 is below the first "
        "available 150: 30 event(s) deleted before they were consumed (on_gap='snapshot' acts "
        "when a worker reads it)"
    )
    assert lines[-2:] == [
        "  healing       2024-05-01T09:59:00.000Z  gap: gap in topology people: ...",
        "                2024-05-01T10:00:00.000Z  snapshot: snapshot of public.people completed",
    ]
    assert PartitionLag("t", 0, 150, 170, 120).gap == 30
    assert PartitionLag("t", 0, 150, 170, None).gap == 0
    assert PartitionLag("t", 0, 100, 170, 120).gap == 0


def test_an_iceberg_sink_shows_its_newest_commit_or_why_not() -> None:
    """A durable-later sink's rows are durable up to its newest commit, whatever the output
    topic shows: the sink's line says when that was, that there is none yet, or why it is
    unknown."""
    from streamapp.topology import Sink

    top = people()
    sinks = (Sink.iceberg("lake.people"), Sink.iceberg("lake.new"), Sink.iceberg("lake.off"))
    top = type(top)(**{**{f: getattr(top, f) for f in top.__dataclass_fields__}, "sinks": sinks})
    commits = (
        SinkCommit("iceberg:lake.people", NOW - 75_000),
        SinkCommit("iceberg:lake.new", None),
        SinkCommit("iceberg:lake.off", None, "cannot read the Iceberg catalog http://c:1 (X)"),
    )
    health = {"iceberg": SinkHealth("iceberg", "ok", "round trip ok", 12.0)}
    lines = render_status("g", None, [status(topology=top, commits=commits)], health, NOW)
    sink_lines = [x for x in lines if "iceberg:" in x]
    assert sink_lines == [
        "  sinks         iceberg:lake.people  ok      12 ms  last commit "
        "2024-05-01T09:58:45.000Z (1m15s ago)",
        "                iceberg:lake.new     ok      12 ms  last commit none yet",
        "                iceberg:lake.off     ok      12 ms  last commit unknown "
        "(cannot read the Iceberg catalog http://c:1 (X))",
    ]
