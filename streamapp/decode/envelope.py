"""The Debezium envelope: what kind of event a payload is, its op, source block and version."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from streamapp.decode.schema import SType
from streamapp.decode.version import event_version
from streamapp.errors import DecodeError
from streamapp.records import ChangeEvent, EventKind, Op, SourceInfo

HEARTBEAT_PREFIX = "__debezium-heartbeat"
SCHEMA_CHANGE_FIELDS = ("ddl", "tableChanges", "historyRecord")
OPS = {op.value: op for op in Op}
_KIND_OF_OP = {
    Op.CREATE: EventKind.DATA,
    Op.UPDATE: EventKind.DATA,
    Op.DELETE: EventKind.DATA,
    Op.READ: EventKind.DATA,
    Op.TRUNCATE: EventKind.TRUNCATE,
    Op.MESSAGE: EventKind.MESSAGE,
}
_new = tuple.__new__
_CODES = {code: (_KIND_OF_OP[op], op) for code, op in OPS.items()}  # no Enum hashing per event


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _str(value: Any) -> str | None:
    return value if type(value) is str else None


def source_info(raw: Any) -> SourceInfo | None:
    """Normalise a ``source`` block across connectors; ``raw`` keeps every original field.

    ``table`` is the table or the MongoDB ``collection``; ``snapshot`` is always text
    (old connectors wrote a boolean); fields of the wrong type become None.
    """
    if not isinstance(raw, dict):
        return None
    get = raw.get
    snapshot = get("snapshot")
    if type(snapshot) is bool:
        snapshot = "true" if snapshot else "false"
    table = _str(get("table"))
    return SourceInfo(
        _str(get("connector")),
        _str(get("db")),
        _str(get("schema")),
        table if table is not None else _str(get("collection")),
        _int(get("ts_ms")),
        _str(snapshot),
        _int(get("lsn")),
        _int(get("txId")),
        _str(get("file")),
        _int(get("pos")),
        _int(get("row")),
        _str(get("gtid")),
        _int(get("ord")),
        raw,
    )


# SourceInfo slots in order: (source field names to try, physical kinds accepted).
_SLOTS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("connector",), ("string",)),
    (("db",), ("string",)),
    (("schema",), ("string",)),
    (("table", "collection"), ("string",)),
    (("ts_ms",), ("int", "long")),
    (("snapshot",), ("string", "enum", "boolean")),
    (("lsn",), ("int", "long")),
    (("txId",), ("int", "long")),
    (("file",), ("string",)),
    (("pos",), ("int", "long")),
    (("row",), ("int", "long")),
    (("gtid",), ("string",)),
    (("ord",), ("int", "long")),
)


def _snapshot_text(value: Any) -> str | None:
    return None if value is None else "true" if value else "false"


def compile_source_info(st: SType | None) -> Callable[[Any], SourceInfo | None]:
    """A ``source_info`` specialised to one writer schema's source struct (same result).

    The schema fixes which fields exist and their types, so the generated function reads each
    slot directly instead of probing and type-checking every field per event.
    """
    if st is None or st.kind != "struct":
        return source_info
    exprs = []
    for names, kinds in _SLOTS:
        found = []
        for name in names:
            child = st.child(name)
            if child is not None and child.kind in kinds:
                expr = f"r[{name!r}]"
                found.append(f"_snap({expr})" if child.kind == "boolean" else expr)
        if len(found) == 2:  # table, else collection
            found = [f"({found[0]} if {found[0]} is not None else {found[1]})"]
        exprs.append(found[0] if found else "None")
    args = ", ".join(exprs)  # tuple.__new__: SourceInfo(...) without NamedTuple's __new__ call
    code = f"def make(r):\n    if r is None: return None\n    return _new(_SI, ({args}, r))\n"
    namespace: dict[str, Any] = {"_SI": SourceInfo, "_snap": _snapshot_text, "_new": tuple.__new__}
    exec(compile(code, "<source info>", "exec"), namespace)
    make: Callable[[Any], SourceInfo | None] = namespace["make"]
    return make


def classify(payload: Any, topic: str) -> tuple[EventKind, Op | None]:
    """The kind (and op) of a decoded value payload; DecodeError when it is no Debezium event."""
    if topic.startswith(HEARTBEAT_PREFIX):
        return EventKind.HEARTBEAT, None
    if not isinstance(payload, dict):
        raise DecodeError(
            f"value is a JSON/Avro {type(payload).__name__}, not a Debezium envelope; "
            "check the topic and the converter"
        )
    code = payload.get("op")
    if code is not None:
        found = _CODES.get(code) if type(code) is str else None
        if found is None:
            raise DecodeError(
                f"envelope field 'op' is not one of c/u/d/r/t/m (got a {type(code).__name__}); "
                "is this a Debezium change topic?"
            )
        return found
    if any(name in payload for name in SCHEMA_CHANGE_FIELDS):
        return EventKind.SCHEMA_CHANGE, None
    if payload.keys() == {"ts_ms"}:
        return EventKind.HEARTBEAT, None
    if payload.get("status") in ("BEGIN", "END"):
        raise DecodeError(
            "value is a transaction metadata event (status BEGIN/END); "
            "do not subscribe a topology to the transaction topic"
        )
    names = ", ".join(sorted(str(k) for k in payload)[:8])
    raise DecodeError(
        f"value is not a Debezium envelope: no 'op' field (fields: {names}); "
        "if the ExtractNewRecordState SMT unwraps events, remove it: streamapp reads envelopes"
    )


def make_event(
    kind: EventKind,
    op: Op | None,
    payload: Mapping[str, Any] | None,
    key: Mapping[str, Any] | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    offset: int,
    source: SourceInfo | None = None,
    strict: bool = True,
) -> ChangeEvent:
    """Assemble the ChangeEvent (rows already converted) and compute its version.

    Only DATA events carry rows; every other kind gets ``before``/``after`` None. ``source``
    is the normalised source block when the caller already built it. A tombstone (payload
    None) has version 0: it has no log position and never reaches a sink. ``strict``: see
    ``version.event_version``.
    """
    if payload is None:
        return ChangeEvent(EventKind.TOMBSTONE, None, key, None, None, None, None, None, 0)
    if source is None:
        source = source_info(payload.get("source"))
    ts_ms = payload.get("ts_ms")
    if type(ts_ms) is not int:
        ts_ms = None
    data = kind is EventKind.DATA
    if data:
        _check_rows(op, before, after)
    else:
        before = after = None
    tx = payload.get("transaction")
    transaction = tx if isinstance(tx, dict) else None
    version = event_version(source, ts_ms, offset, data=data, strict=strict)
    # tuple.__new__ is ChangeEvent(...) without the NamedTuple's Python-level __new__ call
    return _new(ChangeEvent, (kind, op, key, before, after, source, ts_ms, transaction, version))


def _check_rows(op: Op | None, before: Any, after: Any) -> None:
    if op is not Op.DELETE and not isinstance(after, dict):
        name = op.name.lower() if op is not None else "data"
        raise DecodeError(f"{name} event has no 'after' row; the envelope is incomplete")
    if before is not None and not isinstance(before, dict):
        raise DecodeError("envelope field 'before' is not a row (struct/object)")
    if after is not None and not isinstance(after, dict):
        raise DecodeError("envelope field 'after' is not a row (struct/object)")
