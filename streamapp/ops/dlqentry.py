"""DLQ records read back (opened when sealed): failure context, selection filters, a summary."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streamapp.dlq import headers as h
from streamapp.dlq.seal import Sealer, SealError, sealed_key_id
from streamapp.ops.reader import Record


@dataclass(frozen=True, slots=True)
class DlqEntry:
    """One DLQ record and what its headers say about the failure.

    ``topic``/``partition``/``offset`` locate the original record (None when the record was
    not written by streamapp: it then cannot be replayed); ``failed_at`` falls back to the
    DLQ record's own time. ``record`` keeps the DLQ record as read (original key and value),
    opened when it was sealed; ``sealed`` says why its bytes are still sealed (no DLQ key, or
    not the key that sealed it), None when they are in clear.
    """

    record: Record
    topic: str | None
    partition: int | None
    offset: int | None
    stage: str
    exception: str
    message: str
    field: str | None
    attempt: int
    failed_at: int | None
    source_timestamp: int | None
    sealed: str | None = None

    @property
    def replayable(self) -> bool:
        """True when the original topic, partition and offset are known."""
        return self.topic is not None and self.partition is not None and self.offset is not None

    def original(self) -> Record:
        """The original record as the pipeline should see it again, with the DLQ headers
        (so a second failure counts ``attempt + 1``)."""
        assert self.topic is not None and self.partition is not None and self.offset is not None
        return Record(
            self.topic,
            self.partition,
            self.offset,
            self.record.key,
            self.record.value,
            self.source_timestamp,
            self.record.headers,
        )


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def unseal(rec: Record, sealer: Sealer | None) -> tuple[Record, str | None]:
    """``rec`` with its key, value and original headers opened when it is sealed, and why it
    stays sealed (None when it is in clear or was opened)."""
    kid = sealed_key_id(rec.headers)
    if kid is None:
        return rec, None
    if sealer is None:
        return rec, (
            f"sealed with DLQ key id {kid}: set STREAMAPP_DLQ_KEY (or STREAMAPP_DLQ_KEY_FILE) "
            "to that key to read or replay it"
        )
    try:
        key, value, headers = sealer.open(rec.key, rec.value, rec.headers)
    except SealError as exc:
        return rec, str(exc)
    return rec._replace(key=key, value=value, headers=tuple(headers)), None


def parse_entry(rec: Record, sealer: Sealer | None = None) -> DlqEntry:
    """The DlqEntry of a DLQ record (opened with ``sealer`` when sealed); missing or garbled
    headers become None/``unknown``."""
    rec, sealed = unseal(rec, sealer)
    m = h.header_map(rec.headers)
    return DlqEntry(
        record=rec,
        topic=m.get(h.TOPIC) or None,
        partition=_int(m.get(h.PARTITION)),
        offset=_int(m.get(h.OFFSET)),
        stage=m.get(h.STAGE) or "unknown",
        exception=m.get(h.EXCEPTION_CLASS) or "unknown",
        message=m.get(h.EXCEPTION_MESSAGE, ""),
        field=m.get(h.FIELD) or None,
        attempt=h.previous_attempt(m),
        failed_at=_int(m.get(h.FAILED_AT)) or rec.timestamp,
        source_timestamp=_int(m.get(h.TIMESTAMP)),
        sealed=sealed,
    )


def exception_matches(exception: str, wanted: str) -> bool:
    """True when ``wanted`` is the full class name or its last dotted part."""
    return exception == wanted or exception.rsplit(".", 1)[-1] == wanted


@dataclass(frozen=True, slots=True)
class Selection:
    """Which DLQ records a replay takes: offsets (inclusive), exception class, age in ms."""

    from_offset: int | None = None
    to_offset: int | None = None
    exception: str | None = None
    older_than_ms: int | None = None
    newer_than_ms: int | None = None

    def matches(self, entry: DlqEntry, now_ms: int) -> bool:
        """True when ``entry`` passes every filter that is set (and can be replayed)."""
        off = entry.record.offset
        if not entry.replayable:
            return False
        if self.from_offset is not None and off < self.from_offset:
            return False
        if self.to_offset is not None and off > self.to_offset:
            return False
        if self.exception is not None and not exception_matches(entry.exception, self.exception):
            return False
        age = None if entry.failed_at is None else now_ms - entry.failed_at
        if self.older_than_ms is not None and (age is None or age < self.older_than_ms):
            return False
        return not (self.newer_than_ms is not None and (age is None or age >= self.newer_than_ms))


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """DLQ records of one (stage, exception class)."""

    stage: str
    exception: str
    count: int
    pending: int
    max_attempt: int
    oldest: int | None
    newest: int | None


def summarize(entries: Iterable[DlqEntry], replayed: Sequence[bool]) -> list[SummaryRow]:
    """One row per (stage, exception), most records first; ``replayed`` parallels entries."""
    groups: dict[tuple[str, str], list[tuple[DlqEntry, bool]]] = {}
    for entry, done in zip(entries, replayed, strict=True):
        groups.setdefault((entry.stage, entry.exception), []).append((entry, done))
    rows = []
    for (stage, exception), items in groups.items():
        times = [e.failed_at for e, _ in items if e.failed_at is not None]
        rows.append(
            SummaryRow(
                stage,
                exception,
                len(items),
                sum(1 for _, done in items if not done),
                max(e.attempt for e, _ in items),
                min(times) if times else None,
                max(times) if times else None,
            )
        )
    return sorted(rows, key=lambda r: (-r.count, r.stage, r.exception))
