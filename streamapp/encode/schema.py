"""Output Avro schemas derived from column types, their inverse, and checks of declared .avsc files.

Mapping (see ``streamapp.types``): non-key columns are ``["null", T]`` with ``default: null``; key
columns are ``T``. Nested record fields, array items and map values are nullable too. ``json`` and
``duration`` carry a ``"streamapp.type"`` property so that :func:`columns_from_avro` inverts
:func:`avro_schema_for` exactly. A nested record for column ``c`` is named ``c_record`` in the
namespace of its enclosing record's full name, so every full name in a schema is unique.

Every value schema ends with two bookkeeping fields, ignored by :func:`columns_from_avro`:
``__deleted`` (boolean, default false; true on the row that precedes a delete's tombstone) and
``__unchanged`` (array of column names whose value was not sent, encoded as null).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from streamapp.errors import ConfigError, TopologyError
from streamapp.types import FieldType, Kind

UNCHANGED_FIELD: Final = "__unchanged"
DELETED_FIELD: Final = "__deleted"
BOOKKEEPING_FIELDS: Final = frozenset({UNCHANGED_FIELD, DELETED_FIELD})
TYPE_PROPERTY: Final = "streamapp.type"

_NAME_RE: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCALAR_AVRO: Final[dict[Kind, Any]] = {
    Kind.STRING: "string",
    Kind.INT: "long",
    Kind.FLOAT: "double",
    Kind.BOOL: "boolean",
    Kind.BYTES: "bytes",
    Kind.DATE: {"type": "int", "logicalType": "date"},
    Kind.TIME: {"type": "long", "logicalType": "time-micros"},
    Kind.TIMESTAMP: {"type": "long", "logicalType": "local-timestamp-micros"},
    Kind.TIMESTAMPTZ: {"type": "long", "logicalType": "timestamp-micros"},
    Kind.UUID: {"type": "string", "logicalType": "uuid"},
    Kind.DURATION: {"type": "long", TYPE_PROPERTY: "duration"},
    Kind.JSON: {"type": "string", TYPE_PROPERTY: "json"},
}
# (physical type, logicalType or streamapp.type) -> kind; the exact inverse of _SCALAR_AVRO.
_SCALAR_KIND: Final[dict[tuple[str, str | None], Kind]] = {
    (t, None) if isinstance(t, str) else (t["type"], t.get("logicalType") or t[TYPE_PROPERTY]): k
    for k, t in _SCALAR_AVRO.items()
}


def is_valid_name(name: str) -> bool:
    """True when ``name`` is a valid Avro name: letters, digits, ``_``; no leading digit."""
    return _NAME_RE.match(name) is not None


def avro_schema_for(
    columns: Mapping[str, FieldType], *, name: str, namespace: str, key_columns: Sequence[str]
) -> dict[str, Any]:
    """The output value schema: one field per column in order, then ``__deleted``, ``__unchanged``.

    Key columns are non-null, every other column ``["null", T]`` with default null. Raises
    TopologyError listing every invalid name or unknown key column.
    """
    _raise_if_invalid(columns, name=name, namespace=namespace, key_columns=key_columns)
    keys = frozenset(key_columns)
    fields = [
        _field(col, ft, f"{namespace}.{name}", nullable=col not in keys)
        for col, ft in columns.items()
    ]
    fields.append({"name": DELETED_FIELD, "type": "boolean", "default": False})
    fields.append(
        {"name": UNCHANGED_FIELD, "type": {"type": "array", "items": "string"}, "default": []}
    )
    return {"type": "record", "name": name, "namespace": namespace, "fields": fields}


def key_schema_for(
    columns: Mapping[str, FieldType], *, name: str, namespace: str, key_columns: Sequence[str]
) -> dict[str, Any]:
    """The output key schema: the key columns in ``key_columns`` order, all non-null.

    Raises TopologyError when there are no key columns, a name is invalid or a key is unknown.
    """
    if not key_columns:
        raise TopologyError([f"record {name!r} has no key columns, so it has no key schema"])
    _raise_if_invalid(columns, name=name, namespace=namespace, key_columns=key_columns)
    fields = [
        _field(col, columns[col], f"{namespace}.{name}", nullable=False) for col in key_columns
    ]
    return {"type": "record", "name": name, "namespace": namespace, "fields": fields}


def avro_type(ft: FieldType, scope: str = "streamapp", column: str = "value") -> Any:
    """The non-null Avro type of ``ft``; a nested record is ``<column>_record`` in ``scope``."""
    simple = _SCALAR_AVRO.get(ft.kind)
    if simple is not None:
        return dict(simple) if isinstance(simple, dict) else simple
    if ft.kind is Kind.DECIMAL:
        return {
            "type": "bytes",
            "logicalType": "decimal",
            "precision": ft.precision,
            "scale": ft.scale,
        }
    if ft.kind is Kind.RECORD:
        rec_name = f"{column}_record"
        inner = f"{scope}.{rec_name}"
        return {
            "type": "record",
            "name": rec_name,
            "namespace": scope,
            "fields": [_field(n, t, inner, nullable=True) for n, t in ft.fields],
        }
    assert ft.items is not None, f"{ft.kind.value} without an item type"
    items = ["null", avro_type(ft.items, scope, column)]
    if ft.kind is Kind.ARRAY:
        return {"type": "array", "items": items}
    return {"type": "map", "values": items}


def _field(column: str, ft: FieldType, scope: str, *, nullable: bool) -> dict[str, Any]:
    t = avro_type(ft, scope, column)
    if nullable:
        return {"name": column, "type": ["null", t], "default": None}
    return {"name": column, "type": t}


def _name_problems(
    columns: Mapping[str, FieldType] | Sequence[tuple[str, FieldType]], path: str = ""
) -> list[str]:
    items = columns.items() if isinstance(columns, Mapping) else columns
    out: list[str] = []
    for col, ft in items:
        full = f"{path}{col}"
        if not is_valid_name(col):
            out.append(
                f"column {full!r} is not a valid Avro name (letters, digits and _, "
                "not starting with a digit); rename it"
            )
        elif not path and col in BOOKKEEPING_FIELDS:
            out.append(
                f"column {full!r} clashes with the bookkeeping field of that name; rename it"
            )
        inner = ft
        while inner.kind in (Kind.ARRAY, Kind.MAP) and inner.items is not None:
            inner = inner.items
        if inner.kind is Kind.RECORD:
            out.extend(_name_problems(inner.fields, f"{full}."))
    return out


def _raise_if_invalid(
    columns: Mapping[str, FieldType], *, name: str, namespace: str, key_columns: Sequence[str]
) -> None:
    problems = _name_problems(columns)
    if not is_valid_name(name):
        problems.append(f"record name {name!r} is not a valid Avro name")
    if namespace and not all(is_valid_name(p) for p in namespace.split(".")):
        problems.append(f"namespace {namespace!r} is not a dotted sequence of valid Avro names")
    problems.extend(
        f"key column {k!r} is not among the output columns" for k in key_columns if k not in columns
    )
    if problems:
        raise TopologyError(problems)


def describe_avro(t: Any) -> str:
    """A short human form of an Avro type: ``bytes/decimal(10,2)``, ``union[null, string]``..."""
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        return "union[" + ", ".join(describe_avro(b) for b in t) + "]"
    if not isinstance(t, Mapping):
        return type(t).__name__
    base = t.get("type")
    if isinstance(base, list | Mapping):
        return describe_avro(base)
    if base == "record":
        return f"record {t.get('name')}"
    if base == "enum":
        return f"enum {t.get('name')}"
    if base == "array":
        return f"array<{describe_avro(t.get('items'))}>"
    if base == "map":
        return f"map<{describe_avro(t.get('values'))}>"
    logical = t.get("logicalType")
    text = f"fixed({t.get('size')})" if base == "fixed" else str(base)
    if logical == "decimal":
        return f"{text}/decimal({t.get('precision')},{t.get('scale', 0)})"
    extra = logical or t.get(TYPE_PROPERTY)
    return f"{text}/{extra}" if extra else text


def split_nullable(t: Any) -> tuple[Any, bool]:
    """``(T, True)`` for ``["null", T]`` or ``[T, "null"]``; ``(t, False)`` for anything else."""
    if isinstance(t, list) and len(t) == 2 and "null" in t:
        return (t[1] if t[0] == "null" else t[0]), True
    return t, False


def field_type_of(t: Any, path: str = "value") -> FieldType:
    """The FieldType for an Avro type as :func:`avro_type` writes it (nullable or not).

    Raises ConfigError naming ``path`` when the type is not one streamapp produces.
    """
    t, _ = split_nullable(t)
    if isinstance(t, str):
        kind = _SCALAR_KIND.get((t, None))
    elif isinstance(t, Mapping):
        base = t.get("type")
        if isinstance(base, list | Mapping):
            return field_type_of(base, path)
        if base == "record":
            return FieldType(
                Kind.RECORD,
                fields=tuple(
                    (str(f["name"]), field_type_of(f["type"], f"{path}.{f['name']}"))
                    for f in t.get("fields", ())
                ),
            )
        if base in ("array", "map"):
            inner = field_type_of(t.get("items" if base == "array" else "values"), f"{path}[]")
            return FieldType(Kind.ARRAY if base == "array" else Kind.MAP, items=inner)
        logical = t.get("logicalType") or t.get(TYPE_PROPERTY)
        if base == "bytes" and logical == "decimal":
            return FieldType(
                Kind.DECIMAL, precision=int(t["precision"]), scale=int(t.get("scale", 0))
            )
        kind = _SCALAR_KIND.get((str(base), logical))
    else:
        kind = None
    if kind is None:
        raise ConfigError(
            f"field {path!r}: Avro type {describe_avro(t)} has no streamapp column "
            "type; use one of the types listed in streamapp.types"
        )
    return FieldType(kind)


def columns_from_avro(schema: Mapping[str, Any]) -> dict[str, FieldType]:
    """The columns of a value (or key) schema, in field order, without the bookkeeping fields.

    Inverts :func:`avro_schema_for`; raises ConfigError naming the first unsupported field.
    """
    if schema.get("type") != "record":
        raise ConfigError(
            f"schema {schema.get('name')!r} is not an Avro record; "
            "an output schema must be a record"
        )
    return {
        str(f["name"]): field_type_of(f["type"], str(f["name"]))
        for f in schema.get("fields", ())
        if f["name"] not in BOOKKEEPING_FIELDS
    }


def schema_problems(
    declared: Mapping[str, Any], columns: Mapping[str, FieldType], *, key_columns: Sequence[str]
) -> list[str]:
    """One line per mismatch between a declared value schema and the columns a topology produces.

    An empty list means records of ``columns`` encode against ``declared`` without loss.
    """
    if declared.get("type") != "record" or not isinstance(declared.get("fields"), list):
        return ["declared schema is not an Avro record with a 'fields' list"]
    problems = _name_problems(columns)
    problems.extend(
        f"key column {k!r} is not among the produced columns"
        for k in key_columns
        if k not in columns
    )
    keys = frozenset(key_columns)
    by_name = {str(f.get("name")): f for f in declared["fields"]}
    for col, ft in columns.items():
        field = by_name.get(col)
        if field is None:
            problems.append(f"field {col!r} is produced but missing from the declared schema")
            continue
        t, nullable = split_nullable(field.get("type"))
        problems.extend(_type_mismatch(col, t, ft))
        if not nullable and col not in keys:
            problems.append(
                f"field {col!r}: declared non-null, but it is not a key column and "
                'may be null; declare ["null", T] with "default": null'
            )
    for fname, field in by_name.items():
        if fname not in columns and fname not in BOOKKEEPING_FIELDS and "default" not in field:
            problems.append(f"declared field {fname!r} is not produced and has no default")
    problems.extend(_bookkeeping_problems(by_name))
    return problems


def _type_mismatch(col: str, declared: Any, produced: FieldType) -> list[str]:
    try:
        if field_type_of(declared, col) == produced:
            return []
    except (ConfigError, KeyError, TypeError, ValueError):
        pass
    got = describe_avro(declared)
    want = str(produced)
    if got == want:
        want = f"{want} (Avro {describe_avro(avro_type(produced))})"
    return [f"field {col!r}: declared {got}, topology produces {want}"]


def _bookkeeping_problems(by_name: Mapping[str, Mapping[str, Any]]) -> list[str]:
    out: list[str] = []
    unchanged = by_name.get(UNCHANGED_FIELD)
    want = {"type": "array", "items": "string"}
    if unchanged is None:
        out.append(
            f"declared schema has no {UNCHANGED_FIELD!r} field; add "
            '{"name": "__unchanged", "type": {"type": "array", "items": "string"}, '
            '"default": []} so columns that were not sent are not read as null'
        )
    elif unchanged.get("type") != want:
        out.append(
            f"field {UNCHANGED_FIELD!r}: declared {describe_avro(unchanged.get('type'))}, "
            "must be array<string>"
        )
    deleted = by_name.get(DELETED_FIELD)
    if deleted is not None and deleted.get("type") != "boolean":
        out.append(
            f"field {DELETED_FIELD!r}: declared {describe_avro(deleted.get('type'))}, "
            "must be boolean"
        )
    return out
