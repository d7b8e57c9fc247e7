"""The Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the Avro body."""

from __future__ import annotations

from streamapp.errors import DecodeError

MAGIC = 0
HEADER_SIZE = 5


def frame(schema_id: int, body: bytes) -> bytes:
    """Prefix an Avro body with the wire-format header for ``schema_id``."""
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def is_framed(data: bytes) -> bool:
    """True when ``data`` looks like a wire-format message (magic byte and a full header)."""
    return len(data) >= HEADER_SIZE and data[0] == MAGIC


def unframe(data: bytes) -> tuple[int, memoryview]:
    """Split a wire-format message into (schema id, Avro body); DecodeError when it is not one."""
    if len(data) < HEADER_SIZE:
        raise DecodeError(
            f"message of {len(data)} bytes is too short for the Confluent wire format "
            "(needs a 5-byte header); is the topic really Avro?"
        )
    if data[0] != MAGIC:
        raise DecodeError(
            f"first byte is {data[0]:#04x}, not the wire-format magic byte 0x00; "
            "the producer did not use the Confluent Avro serializer"
        )
    return int.from_bytes(data[1:5], "big"), memoryview(data)[HEADER_SIZE:]
