"""Decode and print records for operators: a topology's Decoder, output records as JSON lines."""

from __future__ import annotations

import json
from typing import Any

from streamapp.decode import Decoder, SchemaResolver
from streamapp.records import UNCHANGED, OutputRecord
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.jsonvalue import to_json
from streamapp.types import parse_type


def decoder_for(
    topology: CompiledTopology,
    resolver: SchemaResolver | None = None,
    *,
    strict_versions: bool = True,
) -> Decoder:
    """The Decoder a worker uses for ``topology`` (declared source types as hints, the
    source's handling modes); ``strict_versions=False`` decodes events without a log
    position too (see ``Decoder``)."""
    source = topology.topology.source
    hints = {name: parse_type(spec) for name, spec in source.columns.items()}
    return Decoder(
        resolver=resolver,
        hints=hints,
        handling=source.handling_modes(),
        strict_versions=strict_versions,
    )


def record_doc(topology: CompiledTopology, rec: OutputRecord) -> dict[str, Any]:
    """An output record as plain JSON data: op, deleted, version, key, value, unchanged.

    The values are the transformed (masked) ones; columns Debezium did not send are left
    out of ``value`` and named in ``unchanged``.
    """
    return {
        "op": rec.op.value,
        "deleted": rec.deleted,
        "version": rec.version,
        "key": {k: to_json(v) for k, v in zip(topology.key_columns, rec.key, strict=True)},
        "value": {k: to_json(v) for k, v in rec.value.items() if v is not UNCHANGED},
        "unchanged": sorted(rec.unchanged),
    }


def record_json(topology: CompiledTopology, rec: OutputRecord, **extra: Any) -> str:
    """:func:`record_doc` (after ``extra`` fields) as one compact JSON line."""
    return json.dumps({**extra, **record_doc(topology, rec)}, ensure_ascii=False)
