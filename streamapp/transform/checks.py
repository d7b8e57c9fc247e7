"""Whole-topology checks after the chain: the declaration itself, key columns and sinks."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Final

from streamapp.sinks.opensearch.mapping import id_template, index_problem
from streamapp.sinks.redis.keys import KeyTemplate, KeyTemplateError
from streamapp.transform.chain import Column, unknown_field
from streamapp.transform.spec import (
    ClickHouseSink,
    IcebergSink,
    OpenSearchSink,
    Output,
    PostgresSink,
    RedisSink,
    SinkSpec,
    Source,
    Topology,
)
from streamapp.types import Kind

_TOPOLOGY_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_IDENT: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TABLE: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*")
_ICEBERG: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*")
_KEY_KINDS: Final = frozenset(
    {Kind.STRING, Kind.INT, Kind.DECIMAL, Kind.BOOL, Kind.DATE, Kind.TIMESTAMP, Kind.TIMESTAMPTZ}
    | {Kind.UUID, Kind.BYTES, Kind.TIME}
)


def declaration_problems(topology: Topology) -> list[str]:
    """Problems with the Topology's own fields (names, source, output, on_error, dlq)."""
    out: list[str] = []
    if not isinstance(topology.name, str) or _TOPOLOGY_NAME.fullmatch(topology.name) is None:
        out.append(
            f"name {topology.name!r}: a topology name is letters, digits, '_', '.', '-' "
            "and starts with a letter or digit"
        )
    if not isinstance(topology.source, Source):
        out.append("source must be Source(topic=..., columns={...})")
    else:
        if not isinstance(topology.source.topic, str) or not topology.source.topic:
            out.append("source topic must be a non-empty string")
        columns = topology.source.columns
        if not isinstance(columns, Mapping) or not columns:
            out.append("source columns must be a non-empty dict of column -> type")
        elif not all(isinstance(name, str) and name for name in columns):
            out.append("source column names must be non-empty strings")
        if topology.source.new_columns not in ("ignore", "propagate"):
            out.append(
                f"source new_columns={topology.source.new_columns!r}: use 'ignore' or 'propagate'"
            )
        if topology.source.missing_columns not in ("dlq", "null"):
            out.append(
                f"source missing_columns={topology.source.missing_columns!r}: use 'dlq' or 'null'"
            )
        try:
            topology.source.handling_modes()
        except ValueError as exc:
            out.append(f"source handling: {exc}")
    if topology.output is not None and (
        not isinstance(topology.output, Output) or not topology.output.topic
    ):
        out.append("output must be Output(topic=..., schema=None or 'file.avsc')")
    if topology.on_error not in ("dlq", "fail"):
        out.append(f"on_error={topology.on_error!r}: use 'dlq' or 'fail'")
    if topology.on_gap not in ("snapshot", "fail", "ignore"):
        out.append(f"on_gap={topology.on_gap!r}: use 'snapshot', 'fail' or 'ignore'")
    if topology.dlq is not None and (not isinstance(topology.dlq, str) or not topology.dlq):
        out.append("dlq must be a topic name, or None for '<source topic>.dlq'")
    return out


def key_problems(key: tuple[str, ...], columns: Mapping[str, Column]) -> list[str]:
    """Problems with the key: empty, repeated, unknown, not a scalar, or masked unsafely."""
    if not key:
        return ["key is empty; name the output column(s) that identify a row, e.g. key=['id']"]
    out: list[str] = []
    if len(set(key)) != len(key):
        out.append(f"key {list(key)!r} names a column twice")
    for name in key:
        col = columns.get(name) if isinstance(name, str) else None
        if col is None:
            out.append(f"key: {unknown_field(str(name), columns)}")
        elif col.type.kind not in _KEY_KINDS:
            out.append(f"key column {name!r} is {col.type}; a key column must be a scalar")
        elif col.key_unsafe is not None:
            out.append(
                f"key column {name!r} is masked by {col.key_unsafe}, which merges distinct "
                "keys; mask a key only with hmac_sha256() or tokenize()"
            )
    return out


def describe_sink(sink: object) -> str:
    """A sink as the user wrote it, e.g. ``Sink.redis('customer:{id}')``."""
    if isinstance(sink, ClickHouseSink):
        return f"Sink.clickhouse({sink.table!r})"
    if isinstance(sink, PostgresSink):
        return f"Sink.postgres({sink.table!r}, schema={sink.schema!r})"
    if isinstance(sink, RedisSink):
        return f"Sink.redis({sink.key_template!r})"
    if isinstance(sink, OpenSearchSink):
        return f"Sink.opensearch({sink.index!r}, id={sink.id!r})"
    if isinstance(sink, IcebergSink):
        return f"Sink.iceberg({sink.table!r})"
    return repr(sink)


