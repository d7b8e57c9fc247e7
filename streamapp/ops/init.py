"""`streamapp topology init`: a topology module skeleton from the registry's schemas of a topic.

The value subject's latest schema is a Debezium envelope; its ``after`` record gives the
source columns in source order, each mapped to the declared type streamapp reads that writer
type as (``decode.drift.writer_type``, the mapping schema-drift checks use), with the unit
precision Debezium's temporal types imply (``MicroTimestamp``: ``timestamp(6)``) and nested
records, arrays and maps spelled out. The ``<topic>-key`` subject, when there is one, names
the key columns. The module written is plain Python the user then edits.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from streamapp.decode.drift import writer_type
from streamapp.decode.schema import SType, from_avro
from streamapp.errors import ConfigError, DecodeError
from streamapp.types import Kind, TypeSpec, parse_type

_T: Final = "io.debezium.time."
_PRECISION: Final = {
    _T + "Time": 3,
    _T + "MicroTime": 6,
    _T + "NanoTime": 9,
    _T + "Timestamp": 3,
    _T + "MicroTimestamp": 6,
    _T + "NanoTimestamp": 9,
    "org.apache.kafka.connect.data.Time": 3,
    "org.apache.kafka.connect.data.Timestamp": 3,
    "avro:time-millis": 3,
    "avro:time-micros": 6,
    "avro:local-timestamp-millis": 3,
    "avro:local-timestamp-micros": 6,
    "avro:local-timestamp-nanos": 9,
    "avro:timestamp-millis": 3,
    "avro:timestamp-micros": 6,
    "avro:timestamp-nanos": 9,
}
_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]*$")


def column_spec(st: SType) -> TypeSpec:
    """The type spec (``streamapp.types``) to declare for a writer column of type ``st``.

    Decimals keep precision and scale (``decimal(12,2)``); temporal types get the precision
    of their unit; a plain struct is a record dict, arrays and maps are ``array<T>`` /
    ``map<T>`` of a scalar (else ``json``); anything streamapp cannot tell is ``json``.
    """
    if st.kind == "struct" and st.semantic is None and st.fields:
        return {name: column_spec(f) for name, f in st.fields}
    if st.kind in ("array", "map") and st.semantic is None and st.items is not None:
        inner = column_spec(st.items)
        return f"{st.kind}<{inner}>" if isinstance(inner, str) else "json"
    found = writer_type(st)
    if found is None:
        return "json"
    precision = _PRECISION.get(st.semantic or "")
    if precision is not None and found.kind in (Kind.TIME, Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
        return f"{found.kind.value}({precision})"
    return str(found)


def after_row(value_schema: Any, subject: str) -> SType:
    """The ``after`` record of the Debezium envelope ``value_schema`` (Avro JSON)."""
    try:
        top = from_avro(value_schema)
    except DecodeError as exc:
        raise ConfigError(f"subject {subject!r}: the schema cannot be read ({exc})") from None
    after = top.child("after") if top.kind == "struct" else None
    if after is None or after.kind != "struct" or "op" not in top.field_names():
        raise ConfigError(
            f"subject {subject!r} is not a Debezium change-event envelope (no 'op' and 'after' "
            "record); give the value subject of a connector's table topic, e.g. "
            "<prefix>.<schema>.<table>-value"
        )
    return after


def columns(value_schema: Any, subject: str) -> dict[str, TypeSpec]:
    """Source columns (name -> type spec, in source order) of a Debezium envelope schema."""
    return {name: column_spec(st) for name, st in after_row(value_schema, subject).fields}


def key_columns(key_schema: Any) -> list[str]:
    """The field names of a key record schema (Avro JSON), in order; [] for other schemas."""
    try:
        top = from_avro(key_schema)
    except DecodeError:
        return []
    return [name for name, _ in top.fields] if top.kind == "struct" else []


@dataclass(frozen=True, slots=True)
class Skeleton:
    """What ``init`` found: the topic, its columns and key, and the subject versions read."""

    name: str
    topic: str
    columns: Mapping[str, TypeSpec]
    key: tuple[str, ...]
    value_subject: str
    key_subject: str | None


def subjects_of(subject: str) -> tuple[str, str, str]:
    """(topic, value subject, key subject) for a value subject or a topic (TopicNameStrategy)."""
    topic = subject.removesuffix("-value")
    return topic, f"{topic}-value", f"{topic}-key"


def from_registry(registry: Any, name: str, subject: str) -> Skeleton:
    """Read the subject's latest value schema (and key schema) from ``registry``
    (``streamapp.registry.SchemaRegistry``); ConfigError when there is none or it is no
    Debezium envelope."""
    if not _NAME.match(name) or keyword.iskeyword(name):
        raise ConfigError(
            f"topology name {name!r} must be lower-case letters, digits and '_' (it names "
            "the module file and the output topic)"
        )
    topic, value_subject, key_subject = subjects_of(subject)
    latest = registry.latest(value_subject)
    if latest is None:
        raise ConfigError(
            f"subject {value_subject!r} has no version in the registry at {registry.url}; "
            "list the subjects with GET /subjects (the connector registers them with its "
            "first event)"
        )
    cols = columns(latest[1], value_subject)
    key_latest = registry.latest(key_subject)
    key = tuple(k for k in key_columns(key_latest[1]) if k in cols) if key_latest else ()
    for spec in cols.values():
        parse_type(spec)  # a bug here, not the user's: fail before writing anything
    return Skeleton(name, topic, cols, key, value_subject, key_subject if key_latest else None)


def render(sk: Skeleton) -> str:
    """The topology module text: declarations only, for the user to edit."""
    lines = [
        f'"""{sk.name}: generated by `streamapp topology init` from registry subject '
        f'{sk.value_subject}; edit freely."""',
        "",
        "from __future__ import annotations",
        "",
        "from streamapp.topology import Output, Source, Topology, t",
        "",
        "topology = Topology(",
        f"    name={json.dumps(sk.name)},",
        "    source=Source(",
        f"        topic={json.dumps(sk.topic)},",
        "        columns={",
    ]
    lines += [
        f"            {json.dumps(col)}: {json.dumps(spec)}," for col, spec in sk.columns.items()
    ]
    lines += ["        },", "    ),"]
    if sk.key:
        lines.append(f"    key={json.dumps(list(sk.key))},  # from subject {sk.key_subject}")
    else:
        lines.append("    key=[],  # no key subject: name the key column(s)")
    lines += [
        "    transforms=[",
        '        t.filter_ops("c", "u", "d", "r"),',
        "    ],",
        f"    output=Output(topic={json.dumps(sk.name + '.out')}),  # schema derived from columns",
        "    sinks=[],  # e.g. Sink.postgres(...), Sink.clickhouse(...), Sink.redis(...)",
        ")",
        "",
    ]
    return "\n".join(lines)
