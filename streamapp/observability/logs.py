"""Logging setup: plain text or one JSON object per line, with topology/partition/offset context.

Context comes from ``extra={"topology": ..., "partition": ..., "offset": ...}`` on a log call.
streamapp never logs record values (a value may be PII that a mask hides downstream): messages
name fields, types, topics and offsets only. Both formats pass every line (messages of other
libraries and tracebacks included: httpx logs each request's URL) through ``redact_url``, so a
password in a URL or DSN never reaches a log.
"""

from __future__ import annotations

import json
import logging
import time

from streamapp.redact import redact_url

CONTEXT = ("topology", "topic", "partition", "offset", "stage", "sink")


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", <context>..., "exc"}`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": redact_url(record.getMessage()),
        }
        for key in CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = redact_url(self.formatException(record.exc_info))
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """The usual text line, with ``[topology p2 @1234]`` when the record has that context."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = redact_url(super().format(record))
        parts = [str(getattr(record, "topology", "") or "")]
        partition, offset = getattr(record, "partition", None), getattr(record, "offset", None)
        if partition is not None:
            parts.append(f"p{partition}")
        if offset is not None:
            parts.append(f"@{offset}")
        context = " ".join(p for p in parts if p)
        return f"{line} [{context}]" if context else line


def configure(level: str, fmt: str) -> None:
    """Install the formatter on the root logger (``fmt``: ``text`` or ``json``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
