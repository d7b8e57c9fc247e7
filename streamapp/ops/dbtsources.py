"""A dbt ``sources.yml`` for the SQL sink tables of the loaded topologies (`streamapp dbt sources`).

One dbt source per PostgreSQL schema (and, when asked, per ClickHouse database), holding per
sink table two entries: the table itself (tombstone rows included: ``__deleted``) and its
``<table>_current`` view (live rows; ClickHouse: use ``FINAL`` and ``__is_deleted = 0``).
Columns carry descriptions from the topology (declared type, key, masking, metadata); tests
are ``unique`` + ``not_null`` on a single key column (``not_null`` on each column of a
composite key) and ``not_null`` on the sink's bookkeeping columns. Other columns get no
``not_null``: a topology declares no source nullability, and tombstones null every non-key
column. Freshness comes from the freshness contract, not from a column: ``loaded_at_query``
reads ``complete_through_ts`` of the topology's row in the schema's ``streamapp_freshness``
view (dbt >= 1.10), so an idle but caught-up source stays fresh and a stopped worker does not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from streamapp.transform.compile import CompiledTopology
from streamapp.transform.spec import OpenSearchSink, PostgresSink, RedisSink

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_METADATA = {
    "__op": "Debezium operation: c, u, d, r",
    "__source_ts_ms": "when the change was committed at the source (ms since epoch)",
    "__lsn": "the change's position in the source log",
    "__deleted": "true for a delete (a tombstone row: key and version kept, the rest null)",
}


def _masks(topology: CompiledTopology) -> dict[str, str]:
    """Masked source column -> how it is masked (``hmac_sha256``, ``keep_last(n=4)``...)."""
    from streamapp.transform.mask import Mask

    return {
        s.column: s.function.describe() for s in topology.topology.transforms if isinstance(s, Mask)
    }


def _describe(topology: CompiledTopology, name: str, masks: dict[str, str]) -> str:
    parts = [str(topology.output_columns[name])]
    if name in topology.key_columns:
        parts.append("key")
    masked = masks.get(name)  # by its source name: a renamed masked column is not noted
    if masked:
        parts.append(f"masked ({masked}): never the source value")
    if name in _METADATA:
        parts.append(_METADATA[name])
    return "; ".join(parts)


def _columns(topology: CompiledTopology, kind: str) -> list[dict[str, Any]]:
    masks = _masks(topology)
    keys = topology.key_columns
    columns: list[dict[str, Any]] = []
    for name in topology.output_columns:
        column: dict[str, Any] = {"name": name, "description": _describe(topology, name, masks)}
        if name in keys:
            column["data_tests"] = ["unique", "not_null"] if len(keys) == 1 else ["not_null"]
        columns.append(column)
    deleted = "__deleted" if kind == "postgres" else "__is_deleted"
    for name, about in (
        ("__version", "the version of the change that wrote the row (source position)"),
        (deleted, "tombstone flag: true for a deleted key (its other columns are null)"),
    ):
        if name not in topology.output_columns:
            columns.append({"name": name, "description": about, "data_tests": ["not_null"]})
    return columns


def _freshness(warn: tuple[int, str], error: tuple[int, str]) -> dict[str, Any]:
    return {
        "warn_after": {"count": warn[0], "period": warn[1]},
        "error_after": {"count": error[0], "period": error[1]},
    }


def build_sources(
    topologies: Sequence[CompiledTopology],
    *,
    warn: tuple[int, str],
    error: tuple[int, str],
    kinds: Sequence[str] = ("postgres",),
    name: str = "streamapp",
) -> dict[str, Any]:
    """The ``sources.yml`` document (a dict) for the ``kinds`` sinks of ``topologies``."""
    sources: dict[tuple[str, str], dict[str, Any]] = {}
    for topology in topologies:
        for spec in topology.sinks:
            if spec.kind not in kinds or isinstance(spec, RedisSink | OpenSearchSink):
                continue
            table = spec.table
            sink = f"{spec.kind}:{table}"  # the SinkWriter's name, as freshness rows carry it
            if isinstance(spec, PostgresSink):
                schema = spec.schema
            else:
                schema, _, rest = table.rpartition(".")
                schema, table = schema or "default", rest
            source = sources.setdefault(
                (spec.kind, schema),
                {
                    "name": name
                    if (spec.kind, schema) == ("postgres", "public")
                    else f"{name}_{spec.kind}_{schema}",
                    "schema": schema,
                    "description": f"CDC tables {spec.kind} sinks of streamapp keep up to date",
                    "tables": [],
                },
            )
            query = (
                f"select complete_through_ts from {_q(schema)}.streamapp_freshness "
                f"where topology = {_lit(topology.name)} and sink = {_lit(sink)}"
            )
            config = {"loaded_at_query": query, "freshness": _freshness(warn, error)}
            columns = _columns(topology, spec.kind)
            about = (
                f"topology {topology.name} ({', '.join(topology.source_topics)}), "
                f"key {', '.join(topology.key_columns)}"
            )
            source["tables"].append(
                {
                    "name": table,
                    "description": f"every key's newest row, deletes as tombstones; {about}",
                    "config": config,
                    "columns": columns,
                }
            )
            if spec.kind == "postgres":
                source["tables"].append(
                    {
                        "name": f"{table}_current",
                        "description": f"live rows only (tombstones hidden); {about}",
                        "config": config,
                        "columns": [c for c in columns if c["name"] != "__deleted"],
                    }
                )
    return {"version": 2, "sources": list(sources.values())}


def _q(ident: str) -> str:
    return '"' + ident.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def to_yaml(value: Any, indent: int = 0) -> str:
    """A small YAML writer for dicts, lists, strings, numbers and booleans (strings quoted)."""
    return "\n".join(_lines(value, indent)) + "\n"


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(str(value), ensure_ascii=False)


def _key(key: str) -> str:
    return key if _PLAIN.match(key) else json.dumps(key, ensure_ascii=False)


def _lines(value: Any, indent: int) -> list[str]:
    pad = " " * indent
    out: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                out.append(f"{pad}{_key(key)}:")
                out.extend(_lines(item, indent + 2))
            else:
                out.append(f"{pad}{_key(key)}: {_empty(item)}")
        return out
    for item in value:
        if isinstance(item, dict | list) and item:
            nested = _lines(item, indent + 2)
            out.append(f"{pad}- {nested[0].lstrip()}")
            out.extend(nested[1:])
        else:
            out.append(f"{pad}- {_empty(item)}")
    return out


def _empty(item: Any) -> str:
    if isinstance(item, dict):
        return "{}"
    if isinstance(item, list):
        return "[]"
    return _scalar(item)
