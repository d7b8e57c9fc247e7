"""DLQ record headers, named like Kafka Connect's ``__connect.errors.*`` where the meaning matches.

The DLQ record keeps the original key and value bytes (so it can be replayed): they hold the
unmasked row in clear unless a DLQ key seals them (streamapp.dlq.seal). Everything we know about
the failure travels in headers. Messages come from streamapp's own errors, which never contain
record values (see streamapp.errors), so a masked field cannot leak through a DLQ *header*.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from typing import NamedTuple

CONNECT = "__connect.errors."
TOPIC = CONNECT + "topic"
PARTITION = CONNECT + "partition"
OFFSET = CONNECT + "offset"
CONNECTOR = CONNECT + "connector.name"  # the topology
STAGE = CONNECT + "stage"
EXCEPTION_CLASS = CONNECT + "exception.class.name"
EXCEPTION_MESSAGE = CONNECT + "exception.message"
STACKTRACE = CONNECT + "exception.stacktrace"
# streamapp's own, with no Connect equivalent:
TIMESTAMP = "streamapp.errors.timestamp"  # the original record's timestamp (ms)
FIELD = "streamapp.errors.field"  # the column involved, when there is one
ATTEMPT = "streamapp.errors.attempt"  # 1 on the first failure, +1 each failed DLQ replay
FAILED_AT = "streamapp.errors.failed.at"  # when it failed (ms since epoch)

MAX_TRACE = 8000  # bytes of stack trace kept in a header


class FailureContext(NamedTuple):
    """What the DLQ needs to know about one failed source record."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


def build_headers(
    ctx: FailureContext,
    *,
    topology: str,
    stage: str,
    error: BaseException,
    attempt: int,
    failed_at_ms: int,
) -> list[tuple[str, bytes]]:
    """The headers of the DLQ record for ``ctx`` (original headers first, then ours)."""
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    field = getattr(error, "field", None)
    ours = {
        TOPIC: ctx.topic,
        PARTITION: str(ctx.partition),
        OFFSET: str(ctx.offset),
        CONNECTOR: topology,
        STAGE: stage,
        EXCEPTION_CLASS: f"{type(error).__module__}.{type(error).__qualname__}",
        EXCEPTION_MESSAGE: str(error).splitlines()[0] if str(error) else "",
        STACKTRACE: trace[-MAX_TRACE:],
        ATTEMPT: str(attempt),
        FAILED_AT: str(failed_at_ms),
    }
    if ctx.timestamp_ms is not None:
        ours[TIMESTAMP] = str(ctx.timestamp_ms)
    if field:
        ours[FIELD] = str(field)
    ours_prefixes = (CONNECT, "streamapp.errors.", "streamapp.dlq.")
    kept = [(k, v) for k, v in ctx.headers if not k.startswith(ours_prefixes)]
    return kept + [(k, v.encode()) for k, v in ours.items()]


def header_map(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """Headers as a dict of text (last value wins), for tools and tests."""
    return {k: (v or b"").decode(errors="replace") for k, v in headers}


def previous_attempt(headers: Mapping[str, str]) -> int:
    """The attempt count a record already carries (0 when it never failed)."""
    try:
        return int(headers.get(ATTEMPT, "0"))
    except ValueError:
        return 0
