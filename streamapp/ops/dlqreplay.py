"""`streamapp dlq replay`: send selected DLQ records through the current topology, once each."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

from streamapp.ops import OpsError
from streamapp.ops.dlqentry import DlqEntry, Selection
from streamapp.ops.dlqstore import DlqState, load_state, progress_group, read_entries, save_progress
from streamapp.ops.inprocess import run_pipeline
from streamapp.ops.kafka import Kafka
from streamapp.ops.parse import format_ms
from streamapp.ops.progressbar import ProgressBar
from streamapp.ops.reader import Record
from streamapp.settings import Settings
from streamapp.transform.compile import CompiledTopology

Print = Callable[[str], None]


def select(
    state: DlqState, entries: Sequence[DlqEntry], selection: Selection, now_ms: int
) -> tuple[list[DlqEntry], int, int]:
    """(selected entries, already replayed, not replayable) among ``entries``."""
    chosen, replayed, foreign = [], 0, 0
    for entry in entries:
        if state.is_replayed(entry):
            replayed += 1
        elif not entry.replayable:
            foreign += 1
        elif selection.matches(entry, now_ms):
            chosen.append(entry)
    return chosen, replayed, foreign


def run_dlq_replay(
    settings: Settings,
    topology: CompiledTopology,
    selection: Selection,
    *,
    dry_run: bool = False,
    batch_size: int = 500,
    out: Print = print,
) -> int:
    """Replay the selected, not yet replayed DLQ records of ``topology``; the exit code.

    Each batch goes through the worker's pipeline (sinks, output topic; a record that fails
    again goes back to the DLQ with its attempt count + 1), then the batch's DLQ offsets are
    committed as replayed for ``<group>.dlq-replay``, so no later run takes them again.
    """
    kafka = Kafka(settings)
    try:
        group = progress_group(settings.group_id)
        state = load_state(kafka, topology.dlq_topic, group)
        if not state.exists:
            out(f"DLQ {topology.dlq_topic} does not exist yet: nothing to replay")
            return 0
        entries = read_entries(
            settings,
            state,
            first=selection.from_offset,
            last=selection.to_offset,
            sealer=settings.dlq_sealer(),
        )
        chosen, replayed, foreign = select(state, entries, selection, int(time.time() * 1000))
        by_class = Counter(e.exception for e in chosen)
        detail = ", ".join(f"{n} {cls}" for cls, n in by_class.most_common()) or "none"
        out(
            f"DLQ {state.topic}: {len(entries)} record(s) in range, {replayed} replayed before, "
            f"{foreign} not replayable, {len(chosen)} selected ({detail})"
        )
        if dry_run:
            for e in chosen:
                rec = e.record
                out(
                    f"  would replay dlq offset {rec.offset} (partition {rec.partition}): "
                    f"{e.stage} {e.exception}, attempt {e.attempt}, failed {format_ms(e.failed_at)}"
                    + (f" (cannot: {e.sealed})" if e.sealed else "")
                )
            out("dry run: nothing changed")
            return 0
        sealed = [e for e in chosen if e.sealed is not None]
        if sealed:
            first = sealed[0].record
            raise OpsError(
                f"{len(sealed)} selected DLQ record(s) of {state.topic} stay sealed, first at "
                f"dlq offset {first.offset} (partition {first.partition}): {sealed[0].sealed}; "
                "nothing replayed"
            )
        if chosen:
            _replay(settings, topology, kafka, state, group, chosen, batch_size, out)
        return 0
    finally:
        kafka.close()


def _replay(
    settings: Settings,
    topology: CompiledTopology,
    kafka: Kafka,
    state: DlqState,
    group: str,
    chosen: Sequence[DlqEntry],
    batch_size: int,
    out: Print,
) -> None:
    bar = ProgressBar(f"dlq replay {topology.name}", len(chosen))
    current: list[DlqEntry] = []

    def batches() -> Iterator[list[Record]]:
        bar.restart()  # the rate and ETA leave out start-up (sinks, schemas)
        for i in range(0, len(chosen), batch_size):
            current[:] = chosen[i : i + batch_size]
            yield [e.original() for e in current]

    def mark(batch: Sequence[Record]) -> None:
        touched = {e.record.partition for e in current}
        for p in touched:
            offsets = [e.record.offset for e in current if e.record.partition == p]
            state.done[p] = state.done[p].add(offsets)
            save_progress(kafka, state, group, p)
        bar.advance(len(batch))

    started = time.monotonic()
    try:
        counters = asyncio.run(run_pipeline(settings, topology, batches(), after_batch=mark))
    finally:
        bar.finish()
    out(
        f"replayed {counters.events_in} DLQ record(s) in {time.monotonic() - started:.1f}s: "
        f"{counters.events_in - counters.failed} processed ({counters.records_out} output "
        f"record(s) to the sinks), {counters.failed} failed again and went back to "
        f"{topology.dlq_topic}"
    )