SINK_RESERVED = ("__version", "__deleted", "__is_deleted")
"""Columns every sink adds for its own bookkeeping; a topology with sinks may not produce them."""


def sink_problems(
    sinks: tuple[SinkSpec, ...], columns: Mapping[str, Column], key: tuple[str, ...] = ()
) -> list[str]:
    """Problems with the sink targets: names, reserved columns, Redis key templates (which may
    only name key columns: a delete without a before-image carries nothing else)."""
    out: list[str] = []
    seen: set[object] = set()
    if sinks:
        for name in SINK_RESERVED:
            if name in columns:
                out.append(
                    f"column {name!r} is reserved: every sink stores the event version and "
                    "delete flag itself; drop it from t.metadata(...) or rename it"
                )
    for sink in sinks:
        where = describe_sink(sink)
        if not isinstance(
            sink, ClickHouseSink | PostgresSink | RedisSink | OpenSearchSink | IcebergSink
        ):
            out.append(
                f"{where}: not a sink; use Sink.clickhouse/postgres/redis/opensearch/iceberg(...)"
            )
            continue
        if sink in seen:
            out.append(f"{where}: listed twice")
        seen.add(sink)
        if isinstance(sink, ClickHouseSink | PostgresSink) and (
            not isinstance(sink.table, str) or _TABLE.fullmatch(sink.table) is None
        ):
            out.append(f"{where}: table name must be letters, digits and _ (or db.table)")
        if isinstance(sink, PostgresSink) and (
            not isinstance(sink.schema, str) or _IDENT.fullmatch(sink.schema) is None
        ):
            out.append(f"{where}: schema name must be letters, digits and _")
        if isinstance(sink, IcebergSink) and (
            not isinstance(sink.table, str) or _ICEBERG.fullmatch(sink.table) is None
        ):
            out.append(f"{where}: name the table 'namespace.table' (letters, digits and _)")
        if isinstance(sink, RedisSink):
            out.extend(f"{where}: {p}" for p in _redis_problems(sink, columns, key))
        if isinstance(sink, OpenSearchSink):
            out.extend(f"{where}: {p}" for p in _opensearch_problems(sink, columns, key))
    return out


def _opensearch_problems(
    sink: OpenSearchSink, columns: Mapping[str, Column], key: tuple[str, ...]
) -> list[str]:
    out: list[str] = []
    bad_index = index_problem(sink.index)
    if bad_index is not None:
        out.append(bad_index)
    if sink.id is not None and not isinstance(sink.id, str):
        return [*out, "id must be a template string like '{id}', or None for the key columns"]
    if key:
        try:
            id_template(sink.id, key)
        except KeyTemplateError as exc:
            out.append(str(exc))
    return out


def _redis_problems(
    sink: RedisSink, columns: Mapping[str, Column], key: tuple[str, ...]
) -> list[str]:
    out: list[str] = []
    if sink.format not in ("json", "hash"):
        out.append(f"format={sink.format!r}: use 'json' or 'hash'")
    ttl = sink.ttl_seconds
    if ttl is not None and (not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < 1):
        out.append("ttl_seconds must be a whole number >= 1, or None for no expiry")
    if not isinstance(sink.key_template, str):
        return [*out, "the key template must be a string like 'customer:{id}'"]
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(sink.key_template) if f is not None]
    except ValueError as exc:
        return [*out, f"the key template is not a valid format string ({exc})"]
    if not fields:
        out.append("the key template names no column, so every row would overwrite one key")
    for field in fields:
        if field == "" or field.isdigit() or not _IDENT.fullmatch(field):
            out.append(f"the key template field {{{field}}} must be a plain column name")
        elif field not in columns:
            out.append(f"the key template names {field!r}, which is not an output column")
        elif key and field not in key:
            out.append(
                f"the key template names {field!r}, which is not a key column; a delete "
                f"carries only the key, so name key columns only ({', '.join(key)})"
            )
    if fields and all(_IDENT.fullmatch(f) for f in fields):
        try:  # the sink's own renderer: placeholders that touch, format specs, ...
            KeyTemplate.parse(sink.key_template)
        except KeyTemplateError as exc:
            out.append(str(exc))
    return out
