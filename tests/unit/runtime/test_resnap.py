"""ResnapshotWatch: snapshot reads after streamed changes start an episode, quiet ends it."""

from __future__ import annotations

import asyncio

from streamapp.records import Op, OutputRecord
from streamapp.runtime.resnap import ResnapshotWatch


def out(*ops: Op) -> list[OutputRecord]:
    return [
        OutputRecord("t", (i,), {"id": i}, i, op, False, frozenset(), None)
        for i, op in enumerate(ops)
    ]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_initial_snapshot_is_not_a_resnapshot_but_reads_after_streaming_are() -> None:
    notes: list[str] = []
    clock = Clock()
    w = ResnapshotWatch("t", note=lambda _t, text: notes.append(text), quiet=30, clock=clock)
    asyncio.run(w(["x"], out(Op.READ, Op.READ), [0, 1]))  # a new pipeline's first load
    assert notes == [] and not w.in_progress
    w.observe(out(Op.UPDATE, Op.CREATE))
    w.observe(out(Op.READ, Op.READ, Op.UPDATE))
    assert w.in_progress and len(notes) == 1 and notes[0].startswith("re-snapshot seen:")
    clock.now = 10
    w.observe(out(Op.READ))
    w.observe(out(Op.UPDATE))  # not quiet long enough yet
    assert w.in_progress
    clock.now = 45
    w.observe(out(Op.DELETE))
    assert notes[-1] == "re-snapshot ended: 3 row(s) re-read" and not w.in_progress


def test_a_failing_note_never_fails_the_batch() -> None:
    def broken(_t: str, _text: str) -> None:
        raise RuntimeError("kafka away")

    w = ResnapshotWatch("t", note=broken)
    w.observe(out(Op.UPDATE))
    asyncio.run(w([], out(Op.READ), [0]))  # no exception
