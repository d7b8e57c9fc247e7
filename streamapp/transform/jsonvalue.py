"""Turn any ``streamapp.types`` value into plain JSON data (for json columns and remainders)."""

from __future__ import annotations

import base64
import uuid
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any


def to_json(value: Any) -> Any:
    """A JSON-native copy of ``value``: dict/list/str/int/float/bool/None, nothing else.

    Decimals become exact strings, temporals ISO 8601 strings, UUIDs strings, bytes base64,
    durations whole microseconds; dict keys become strings. Nothing is dropped.
    """
    if value is None or isinstance(value, str | int | float):  # bool is an int
        return value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, timedelta):
        return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    if isinstance(value, uuid.UUID):
        return str(value)
    return str(value)
