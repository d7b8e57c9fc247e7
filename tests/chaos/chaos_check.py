"""How a chaos case is judged: `streamapp reconcile` per topology, and the DLQ topics read back.

lost       per topology, the largest ``missing + differing`` of its sinks (a row or a change
           that never arrived), summed over the topologies;
duplicated per topology, the largest ``extra`` of its sinks (rows a sink holds that the source
           does not: a delete lost, a row resurrected, a key written twice under two names);
in DLQ     every record in the topologies' dead-letter topics.
A sink reconcile could not read makes lost and duplicated unknown (None): the case fails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SINK_LINE = re.compile(r"^(?P<sink>(clickhouse|postgres|redis):\S+)\s+(?P<state>.+?)\s*$")
COUNTS_HEAD = re.compile(r"^\s*expected\s+in sink\s+missing\s+extra\s+differing\s*$")
EXTRA_KEYS = re.compile(r"^\s*extra keys\s+(?P<keys>.*)$")


@dataclass
class SinkTally:
    sink: str
    state: str  # MATCH, DIFFERS, or what reconcile said instead (BUSY ..., ERROR ...)
    expected: int = 0
    rows: int = 0
    missing: int = 0
    extra: int = 0
    differing: int = 0
    extra_keys: list[int] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return self.state in ("MATCH", "DIFFERS")


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def parse_reconcile(text: str) -> list[SinkTally]:
    """The per-sink blocks of `streamapp reconcile` output."""
    tallies: list[SinkTally] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        found = SINK_LINE.match(line)
        if found:
            tallies.append(SinkTally(found["sink"], found["state"].split()[0]))
            continue
        if tallies and COUNTS_HEAD.match(line) and i + 1 < len(lines):
            nums = [_int(n) for n in lines[i + 1].split()]
            if len(nums) == 5:
                t = tallies[-1]
                t.expected, t.rows, t.missing, t.extra, t.differing = nums
            continue
        extra = EXTRA_KEYS.match(line)
        if tallies and extra:
            tallies[-1].extra_keys = [int(k) for k in re.findall(r"id=(-?\d+)", extra["keys"])]
    return tallies


@dataclass
class Verdict:
    """Reconcile's verdict over the case's topologies."""

    lost: int | None = 0
    duplicated: int | None = 0
    tallies: dict[str, list[SinkTally]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def add(self, base: str, code: int, stdout: str, stderr: str) -> None:
        tallies = parse_reconcile(stdout)
        self.tallies[base] = tallies
        if code not in (0, 1) or not tallies or not all(t.verified for t in tallies):
            bad = [f"{t.sink} {t.state}" for t in tallies if not t.verified]
            why = "; ".join(bad) or (stderr.strip().splitlines() or ["no output"])[-1]
            self.problems.append(f"reconcile {base} exit {code}: {why[:300]}")
            self.lost = self.duplicated = None
            return
        if self.lost is not None and self.duplicated is not None:
            self.lost += max(t.missing + t.differing for t in tallies)
            self.duplicated += max(t.extra for t in tallies)
        for t in tallies:
            if t.state == "DIFFERS":
                self.problems.append(
                    f"{t.sink}: missing {t.missing}, extra {t.extra}, differing {t.differing}"
                    + (f" (extra keys {t.extra_keys[:5]})" if t.extra_keys else "")
                )


@dataclass(frozen=True, slots=True)
class DlqRecord:
    """One dead-letter record: where the original came from and why it failed."""

    topic: str
    partition: int
    offset: int
    stage: str
    exception: str
    message: str


def read_dlq(bootstrap: str, topics: list[str], timeout: float = 60.0) -> list[DlqRecord]:
    """Every record now in ``topics`` (missing topics count as empty), with its headers."""
    import time

    from chaos_watch import quiet
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        quiet(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "streamapp-chaos-dlq-reader",  # assign() only: nothing is committed
                "enable.auto.commit": False,
            }
        )
    )
    out: list[DlqRecord] = []
    try:
        meta = consumer.list_topics(timeout=10).topics
        ends: dict[tuple[str, int], int] = {}
        for topic in topics:
            if topic not in meta:
                continue
            for p in meta[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high > low:
                    ends[(topic, p)] = high
        consumer.assign([TopicPartition(t, p, 0) for t, p in ends])
        left = dict(ends)
        deadline = time.monotonic() + timeout
        while left and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None or msg.error():
                continue
            tp = (msg.topic(), msg.partition())
            out.append(_record(msg.headers() or []))
            if msg.offset() >= left.get(tp, 0) - 1:
                left.pop(tp, None)
        if left:
            raise RuntimeError(f"could not read the DLQ to its end: {sorted(left)}")
    finally:
        consumer.close()
    return out


def _record(headers: list[tuple[str, Any]]) -> DlqRecord:
    h = {k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v)) for k, v in headers}
    prefix = "__connect.errors."
    return DlqRecord(
        h.get(prefix + "topic", "?"),
        int(h.get(prefix + "partition", -1)),
        int(h.get(prefix + "offset", -1)),
        h.get(prefix + "stage", "?"),
        h.get(prefix + "exception.class.name", "?"),
        h.get(prefix + "exception.message", "")[:300],
    )
