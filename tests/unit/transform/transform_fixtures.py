"""Plain-data builders shared by the transform tests: events, one-off topologies, runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from streamapp.records import ChangeEvent, EventKind, Op, OutputRecord, SourceInfo
from streamapp.transform.compile import CompiledTopology, compile_topology, compile_with_problems
from streamapp.transform.spec import Output, SinkSpec, Source, Topology, Transform
from streamapp.types import TypeSpec

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = REPO / "schemas"
SECRETS: dict[str, bytes] = {"default": b"d" * 32, "pii": b"p" * 32}
SOURCE = SourceInfo(
    connector="postgresql",
    db="shop",
    schema="public",
    table="things",
    ts_ms=1_700_000_000_000,
    snapshot="false",
    lsn=24_023_128,
    tx_id=555,
    file=None,
    pos=None,
    row=None,
    gtid=None,
    ord=None,
    raw={},
)


def event(
    op: Op | str | None = "c",
    *,
    after: dict[str, Any] | None = None,
    before: dict[str, Any] | None = None,
    key: Mapping[str, Any] | None = None,
    kind: EventKind = EventKind.DATA,
    source: SourceInfo | None = SOURCE,
    version: int = 7,
    ts_ms: int | None = 1_700_000_000_123,
) -> ChangeEvent:
    """A decoded change event built by hand."""
    return ChangeEvent(
        kind=kind,
        op=Op(op) if isinstance(op, str) else op,
        key=key,
        before=before,
        after=after,
        source=source,
        ts_ms=ts_ms,
        transaction=None,
        version=version,
    )


def topology(
    columns: Mapping[str, TypeSpec],
    transforms: Sequence[Transform] = (),
    *,
    key: Sequence[str] = ("id",),
    sinks: Sequence[SinkSpec] = (),
    output: Output | None = None,
    name: str = "things",
) -> Topology:
    """A Topology over topic ``shop.public.things`` with a derived output schema."""
    return Topology(
        name=name,
        source=Source(topic="shop.public.things", columns=dict(columns)),
        key=list(key),
        transforms=list(transforms),
        output=output,
        sinks=list(sinks),
    )


def compiled(
    columns: Mapping[str, TypeSpec],
    transforms: Sequence[Transform] = (),
    *,
    key: Sequence[str] = ("id",),
    secrets: Mapping[str, bytes] = SECRETS,
) -> CompiledTopology:
    """Compile a one-off topology (raises TopologyError on problems)."""
    return compile_topology(
        topology(columns, transforms, key=key), secrets=secrets, schemas_dir=SCHEMAS
    )


def problems(
    columns: Mapping[str, TypeSpec],
    transforms: Sequence[Transform] = (),
    *,
    key: Sequence[str] = ("id",),
    sinks: Sequence[SinkSpec] = (),
    secrets: Mapping[str, bytes] = SECRETS,
    output: Output | None = None,
) -> list[str]:
    """The problem lines of a one-off topology ([] when it compiles)."""
    _, lines = compile_with_problems(
        topology(columns, transforms, key=key, sinks=sinks, output=output),
        secrets=secrets,
        schemas_dir=SCHEMAS,
    )
    return lines


def record(
    columns: Mapping[str, TypeSpec],
    transforms: Sequence[Transform],
    after: dict[str, Any],
    *,
    key: Sequence[str] = ("id",),
) -> OutputRecord:
    """The one record a create event with ``after`` produces."""
    records = compiled(columns, transforms, key=key).process(event("c", after=after))
    assert len(records) == 1
    return records[0]


def run(
    columns: Mapping[str, TypeSpec], transforms: Sequence[Transform], after: dict[str, Any]
) -> dict[str, Any]:
    """The output row a create event with ``after`` produces."""
    return record(columns, transforms, after).value
