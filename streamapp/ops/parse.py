"""Parse what operators type: replay positions, partition lists, durations; format times back."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

PositionKind = Literal["earliest", "latest", "offset", "timestamp"]

_OFFSET_RE: Final = re.compile(r"^offset[\s:=]+(\d+)$")
_DURATION_RE: Final = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_UNIT_MS: Final = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_UNIT_MS["w"] = 7 * _UNIT_MS["d"]
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Position:
    """A place in every partition of a topic: its start or end, an offset, or a time.

    ``value`` is the offset for ``offset`` and milliseconds since the epoch (UTC) for
    ``timestamp``; it is 0 for ``earliest`` and ``latest``.
    """

    kind: PositionKind
    value: int = 0

    def __str__(self) -> str:
        if self.kind == "offset":
            return f"offset {self.value}"
        if self.kind == "timestamp":
            return format_ms(self.value)
        return self.kind


def parse_position(text: str, *, allow: tuple[PositionKind, ...] | None = None) -> Position:
    """``earliest``, ``latest``, ``offset N``, epoch milliseconds, or an ISO-8601 time.

    A time without a zone is read as UTC. ValueError (one line, saying what is accepted) for
    anything else, or for a kind not in ``allow``.
    """
    raw = text.strip().lower()
    accepted = allow or ("earliest", "latest", "offset", "timestamp")
    position: Position | None = None
    if raw in ("earliest", "latest"):
        position = Position(raw)  # type: ignore[arg-type]
    elif m := _OFFSET_RE.match(raw):
        position = Position("offset", int(m.group(1)))
    elif raw.isdigit():
        position = Position("timestamp", int(raw))
    else:
        try:
            when = datetime.fromisoformat(text.strip())
        except ValueError:
            when = None
        if when is not None:
            when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
            position = Position("timestamp", (when - _EPOCH) // timedelta(milliseconds=1))
    if position is None or position.kind not in accepted:
        forms = {
            "earliest": "earliest",
            "latest": "latest",
            "offset": "'offset N'",
            "timestamp": "an ISO time (2024-05-01T12:00:00Z) or epoch milliseconds",
        }
        raise ValueError(
            f"{text!r} is not a position; use " + ", ".join(forms[k] for k in accepted)
        )
    return position


def parse_partitions(text: str) -> tuple[int, ...]:
    """``"0,2,5"`` -> (0, 2, 5); ValueError for anything but non-negative integers."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdigit() for p in parts):
        raise ValueError(f"{text!r} is not a partition list; use numbers like 0,2,5")
    return tuple(sorted({int(p) for p in parts}))


def parse_duration(text: str) -> int:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"7d"``, ``"1w"``, ``"1h30m"`` -> milliseconds (> 0)."""
    raw = text.strip().lower().replace(" ", "")
    pieces = _DURATION_RE.findall(raw)
    if not raw or "".join(n + u for n, u in pieces) != raw:
        raise ValueError(f"{text!r} is not a duration; use e.g. 90s, 15m, 2h, 7d or 1h30m")
    total = sum(int(n) * _UNIT_MS[u] for n, u in pieces)
    if total <= 0:
        raise ValueError(f"{text!r} is not a positive duration")
    return total


def format_ms(ms: int | None) -> str:
    """Epoch milliseconds as ``2024-05-01T12:00:00.123Z`` (UTC); ``-`` for None."""
    if ms is None:
        return "-"
    when = datetime.fromtimestamp(ms / 1000, tz=UTC)
    text = when.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ms % 1000:03d}Z"


def format_age(seconds: float) -> str:
    """A short human age: ``42s``, ``5m``, ``3h12m``, ``2d4h``."""
    s = max(int(seconds), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86_400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86_400}d{s % 86_400 // 3600:02d}h"
