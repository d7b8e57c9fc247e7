"""`topology test --table NAME=FILE`: fill a topology's table from a file of its events."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from streamapp.decode import Decoder
from streamapp.errors import StageError
from streamapp.ops.eventfile import parse_line
from streamapp.state.table import Table
from streamapp.transform.compile import CompiledTopology


def seed_table(
    topology: CompiledTopology,
    decoder: Decoder,
    lines: Iterable[str],
    *,
    err: Callable[[str], None],
) -> Table:
    """A Table of ``topology``'s output rows after the events of ``lines`` (the JSON-lines
    format of ``topology test``), applied in file order; each failing line is one ``err`` line
    (``table NAME line N: ...``) and is left out."""
    table = Table(topology.name, topology.key_columns)
    topic = topology.source_topics[0]
    for number, text in enumerate(lines, 1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            event_bytes = parse_line(text)
            event = decoder.decode(
                event_bytes.key, event_bytes.value, topic=topic, partition=0, offset=number
            )
            table.apply(topology.process(event))
        except ValueError as exc:
            err(f"table {topology.name} line {number}: input: {exc}")
        except StageError as exc:
            err(f"table {topology.name} line {number}: {exc.stage}: {type(exc).__name__}: {exc}")
    return table
