"""Log lines carry topology/partition/offset context, as text or as one JSON object."""

from __future__ import annotations

import json
import logging
import sys

from streamapp.observability.logs import JsonFormatter, TextFormatter


def record(**extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(
        "streamapp.pipeline", logging.WARNING, __file__, 1, "%d records to the DLQ", (3,), None
    )
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_lines_have_message_and_context() -> None:
    line = JsonFormatter().format(record(topology="orders", partition=2, offset=1234))
    data = json.loads(line)
    assert data["message"] == "3 records to the DLQ"
    assert (data["topology"], data["partition"], data["offset"]) == ("orders", 2, 1234)
    assert data["level"] == "WARNING" and data["ts"].endswith("Z")


def test_text_lines_append_context_only_when_present() -> None:
    assert (
        TextFormatter()
        .format(record(topology="orders", partition=2, offset=9))
        .endswith("3 records to the DLQ [orders p2 @9]")
    )
    assert TextFormatter().format(record()).endswith("3 records to the DLQ")


def test_no_log_line_carries_a_password() -> None:
    """httpx logs each request's URL, userinfo included; tracebacks quote DSNs."""
    rec = logging.LogRecord(
        "httpx",
        logging.INFO,
        __file__,
        1,
        'HTTP Request: GET %s "HTTP/1.1 200 OK"',
        ("http://u:S3ntinel-pw-7x@127.0.0.1:18081/apis/ccompat/v7/subjects",),
        None,
    )
    try:
        raise ConnectionError("cannot reach redis://:S3ntinel-pw-7x@127.0.0.1:1/0")
    except ConnectionError:
        rec.exc_info = sys.exc_info()
    text = TextFormatter().format(rec)
    data = json.loads(JsonFormatter().format(rec))
    assert "http://u:***@127.0.0.1:18081/apis/ccompat/v7/subjects" in data["message"]
    assert "redis://:***@127.0.0.1:1/0" in data["exc"] and "redis://:***@" in text
    assert "S3ntinel" not in text and "S3ntinel" not in json.dumps(data)
