"""TOAST fill after a primary-key update: the old key from ``__debezium.oldkey``, its last image.

With the default replica identity, PostgreSQL sends an updated row's TOASTed columns only when
they changed; Debezium sends a placeholder otherwise (decoded as UNCHANGED, and every sink keeps
its stored value). A primary-key update is emitted as a delete of the old key and a create of
the new key, and that create carries the placeholder too: no sink has a value under the new
key. Debezium's PostgreSQL connector puts the old key in the create's ``__debezium.oldkey``
header (and the new key in the delete's ``__debezium.newkey``). A materialised table still has
the old key's last image (live, or in its tombstone), so its values fill the UNCHANGED columns.

The header holds the key as the connector's header converter wrote it: the Avro wire format
or JSON (decoded like a message key), or Kafka Connect's ``SimpleHeaderConverter`` text of a
struct, ``Struct{id=5,code=a}`` (values typed by the topology's key column types).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from streamapp.decode import Decoder
from streamapp.records import ChangeEvent, EventKind, Op, OutputRecord
from streamapp.state.table import Table
from streamapp.transform.compile import CompiledTopology
from streamapp.types import Kind

OLDKEY = "__debezium.oldkey"


class OldKeys:
    """Maps a create event's old-key header to the table key it had (the topology's key
    columns, computed by the topology's own code, so renames and key-safe masks apply)."""

    def __init__(self, topology: CompiledTopology, decoder: Decoder) -> None:
        self.topology = topology
        self.decoder = decoder
        source = topology.topology.source.columns
        self._int_columns = {
            name
            for name, ftype in topology.output_columns.items()
            if ftype.kind is Kind.INT and name in source
        }

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
        key = self._parse(raw)
        if key is None:
            return None
        event = ChangeEvent(EventKind.DATA, Op.DELETE, key, None, None, None, None, None, 0)
        try:
            outputs = self.topology.process(event)
        except Exception:  # noqa: BLE001 - an unreadable old key only means no fill
            return None
        return outputs[0].key if outputs else None

    def _parse(self, raw: bytes) -> Mapping[str, Any] | None:
        if raw.startswith(b"Struct{") and raw.endswith(b"}"):
            return self._struct_text(raw[7:-1].decode("utf-8", "replace"))
        return self.decoder.decode_key(raw)

    def _struct_text(self, body: str) -> dict[str, Any] | None:
        out: dict[str, Any] = {}
        for part in body.split(","):
            name, sep, value = part.partition("=")
            if not sep:
                return None  # a comma inside a value: ambiguous, treat as unknown
            out[name] = int(value) if name in self._int_columns and _is_int(value) else value
        return out


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()
