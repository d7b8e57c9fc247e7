"""Compile a Topology once, at start-up, into a CompiledTopology with one ``process`` callable."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamapp.encode.schema import avro_schema_for, schema_problems
from streamapp.errors import TopologyError
from streamapp.transform.chain import Chain, Column
from streamapp.transform.checks import declaration_problems, key_problems, sink_problems
from streamapp.transform.codegen import Process, build, render
from streamapp.transform.lookup import Lookup, TableRef, TableShape
from streamapp.transform.spec import OnError, SinkSpec, Topology
from streamapp.types import FieldType, parse_type


@dataclass(frozen=True, slots=True)
class CompiledTopology:
    """A validated topology, ready for the hot path.

    ``process(event)`` returns ``[]`` for events that are not data (tombstones, heartbeats,
    schema changes, truncates, messages) and for filtered-out events, else exactly one
    OutputRecord; it raises TransformError (field named, no value) for a per-record failure.
    A delete yields ``deleted=True`` with the transformed before-image, or only the key
    columns when there is no before-image or it cannot be transformed. ``output_columns``
    is in output order; ``output_avro_schema`` is the declared .avsc or the derived schema;
    ``output_topic`` is None when the topology declares no Output (no topic, no encoding).
    ``source_code`` is the generated code of ``process``, for ``topology explain``.
    ``table_refs`` names the tables its lookups read (each a ``lookup.TableRef`` the worker
    binds to the materialised table); ``table_shapes`` the shapes they were compiled against.
    """

    name: str
    source_topics: tuple[str, ...]
    key_columns: tuple[str, ...]
    output_columns: dict[str, FieldType]
    output_topic: str | None
    output_avro_schema: dict[str, Any]
    dlq_topic: str
    sinks: tuple[SinkSpec, ...]
    on_error: OnError
    process: Process
    source_code: str
    topology: Topology
    table_refs: Mapping[str, TableRef] = field(default_factory=dict)
    table_shapes: Mapping[str, TableShape] = field(default_factory=dict)

    @property
    def lookups(self) -> tuple[Lookup, ...]:
        """The topology's lookups, in chain order."""
        return tuple(s for s in self.topology.transforms if isinstance(s, Lookup))

    @property
    def wait_seconds(self) -> float:
        """How long a batch may wait for missing dimension rows (0: no ``missing="wait"``)."""
        return max((s.wait_seconds for s in self.lookups if s.missing == "wait"), default=0.0)

    @property
    def reads_before(self) -> bool:
        """Whether ``process`` looks at the before-image of a create/update/snapshot event.

        Only predicate filters (``t.filter(fn)``) can; a delete's before-image is always used.
        The decoder skips the before-image of other events when this is False (cheaper).
        """
        from streamapp.transform.filter import Filter

        return any(isinstance(step, Filter) for step in self.topology.transforms)


def compile_topology(
    topology: Topology,
    *,
    secrets: Mapping[str, bytes],
    schemas_dir: Path,
    tables: Mapping[str, TableShape] | None = None,
    refs: Mapping[str, TableRef] | None = None,
) -> CompiledTopology:
    """Validate and compile ``topology``; TopologyError lists every problem, one per line."""
    compiled, problems = compile_with_problems(
        topology, secrets=secrets, schemas_dir=schemas_dir, tables=tables, refs=refs
    )
    if compiled is None:
        raise TopologyError([f"topology {topology.name!r}: {p}" for p in problems])
    return compiled


def compile_with_problems(
    topology: Topology,
    *,
    secrets: Mapping[str, bytes],
    schemas_dir: Path,
    tables: Mapping[str, TableShape] | None = None,
    refs: Mapping[str, TableRef] | None = None,
) -> tuple[CompiledTopology | None, list[str]]:
    """Like :func:`compile_topology` but returns ``(None, problems)`` instead of raising.

    ``tables`` are the shapes of the topologies a lookup may name (the loader passes the
    compiled ones); ``refs`` the TableRefs to reuse (a recompile keeps the bound ones)."""
    problems = declaration_problems(topology)
    if problems:
        return None, problems
    chain = Chain(secrets=secrets, tables=tables, refs=refs)
    for name, spec in topology.source.columns.items():
        try:
            ftype = parse_type(spec)
        except ValueError as exc:
            chain.problem(f"source column {name!r}", str(exc))
            continue
        var = chain.new_var()
        chain.emit([var], [f"{var} = get({name!r})"], [])
        chain.columns[name] = Column(var, ftype)
    loads = len(chain.statements)
    for index, step in enumerate(topology.transforms):
        if not (hasattr(step, "compile") and hasattr(step, "describe")):
            chain.problem(f"transforms[{index}]", "not a transform; build transforms with t.*()")
            continue
        try:
            step.compile(chain)
        except Exception as exc:  # noqa: BLE001 - any failure must become one problem line
            where = _safe_describe(step)
            chain.problem(where, f"cannot be compiled ({type(exc).__name__}: {exc})")
    for check in chain.final_checks:  # checks that need the whole chain (a lookup's outputs)
        check()
    key = tuple(topology.key_columns)
    problems = chain.problems
    problems += key_problems(key, chain.columns)
    problems += sink_problems(tuple(topology.sinks), chain.columns, key)
    columns = {name: col.type for name, col in chain.columns.items()}
    schema: dict[str, Any] | None = None
    if not problems:
        schema, schema_lines = output_schema(topology, columns, key, schemas_dir)
        problems += schema_lines
    if problems or schema is None:
        return None, problems
    source = render(chain, name=topology.name, loads=loads, key=key)
    return CompiledTopology(
        name=topology.name,
        source_topics=(topology.source.topic,),
        key_columns=key,
        output_columns=columns,
        output_topic=topology.output_topic,
        output_avro_schema=schema,
        dlq_topic=topology.dlq_topic,
        sinks=tuple(topology.sinks),
        on_error=topology.on_error,
        process=build(source, chain.namespace, name=topology.name),
        source_code=source,
        topology=topology,
        table_refs={name: chain.refs[name] for name in chain.refs},
        table_shapes=dict(tables or {}),
    ), []


def output_schema(
    topology: Topology, columns: dict[str, FieldType], key: tuple[str, ...], schemas_dir: Path
) -> tuple[dict[str, Any] | None, list[str]]:
    """The declared schema checked against ``columns``, or the derived one; with problems."""
    output = topology.output
    if output is None or output.schema is None:
        name = (output.name if output else None) or re.sub(r"\W", "_", topology.name)
        namespace = output.namespace if output else "streamapp"
        try:
            return avro_schema_for(columns, name=name, namespace=namespace, key_columns=key), []
        except TopologyError as exc:
            return None, [f"output schema: {p}" for p in exc.problems]
    where = f"output schema {output.schema}"
    path = schemas_dir / output.schema
    try:
        declared = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, [
            f"{where}: not found in {schemas_dir}; create it or set schema=None to derive it"
        ]
    except json.JSONDecodeError as exc:
        return None, [f"{where}: invalid JSON at line {exc.lineno}: {exc.msg}"]
    except OSError as exc:
        return None, [f"{where}: cannot be read ({exc.strerror})"]
    if not isinstance(declared, dict):
        return None, [f"{where}: not an Avro record schema"]
    lines = [f"{where}: {p}" for p in schema_problems(declared, columns, key_columns=key)]
    return (None if lines else declared), lines


def _safe_describe(step: Any) -> str:
    try:
        return str(step.describe())
    except Exception:  # noqa: BLE001 - describing must not hide the real problem
        return type(step).__name__
