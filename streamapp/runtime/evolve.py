"""Propagate new source columns while running: recompile, register the schema, alter the sinks.

Used when a topology says ``Source(new_columns="propagate")`` and a writer schema brings
columns the topology does not declare (``ALTER TABLE ... ADD COLUMN`` at the source). The
topology is recompiled with the new columns (declared with the type the writer gives them),
the output value schema gains them as nullable fields with default null (a BACKWARD-compatible
new version, registered before anything is produced with it), every sink table gets them
(``ensure_table`` adds missing columns), and only then does the pipeline switch over and the
event that brought them is processed. Nothing restarts; a later restart re-discovers the
columns from the writer schema and converges to the same schema version and tables.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamapp.encode.schema import DELETED_FIELD, avro_schema_for
from streamapp.errors import RegistryError, SinkError, StreamappError
from streamapp.registry import SchemaRegistry
from streamapp.transform.compile import CompiledTopology, compile_topology
from streamapp.types import FieldType

if TYPE_CHECKING:
    from streamapp.pipeline import Pipeline

log = logging.getLogger("streamapp.evolve")


def extended_schema(schema: Mapping[str, Any], added: Mapping[str, FieldType]) -> dict[str, Any]:
    """``schema`` with a nullable, default-null field per ``added`` column (before __deleted)."""
    derived = avro_schema_for(
        added, name=str(schema["name"]), namespace=str(schema.get("namespace", "")), key_columns=()
    )
    new_fields = [f for f in derived["fields"] if f["name"] in added]
    out = copy.deepcopy(dict(schema))
    fields: list[Any] = out["fields"]
    at = next((i for i, f in enumerate(fields) if f["name"] == DELETED_FIELD), len(fields))
    out["fields"] = fields[:at] + new_fields + fields[at:]
    return out


def recompile(
    compiled: CompiledTopology,
    added: Mapping[str, FieldType],
    *,
    secrets: Mapping[str, bytes],
    schemas_dir: Path,
) -> tuple[CompiledTopology, dict[str, FieldType]]:
    """The topology with ``added`` source columns, and the output columns that are new.

    Raises TopologyError when the columns cannot be added (e.g. a name collides with a
    derived column).
    """
    spec = compiled.topology
    columns = {**spec.source.columns, **added}
    source = dataclasses.replace(spec.source, columns=columns)
    derived_output = (
        dataclasses.replace(spec.output, schema=None) if spec.output is not None else None
    )
    fresh = compile_topology(
        dataclasses.replace(spec, source=source, output=derived_output),
        secrets=secrets,
        schemas_dir=schemas_dir,
        tables=compiled.table_shapes,
        refs=compiled.table_refs,
    )
    new_outputs = {
        n: t for n, t in fresh.output_columns.items() if n not in compiled.output_columns
    }
    return (
        dataclasses.replace(
            fresh,
            output_avro_schema=extended_schema(compiled.output_avro_schema, new_outputs),
            topology=dataclasses.replace(spec, source=source),
        ),
        new_outputs,
    )


class Evolver:
    """Adds propagated columns to one running pipeline (see the module docstring)."""

    def __init__(
        self, registry: SchemaRegistry, *, secrets: Mapping[str, bytes], schemas_dir: Path
    ) -> None:
        self.registry = registry
        self.secrets = secrets
        self.schemas_dir = schemas_dir

    async def __call__(
        self, pipeline: Pipeline, added: Mapping[str, FieldType], where: str
    ) -> None:
        """Switch ``pipeline`` to carry ``added``; on failure the guard refuses those columns.

        Never raises for a refusal: the events that bring the columns then go to the DLQ with
        the reason, like any other schema drift the policy cannot absorb.
        """
        guard = pipeline.decoder.drift
        assert guard is not None
        name = pipeline.topology.name
        delay = 0.5
        while True:
            try:
                compiled, outputs, encoder, tables = await self._prepare(pipeline, added)
                break
            except (RegistryError, SinkError) as exc:
                if pipeline.stopping.is_set():
                    raise  # the batch is not committed: the next run sees these events again
                if not (isinstance(exc, RegistryError) or exc.retriable):
                    return self._refuse(pipeline, added, where, exc)
                log.warning(
                    "topology %s: adding column(s) %s waits for an unavailable service, "
                    "retrying in %.1f s: %s",
                    name,
                    ", ".join(added),
                    delay,
                    exc,
                    extra={"topology": name},
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            except StreamappError as exc:
                return self._refuse(pipeline, added, where, exc)
        for writer, table in zip(pipeline.writers, tables, strict=True):
            writer.table = table
        pipeline.topology = compiled
        pipeline.encoder = encoder
        guard.accept(added)
        log.info(
            "topology %s: source column(s) %s added at the source (%s): propagated as output "
            "column(s) %s; output schema version registered; sinks %s altered",
            name,
            ", ".join(f"{n} {t}" for n, t in added.items()),
            where,
            ", ".join(outputs) or "(none)",
            ", ".join(w.name for w in pipeline.writers) or "(none)",
            extra={"topology": name},
        )

    async def _prepare(
        self, pipeline: Pipeline, added: Mapping[str, FieldType]
    ) -> tuple[CompiledTopology, dict[str, FieldType], Any, list[Any]]:
        """Recompile, register the output schema, alter every sink table (idempotent steps)."""
        from streamapp.runtime.worker import make_encoder

        compiled, outputs = recompile(
            pipeline.topology, added, secrets=self.secrets, schemas_dir=self.schemas_dir
        )
        encoder = (
            await asyncio.to_thread(make_encoder, compiled, self.registry)
            if pipeline.encoder is not None
            else None
        )
        tables = []
        for writer in pipeline.writers:
            table = dataclasses.replace(writer.table, columns=compiled.output_columns)
            await writer.sink.ensure_table(table)
            tables.append(table)
        return compiled, outputs, encoder, tables

    @staticmethod
    def _refuse(
        pipeline: Pipeline, added: Mapping[str, FieldType], where: str, exc: Exception
    ) -> None:
        """The columns cannot be carried: the events that bring them go to the DLQ, with why."""
        name = pipeline.topology.name
        reason = str(exc).replace("\n", "; ")
        log.error(
            "topology %s: cannot propagate new source column(s) %s (%s): %s",
            name,
            ", ".join(added),
            where,
            reason,
            extra={"topology": name},
        )
        assert pipeline.decoder.drift is not None
        pipeline.decoder.drift.refuse(
            added, f"{where}: new column(s) cannot be propagated: {reason}"
        )
