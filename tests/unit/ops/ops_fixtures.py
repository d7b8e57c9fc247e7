"""Plain-data builders for the ops unit tests: a small compiled topology, DLQ records."""

from __future__ import annotations

from pathlib import Path

from streamapp.dlq.headers import FailureContext, build_headers
from streamapp.errors import StageError, TransformError
from streamapp.ops.reader import Record
from streamapp.topology import Output, Sink, Source, Topology, t
from streamapp.transform.compile import CompiledTopology, compile_topology
from streamapp.transform.spec import Transform

SECRETS = {"default": b"k" * 32}
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
KEY = b'{"id": 7}'
COLUMNS = {"id": "int", "email": "string", "qty": "string", "note": "string"}


def people(*, cast_qty: bool = True) -> CompiledTopology:
    """Topic ``app.public.people``: email masked (HMAC), qty cast to int, op metadata."""
    transforms: list[Transform] = [t.mask("email", t.hmac_sha256())]
    if cast_qty:
        transforms.append(t.cast(qty="int"))
    transforms += [t.rename(note="remark"), t.metadata("__op")]
    return compile_topology(
        Topology(
            name="people",
            source=Source(topic="app.public.people", columns=COLUMNS),
            key=["id"],
            transforms=transforms,
            output=Output(topic="warehouse.people"),
            sinks=[Sink.postgres("people")],
        ),
        secrets=SECRETS,
        schemas_dir=SCHEMAS,
    )


def dlq_record(
    offset: int,
    *,
    value: bytes | None = b"{}",
    error: StageError | None = None,
    attempt: int = 1,
    failed_at: int = 1_000_000,
    partition: int = 0,
    headers: bool = True,
) -> Record:
    """A DLQ record as the pipeline writes it (original at app.public.people[2]@100+offset)."""
    err = error or TransformError("cast(qty='int'): column 'qty' holds a str", field="qty")
    hs: tuple[tuple[str, bytes], ...] = ()
    if headers:
        ctx = FailureContext("app.public.people", 2, 100 + offset, 999, KEY, value, [])
        hs = tuple(
            build_headers(
                ctx,
                topology="people",
                stage=err.stage,
                error=err,
                attempt=attempt,
                failed_at_ms=failed_at,
            )
        )
    return Record("app.public.people.dlq", partition, offset, KEY, value, failed_at + 5, hs)
