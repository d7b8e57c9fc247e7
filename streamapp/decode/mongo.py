"""MongoDB connector events: extended-JSON documents -> nested Python values, partial updates.

Extended JSON (relaxed, canonical and legacy forms) maps to: ``$oid`` -> hex ``str``;
``$date`` -> aware UTC ``datetime``; ``$numberDecimal`` -> ``Decimal``; ``$numberLong``/
``$numberInt`` -> ``int``; ``$numberDouble`` -> ``float``; ``$binary`` -> ``bytes`` (subtype 4
-> ``uuid.UUID``); ``$uuid`` -> ``uuid.UUID``; ``$symbol``/``$code`` -> ``str``; ``$undefined``
-> None; ``$timestamp`` -> ``{"t", "i"}``; ``$regularExpression``/``$regex`` ->
``{"pattern", "options"}``; other ``$`` wrappers stay as parsed.

An update without the full document (``capture.mode=change_streams`` or the 1.x ``patch``)
becomes a partial ``after`` row: updated paths (``a.b`` expands to nested dicts), removed paths
set to None, ``_id`` from the key/filter, and, when the topology declares the collection's
fields, every declared field the update did not touch set to ``UNCHANGED`` (recursively inside
dicts the update only partly set). Updates of single array elements cannot be expressed as a
row and raise DecodeError asking for ``capture.mode=change_streams_update_full``.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from streamapp.decode import semantic
from streamapp.decode.limits import LimitExceeded, check_json_depth
from streamapp.errors import DecodeError
from streamapp.records import UNCHANGED
from streamapp.types import FieldType, Kind


def _binary(d: dict[str, Any]) -> Any:
    body = d["$binary"]
    if isinstance(body, dict):  # canonical/relaxed v2: {"base64": ..., "subType": "04"}
        data, subtype = body.get("base64", ""), body.get("subType", "00")
    else:  # legacy: {"$binary": "...", "$type": "04"}
        data, subtype = body, d.get("$type", "00")
    raw = base64.b64decode(data)
    return uuid.UUID(bytes=raw) if str(subtype).lower() in ("04", "4") and len(raw) == 16 else raw


def _date(d: dict[str, Any]) -> Any:
    value = d["$date"]
    if isinstance(value, str):
        return semantic.zoned_timestamp(value)
    if isinstance(value, int):
        return semantic.timestamptz_from_millis(value)
    raise ValueError("unsupported $date form")


_WRAPPERS: dict[str, Any] = {
    "$oid": lambda d: d["$oid"],
    "$date": _date,
    "$numberDecimal": lambda d: Decimal(d["$numberDecimal"]),
    "$numberLong": lambda d: int(d["$numberLong"]),
    "$numberInt": lambda d: int(d["$numberInt"]),
    "$numberDouble": lambda d: float(d["$numberDouble"]),
    "$binary": _binary,
    "$uuid": lambda d: uuid.UUID(d["$uuid"]),
    "$symbol": lambda d: d["$symbol"],
    "$code": lambda d: d["$code"],
    "$undefined": lambda d: None,
    "$timestamp": lambda d: dict(d["$timestamp"]),
    "$regularExpression": lambda d: dict(d["$regularExpression"]),
    "$regex": lambda d: {"pattern": d["$regex"], "options": d.get("$options", "")},
}


def _hook(d: dict[str, Any]) -> Any:
    if 0 < len(d) <= 2:
        for name in d:
            wrapper = _WRAPPERS.get(name)
            if wrapper is not None:
                return wrapper(d)
    return d


def parse_document(text: str) -> Any:
    """Extended-JSON text -> nested Python values (see the module docstring for the mapping);
    LimitExceeded (a ValueError) past ``limits.MAX_JSON_DEPTH`` levels, before parsing."""
    check_json_depth(text)
    return json.loads(text, object_hook=_hook)


def _parse(value: Any, name: str) -> Any:
    if value is None or not isinstance(value, str):
        return value
    try:
        return parse_document(value)
    except semantic.CONVERSION_ERRORS as exc:
        why = (
            f"{type(exc).__name__}: {exc}" if isinstance(exc, LimitExceeded) else type(exc).__name__
        )
        raise DecodeError(
            f"MongoDB field {name!r} is not valid extended JSON ({why})", field=name
        ) from None


def document_key(key: Mapping[str, Any] | None, *, strict: bool) -> Mapping[str, Any] | None:
    """The MongoDB key ``{"id": "<extended JSON>"}`` -> ``{"id": value}``.

    With ``strict`` False (the value's connector is unknown, e.g. a tombstone) only an ``id``
    holding an extended-JSON ``$`` wrapper such as ``{"$oid": ...}`` is converted.
    """
    if key is None or not isinstance(key.get("id"), str):
        return key
    text = key["id"]
    if not strict and not text.lstrip().startswith('{"$'):
        return key
    try:
        parsed = parse_document(text)
    except semantic.CONVERSION_ERRORS:
        return key
    return {**key, "id": parsed}


def rows(
    payload: Mapping[str, Any], key: Mapping[str, Any] | None, hints: Mapping[str, FieldType]
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """``(before, after)`` documents of a MongoDB event; a partial ``after`` for bare updates."""
    before = _parse(payload.get("before"), "before")
    after = _parse(payload.get("after"), "after")
    if after is None and payload.get("op") == "u":
        after = _partial_after(payload, key, hints)
    return before, after


def _partial_after(
    payload: Mapping[str, Any], key: Mapping[str, Any] | None, hints: Mapping[str, FieldType]
) -> dict[str, Any] | None:
    desc = payload.get("updateDescription")
    truncated: list[Any] = []
    if isinstance(desc, dict):
        updated = _parse(desc.get("updatedFields"), "updateDescription.updatedFields") or {}
        removed = list(desc.get("removedFields") or [])
        truncated = list(desc.get("truncatedArrays") or [])
    elif isinstance(payload.get("patch"), str):
        patch = _parse(payload["patch"], "patch")
        if not isinstance(patch, dict):
            raise DecodeError("MongoDB field 'patch' is not a document", field="patch")
        if not any(k.startswith("$") for k in patch):
            return patch  # a replacement: the whole new document
        if "diff" in patch:
            raise DecodeError(
                "MongoDB oplog delta patches ($v: 2) are not supported; use Debezium 2.x "
                "change streams with capture.mode=change_streams_update_full",
                field="patch",
            )
        updated = patch.get("$set") or {}
        removed = list((patch.get("$unset") or {}).keys())
    else:
        return None
    doc: dict[str, Any] = {}
    partial = {id(doc)}
    for path, value in updated.items():
        _set_path(doc, str(path), value, partial)
    for path in removed:
        _set_path(doc, str(path), None, partial)
    for entry in truncated:
        field = entry.get("field") if isinstance(entry, dict) else None
        if field not in updated:
            raise _array_error(str(field))
    identity = _parse(payload.get("filter"), "filter")
    if isinstance(identity, dict):
        for name, value in identity.items():
            doc.setdefault(name, value)
    if key is not None and "id" in key:
        doc.setdefault("_id", key["id"])
    if hints:
        _fill_unchanged(doc, dict(hints), partial)
    return doc


def _array_error(path: str) -> DecodeError:
    return DecodeError(
        f"MongoDB update changes array elements of {path!r} and the event has no full "
        "document; set capture.mode=change_streams_update_full on the connector",
        field=path,
    )


def _set_path(doc: dict[str, Any], path: str, value: Any, partial: set[int]) -> None:
    parts = path.split(".")
    node = doc
    for i, part in enumerate(parts[:-1]):
        if parts[i + 1].isdigit():
            raise _array_error(".".join(parts[: i + 1]))
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
            partial.add(id(child))
        node = child
    node[parts[-1]] = value


def _fill_unchanged(
    doc: dict[str, Any], fields: Mapping[str, FieldType], partial: set[int]
) -> None:
    for name, ftype in fields.items():
        if name not in doc:
            doc[name] = UNCHANGED
        elif ftype.kind is Kind.RECORD and id(doc[name]) in partial:
            _fill_unchanged(doc[name], dict(ftype.fields), partial)
