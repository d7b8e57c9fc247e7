"""OpenSearch index mappings from output columns, index naming and the documents' id template.

=============  ==============================================  ==================================
kind           field mapping                                   document value (``_source``)
=============  ==============================================  ==================================
string (key)   keyword                                         the string
string         text + sub-field ``raw``: keyword               the string
               (``ignore_above`` 8191 characters)
int            long                                            number
float          double                                          number (NaN/inf refused)
bool           boolean                                         true / false
decimal(p,s)   scaled_float (scaling_factor 10^s) if p <= 15,  string ("12.50"), exact, rounded
               else keyword                                    half-up to the scale
date           date (strict_date)                              "2024-05-01"
timestamp(tz)  date (strict_date_optional_time)                ISO-8601 (offset for tz), µs kept
time           keyword                                         "13:45:00.250000"
duration       long                                            microseconds
bytes          binary                                          base64
uuid           keyword                                         "8-4-4-4-12"
record, map    flat_object (searchable by dotted path)         JSON object
array          the item's mapping (fields are multi-valued);   JSON array
               arrays of records/maps: flat_object
json, other    object, ``enabled: false`` (stored only)        JSON value
=============  ==============================================  ==================================

Strings: every non-key string is full-text searchable (``match``) and filterable, sortable and
aggregatable exactly through ``<column>.raw``; key strings are ``keyword`` only. Decimals: the
document keeps the exact text; the index holds ``value * 10^s`` as a long, exact for range
queries while ``p <= 15`` (a double's integer range), so wider decimals are indexed as keyword
(term queries only). Dates index to the millisecond; ``_source`` keeps the microseconds.
Mappings are ``dynamic: strict``: a field the mapping lacks is refused, never guessed.
"""

from __future__ import annotations

import re
from typing import Any, Final

from streamapp.sinks.base import TableSpec
from streamapp.sinks.redis.keys import KeyTemplate, KeyTemplateError
from streamapp.types import FieldType, Kind

EXACT_DECIMAL_DIGITS: Final = 15
KEYWORD_IGNORE_ABOVE: Final = 8191  # characters: 4 UTF-8 bytes each stay under Lucene's 32766
MAX_ID_BYTES: Final = 512
_INDEX_NAME: Final = re.compile(r"[a-z0-9][a-z0-9_.\-]{0,254}")
_SIMPLE: Final[dict[Kind, dict[str, Any]]] = {
    Kind.INT: {"type": "long"},
    Kind.FLOAT: {"type": "double"},
    Kind.BOOL: {"type": "boolean"},
    Kind.DATE: {"type": "date", "format": "strict_date"},
    Kind.TIMESTAMP: {"type": "date", "format": "strict_date_optional_time"},
    Kind.TIMESTAMPTZ: {"type": "date", "format": "strict_date_optional_time"},
    Kind.TIME: {"type": "keyword"},
    Kind.DURATION: {"type": "long"},
    Kind.BYTES: {"type": "binary"},
    Kind.UUID: {"type": "keyword"},
}
_STORED_ONLY: Final[dict[str, Any]] = {"type": "object", "enabled": False}


def field_mapping(ft: FieldType, *, key: bool = False) -> dict[str, Any]:
    """The mapping of one column of type ``ft``; ``key`` for a key column (strings: keyword)."""
    kind = ft.kind
    if kind is Kind.STRING:
        if key:
            return {"type": "keyword"}
        raw = {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
        return {"type": "text", "fields": {"raw": raw}}
    if kind is Kind.DECIMAL:
        precision, scale = ft.precision or 0, ft.scale or 0
        if precision <= EXACT_DECIMAL_DIGITS and scale >= 0:
            return {"type": "scaled_float", "scaling_factor": 10**scale}
        return {"type": "keyword"}
    simple = _SIMPLE.get(kind)
    if simple is not None:
        return dict(simple)
    if kind in (Kind.RECORD, Kind.MAP):
        return {"type": "flat_object"}
    if kind is Kind.ARRAY and ft.items is not None:
        if ft.items.kind in (Kind.RECORD, Kind.MAP):
            return {"type": "flat_object"}
        if ft.items.kind is not Kind.ARRAY and ft.items.kind is not Kind.JSON:
            return field_mapping(ft.items)
    return dict(_STORED_ONLY)


def properties(table: TableSpec) -> dict[str, dict[str, Any]]:
    """``mappings.properties`` for ``table``'s columns (key columns by the key rule)."""
    keys = set(table.key_columns)
    return {n: field_mapping(t, key=n in keys) for n, t in table.columns.items()}


def index_body(table: TableSpec, *, replicas: int, gc_deletes: str) -> dict[str, Any]:
    """The body of the ``PUT <index>`` that creates ``table``'s index: one shard, ``replicas``
    replicas, tombstones kept ``gc_deletes``, a strict mapping of every column."""
    return {
        "settings": {
            "index": {
                "number_of_shards": 1,
                "number_of_replicas": replicas,
                "gc_deletes": gc_deletes,
            }
        },
        "mappings": {"dynamic": "strict", "properties": properties(table)},
    }


def index_problem(name: object) -> str | None:
    """Why ``name`` is no index name the sink may create, or None (lowercase letters, digits,
    ``_ . -``, not starting with ``_ . -``, at most 255 characters)."""
    if not isinstance(name, str) or _INDEX_NAME.fullmatch(name) is None or name in (".", ".."):
        return (
            "the index name must be lowercase letters, digits, '_', '.' or '-', start with a "
            "letter or digit, and be at most 255 characters"
        )
    return None


def id_template(template: str | None, key_columns: tuple[str, ...]) -> KeyTemplate:
    """The compiled id template: ``template`` or, when None, the key columns joined by ``:``.

    KeyTemplateError when it is malformed, names a non-key column (a delete carries only the
    key) or leaves a key column out (two keys would share one document).
    """
    text = template if template is not None else ":".join(f"{{{k}}}" for k in key_columns)
    compiled = KeyTemplate.parse(text)
    extra = [c for c in compiled.columns if c not in key_columns]
    if extra:
        raise KeyTemplateError(
            f"the id template names {extra}, not key column(s); a delete carries only the key, "
            f"so name key columns only ({', '.join(key_columns)})"
        )
    missing = [k for k in key_columns if k not in compiled.columns]
    if missing:
        raise KeyTemplateError(
            f"the id template leaves out key column(s) {missing}, so distinct keys would share "
            "one document; name every key column"
        )
    return compiled
