"""`topology show`: a compiled topology as text, source -> each transform's effect -> output."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from streamapp.records import Op
from streamapp.transform.chain import Chain, Column
from streamapp.transform.compile import CompiledTopology
from streamapp.types import FieldType, parse_type

Snapshot = dict[str, tuple[str, FieldType]]  # column -> (local variable, type)


@dataclass(frozen=True, slots=True)
class StepEffect:
    """One transform as written and what it does to the columns or the events."""

    written: str
    effects: tuple[str, ...]


def _snapshot(chain: Chain) -> Snapshot:
    return {name: (col.var, col.type) for name, col in chain.columns.items()}


def column_effects(
    before: Snapshot, after: Snapshot, *, rewrite_verb: str = "rewrites"
) -> list[str]:
    """The column changes from ``before`` to ``after``, in output order.

    A column that disappears while its variable reappears under a new name is a rename;
    a column whose variable changes keeps its name but gets a new value (``rewrite_verb``),
    with its type change shown when there is one.
    """
    by_var = {var: name for name, (var, _) in before.items()}
    renamed = {
        by_var[var]: name
        for name, (var, _) in after.items()
        if name not in before and var in by_var and by_var[var] not in after
    }
    out = [f"renames {old} -> {new}" for old, new in renamed.items()]
    dropped = [n for n in before if n not in after and n not in renamed]
    if dropped:
        out.append("drops " + ", ".join(dropped))
    added = [
        f"{n}: {t}" for n, (_, t) in after.items() if n not in before and n not in renamed.values()
    ]
    if added:
        out.append("adds " + ", ".join(added))
    for name, (var, ftype) in after.items():
        if name not in before:
            continue
        old_var, old_type = before[name]
        if old_type != ftype:
            out.append(f"{name}: {old_type} -> {ftype}")
        elif old_var != var:
            out.append(f"{rewrite_verb} {name}")
    return out


def walk(topology: CompiledTopology, secrets: Mapping[str, bytes]) -> list[StepEffect]:
    """Compile the topology again, step by step, recording each transform's effect.

    The topology is already valid (it compiled), so every step compiles here as well.
    """
    chain = Chain(secrets=secrets, tables=topology.table_shapes)
    for name, spec in topology.topology.source.columns.items():
        chain.columns[name] = Column(chain.new_var(), parse_type(spec))
    steps = []
    for step in topology.topology.transforms:
        before, ops, predicates = _snapshot(chain), set(chain.ops), len(chain.predicates)
        step.compile(chain)
        verb = "masks" if type(step).__name__ == "Mask" else "rewrites"
        effects = column_effects(before, _snapshot(chain), rewrite_verb=verb)
        if chain.ops != ops or type(step).__name__ == "FilterOps":
            kept = ", ".join(op.value for op in Op if op in chain.ops)
            effects.append(f"keeps only ops {kept or 'none'}")
        if len(chain.predicates) != predicates:
            effects.append("drops the events the predicate rejects")
        steps.append(StepEffect(step.describe(), tuple(effects or ["no change to the columns"])))
    return steps


def render(
    topology: CompiledTopology, secrets: Mapping[str, bytes], *, looked_up_by: Sequence[str] = ()
) -> list[str]:
    """The lines `streamapp topology show` prints (``looked_up_by``: the topologies whose
    lookups read this one's table)."""
    spec = topology.topology
    lines = [f"topology {topology.name}", f"source   {', '.join(topology.source_topics)}"]
    source = {name: parse_type(t) for name, t in spec.source.columns.items()}
    lines += _columns(source, ())
    lines.append(
        f"  schema drift: new columns {spec.source.new_columns}, "
        f"missing columns {spec.source.missing_columns} (README: Schema drift at the source)"
    )
    lines.append("transforms" if spec.transforms else "transforms (none)")
    for i, step in enumerate(walk(topology, secrets), 1):
        lines.append(f"  {i:>2}. {step.written}")
        lines += textwrap.wrap(
            "; ".join(step.effects), 100, initial_indent=" " * 6, subsequent_indent=" " * 8
        )
    output = spec.output
    declared = output.schema if output is not None else None
    schema = f" (schema {declared})" if declared else " (derived schema)"
    if topology.output_topic is None:
        schema = " (none declared: no topic, no Avro encoding; sinks only)"
    topic = topology.output_topic or "-"
    lines.append(f"output   {topic}{schema}, key {', '.join(topology.key_columns)}")
    lines += _columns(topology.output_columns, topology.key_columns)
    lines.append(f"sinks    {', '.join(str(s) for s in topology.sinks) or 'none'}")
    lines.append(f"dlq      {topology.dlq_topic} (on_error={topology.on_error})")
    gaps = "events deleted by retention before they were read"
    lines.append(f"gaps     on_gap={spec.on_gap} ({gaps})")
    return lines + _state_lines(topology, looked_up_by)


def _state_lines(topology: CompiledTopology, looked_up_by: Sequence[str]) -> list[str]:
    """The table this topology materialises and the tables its lookups read."""
    from streamapp.transform.lookup import Lookup

    lines = []
    why = [f"looked up by {', '.join(looked_up_by)}"] if looked_up_by else []
    if topology.topology.materialize:
        why.append("materialize=True")
    if why:
        lines.append(
            f"table    {topology.name} ({'; '.join(why)}), key {', '.join(topology.key_columns)}: "
            f"global, every worker reads all partitions of {topology.source_topics[0]}"
        )
    for step in topology.topology.transforms:
        if isinstance(step, Lookup):
            shape = topology.table_shapes.get(step.table)
            key = ", ".join(shape.key_columns) if shape is not None else "?"
            lines.append(
                f"lookup   {step.table} on {', '.join(step.on)} = its key {key} "
                f"(as_of={step.as_of}, missing={step.missing}): a global table, as the fact is "
                f"keyed by {', '.join(topology.key_columns)}, not co-partitioned with it"
            )
    return lines


def _columns(columns: Mapping[str, FieldType], key: tuple[str, ...]) -> list[str]:
    width = max((len(n) for n in columns), default=0)
    return [
        f"  {name:<{width}}  {ftype}{'  (key)' if name in key else ''}"
        for name, ftype in columns.items()
    ]
