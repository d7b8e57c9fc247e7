"""Per-message budgets of the decoder: array/map items, decimal digits, JSON nesting depth.

A message of a few hundred bytes must not cost seconds of CPU or hundreds of MiB: each budget
bounds the work one message can cause, and each refusal is a DecodeError (the record goes to
the DLQ) that names the field and the limit, never a value.

- Items: the array/map items of one Avro message, counted over all blocks and all containers
  (nested ones included), may not exceed the message's byte size plus ``MAX_EMPTY_ITEMS``. An
  item that takes bytes is paid for by them; only items of zero bytes (``null``, an empty
  record) can exceed the size, and a message may hold ``MAX_EMPTY_ITEMS`` of those in total.
- Decimals: an unscaled value of at most ``MAX_DECIMAL_DIGITS`` digits, checked on the byte
  length (``MAX_DECIMAL_BYTES``) before any conversion. Debezium's largest precision (PostgreSQL
  ``numeric``: 1,000 digits as ``decimal.handling.mode=precise``) fits; converting a longer one
  costs quadratic time (400 KB: 13 s).
- JSON: at most ``MAX_JSON_DEPTH`` nested arrays/objects in one JSON text (a message, its
  schema or payload, a JSON column), checked before parsing, so Python's recursive parser never
  reaches the recursion limit. MongoDB documents nest at most 100 levels; 128 leaves room.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, NoReturn

from streamapp.errors import DecodeError

MAX_EMPTY_ITEMS: Final = 100_000
MAX_DECIMAL_DIGITS: Final = 1_000
MAX_DECIMAL_BYTES: Final = 416
"""Bytes of the longest two's-complement unscaled value of ``MAX_DECIMAL_DIGITS`` digits
(10**1000 < 2**3322, plus the sign bit)."""
MAX_JSON_DEPTH: Final = 128

_OPEN, _CLOSE = b"[{", b"]}"
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS: Final = bytes(b for b in range(256) if b not in b"[]{}")
_TOKEN: Final = re.compile(rb'("[^"\\]*(?:\\.[^"\\]*)*")(\s*:)?|[\[\]{}]')


class LimitExceeded(ValueError):
    """A value is over a per-message budget; the message names the limit, never the value.

    A ValueError, so every converter caller reports it as a conversion failure of the field.
    """


def too_many_items(path: str, size: int) -> NoReturn:
    """Refuse an Avro message whose array/map items at ``path`` ran over the item budget."""
    raise DecodeError(
        f"field {path!r}: the message holds more array/map items than its {size:,} bytes "
        f"plus {MAX_EMPTY_ITEMS:,} items of zero bytes (MAX_EMPTY_ITEMS, the per-message item "
        "limit); the message is corrupt or hostile",
        field=path,
    )


def decimal_too_long(size: int) -> NoReturn:
    """Refuse a decimal whose unscaled value takes ``size`` (> ``MAX_DECIMAL_BYTES``) bytes."""
    raise LimitExceeded(
        f"a decimal of {size:,} bytes is over the limit of {MAX_DECIMAL_BYTES} bytes "
        f"({MAX_DECIMAL_DIGITS:,} digits, MAX_DECIMAL_DIGITS); for longer values set the "
        "connector's decimal.handling.mode to string"
    )


def check_json_depth(text: bytes | str) -> None:
    """LimitExceeded when the JSON ``text`` nests more than ``MAX_JSON_DEPTH`` levels.

    Costs two ``count`` calls when the text has at most that many brackets (nearly always);
    otherwise strings are cut out and the brackets scanned. Malformed text is left to the
    parser, except that it is never handed text nested too deeply.
    """
    if isinstance(text, str):
        if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
            return
        raw = text.encode(errors="replace")
    else:
        if text.count(b"[") + text.count(b"{") <= MAX_JSON_DEPTH:
            return
        raw = text
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = 0
    for c in brackets:
        if c in _OPEN:
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise LimitExceeded(
                    f"JSON nests deeper than {MAX_JSON_DEPTH} levels at {_deep_path(raw)!r} "
                    "(MAX_JSON_DEPTH)"
                )
        else:
            depth -= 1


def loads(text: bytes | str) -> Any:
    """``json.loads`` of ``text`` after ``check_json_depth``."""
    check_json_depth(text)
    return json.loads(text)


def _deep_path(raw: bytes) -> str:
    """The first (at most 4) object keys on the way to the first place nested too deeply,
    e.g. ``after.doc``; ``(top)`` when it is all arrays."""
    keys: list[str] = []
    pending: str | None = None
    for m in _TOKEN.finditer(raw):
        tok = m.group()
        if m.group(1) is not None:
            if m.group(2):
                pending = _key(m.group(1))
            continue
        if tok in (b"[", b"{"):
            keys.append(pending if pending is not None else "[]")
            pending = None
            if len(keys) > MAX_JSON_DEPTH:
                break
        else:
            pending = None
            if keys:
                keys.pop()
    return ".".join([k for k in keys[1:] if k != "[]"][:4]) or "(top)"


def _key(quoted: bytes) -> str:
    """A key's text for the message (escapes left as written: it only names a field)."""
    return quoted[1:-1].decode(errors="replace")
