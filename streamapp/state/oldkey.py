"""TOAST fill after a primary-key update: the old key from ``__debezium.oldkey``, its last image.

With the default replica identity, PostgreSQL sends an updated row's TOASTed columns only when
they changed; Debezium sends a placeholder otherwise (decoded as UNCHANGED, and every sink keeps
its stored value). A primary-key update is emitted as a delete of the old key and a create of
the new key, and that create carries the placeholder too: no sink has a value under the new
key. Debezium's PostgreSQL connector puts the old key in the create's ``__debezium.oldkey``
header (and the new key in the delete's ``__debezium.newkey``). A materialised table still has
the old key's last image (live, or in its tombstone), so its values fill the UNCHANGED columns.

The header holds the key as the worker's header converter wrote it. Kafka Connect's default
``SimpleHeaderConverter`` writes the key struct as JSON (``{"id":1}``: seen on the stack with
both the Avro and the JSON connector, tests/e2e/test_e2e_toast_fill.py); a header converter
that writes the Confluent Avro wire format is read too (both as a message key is).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamapp.decode import Decoder
from streamapp.records import ChangeEvent, EventKind, Op, OutputRecord
from streamapp.state.table import Table
from streamapp.transform.compile import CompiledTopology

OLDKEY = "__debezium.oldkey"


class OldKeys:
    """Maps a create event's old-key header to the table key it had (the topology's key
    columns, computed by the topology's own code, so renames and key-safe masks apply)."""

    def __init__(self, topology: CompiledTopology, decoder: Decoder) -> None:
        self.topology = topology
        self.decoder = decoder

    def fill(
        self, table: Table, out: OutputRecord, headers: Sequence[tuple[str, bytes | None]]
    ) -> OutputRecord:
        """``out`` with UNCHANGED columns filled from the old key's last image, when ``out``
        is a create that carries the old-key header; else ``out`` unchanged."""
        if out.op is not Op.CREATE or out.deleted:
            return out
        raw = next((v for k, v in headers if k == OLDKEY and v is not None), None)
        if raw is None:
            return out
        old = self.old_key(raw, out)
        if old is None or old == out.key:
            return out
        return table.fill_unchanged(out, old)

    def old_key(self, raw: bytes, out: OutputRecord) -> tuple[Any, ...] | None:
        """The table key of the old-key header's value, or None when it cannot be read."""
        key = self.decoder.decode_key(raw)
        if key is None:
            return None
        event = ChangeEvent(EventKind.DATA, Op.DELETE, key, None, None, None, None, None, 0)
        try:
            outputs = self.topology.process(event)
        except Exception:  # noqa: BLE001 - an unreadable old key only means no fill
            return None
        return outputs[0].key if outputs else None
