"""`topology test`: run a topology over a file of JSON-lines Debezium events, without Kafka."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from streamapp.decode import Decoder
from streamapp.decode.version import version_note
from streamapp.encode.avro import RecordEncoder
from streamapp.encode.schema import key_schema_for
from streamapp.errors import StageError
from streamapp.ops.render import record_json
from streamapp.records import EventKind
from streamapp.transform.compile import CompiledTopology

Print = Callable[[str], None]
_WRAPPER_KEYS = frozenset({"key", "value"})


@dataclass(frozen=True, slots=True)
class FileEvent:
    """The Kafka key and value bytes one line of the file stands for."""

    key: bytes | None
    value: bytes | None


def _as_bytes(part: object) -> bytes | None:
    if part is None:
        return None
    if isinstance(part, str):  # already the message text, e.g. as kcat prints it
        return part.encode()
    return json.dumps(part).encode()


def parse_line(text: str) -> FileEvent:
    """One line: a Debezium JSON value (with or without ``schema``/``payload``), ``null`` (a
    tombstone), or ``{"key": ..., "value": ...}``. ValueError (no values quoted) if not JSON."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if isinstance(doc, dict) and "value" in doc and set(doc) <= _WRAPPER_KEYS:
        return FileEvent(_as_bytes(doc.get("key")), _as_bytes(doc["value"]))
    return FileEvent(None, _as_bytes(doc))


def offline_encoder(topology: CompiledTopology) -> RecordEncoder:
    """The topology's Avro encoder with placeholder schema ids (no registry): it checks that
    every output record fits the output schema exactly as the worker's encoder does."""
    key_schema = key_schema_for(
        topology.output_columns,
        name=f"{topology.name}_key",
        namespace="streamapp",
        key_columns=topology.key_columns,
    )
    return RecordEncoder(
        topology.output_avro_schema, key_schema, value_schema_id=0, key_schema_id=0
    )


@dataclass(slots=True)
class Tally:
    """What a run over a file produced."""

    events: int = 0
    records: int = 0
    skipped: int = 0
    errors: int = 0


def run_lines(
    topology: CompiledTopology,
    decoder: Decoder,
    lines: Iterable[str],
    *,
    out: Print,
    err: Print,
    encoder: RecordEncoder | None = None,
) -> Tally:
    """Decode, transform (and encode, when ``encoder`` is given) each non-blank line.

    Every output record goes to ``out`` as one JSON line carrying its line number; every
    failure goes to ``err`` as one line ``line N: <stage>: <error>`` (error messages name
    fields, never values); an event that yields no record is noted on ``err`` with why, and so
    is an event whose version is only derived (``version.version_note``: the worker's strict
    decoder refuses it). Lines starting with ``#`` are comments.
    """
    tally = Tally()
    topic = topology.source_topics[0]
    for number, text in enumerate(lines, 1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        tally.events += 1
        try:
            event_bytes = parse_line(text)
            event = decoder.decode(
                event_bytes.key, event_bytes.value, topic=topic, partition=0, offset=number
            )
            note = version_note(event)
            if note is not None:
                err(f"line {number}: note: {note}")
            produced = topology.process(event)
            if encoder is not None:
                for rec in produced:
                    encoder.messages(rec)
        except ValueError as exc:
            tally.errors += 1
            err(f"line {number}: input: {exc}")
            continue
        except StageError as exc:
            tally.errors += 1
            err(f"line {number}: {exc.stage}: {type(exc).__name__}: {exc}")
            continue
        if not produced:
            tally.skipped += 1
            why = "filtered out" if event.kind is EventKind.DATA else f"a {event.kind.value} event"
            err(f"line {number}: no record ({why})")
        for rec in produced:
            tally.records += 1
            out(record_json(topology, rec, line=number))
    return tally
