"""Columns a worker propagated at run time, learned from the output schema it registered.

With ``Source(new_columns="propagate")`` the worker adds a column the source gained to the
topology while running (``runtime.evolve``), but never writes it back to the topology module,
so the compiled module alone does not know it. The durable record is the output value schema
the worker registered (``<output topic>-value``) before any sink or output record carried the
column: every topology has one, whatever the source format (JSON writer schemas are in no
registry) or the sinks (Redis has no columns), and it holds the exact type the sink columns
were made from. Its latest version's fields that the module does not produce are the
propagated columns; reconcile recompiles the topology with them, as the worker does, so they
are expected and compared like declared ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamapp.encode.schema import BOOKKEEPING_FIELDS, field_type_of
from streamapp.errors import ConfigError, TopologyError
from streamapp.ops import OpsError
from streamapp.registry import SchemaRegistry, subject_name
from streamapp.runtime.evolve import recompile
from streamapp.settings import Settings
from streamapp.transform.compile import CompiledTopology
from streamapp.types import FieldType


def columns_of(topology: CompiledTopology, schema: Mapping[str, Any]) -> dict[str, FieldType]:
    """The fields of output value ``schema`` that ``topology`` does not produce, typed.

    OpsError when a field's type is not one streamapp writes (the subject is not ours).
    """
    produced = topology.output_columns
    subject = subject_name(topology.output_topic or topology.name)
    out: dict[str, FieldType] = {}
    for f in schema.get("fields", ()):
        name = f.get("name")
        if not isinstance(name, str) or name in produced or name in BOOKKEEPING_FIELDS:
            continue
        try:
            out[name] = field_type_of(f.get("type"), name)
        except ConfigError as exc:
            raise OpsError(
                f"topology {topology.name!r}: output schema field {name!r} is no column "
                f"streamapp propagates ({exc}); is {subject!r} "
                "written by another producer?"
            ) from None
    return out


def propagated(settings: Settings, topology: CompiledTopology) -> dict[str, FieldType]:
    """The columns the workers propagated for ``topology`` (empty unless it propagates).

    Reads the latest version of the output value subject; RegistryError when the registry
    cannot answer (a propagating topology cannot be verified without it).
    """
    if topology.topology.source.new_columns != "propagate" or topology.output_topic is None:
        return {}  # no output topic: no subject was registered to record propagated columns
    registry = SchemaRegistry(settings.registry_url, settings=settings)
    try:
        latest = registry.latest(subject_name(topology.output_topic))
    finally:
        registry.close()
    return columns_of(topology, latest[1]) if latest is not None else {}


def with_columns(
    settings: Settings, topology: CompiledTopology, added: Mapping[str, FieldType]
) -> CompiledTopology:
    """``topology`` carrying the source columns ``added``, compiled as the worker does."""
    if not added:
        return topology
    try:
        compiled, _ = recompile(
            topology,
            added,
            secrets=settings.mask_secrets(),
            schemas_dir=settings.path(settings.schemas_dir),
        )
    except TopologyError as exc:
        raise OpsError(
            f"topology {topology.name!r}: propagated column(s) {', '.join(added)} cannot be "
            f"added to the topology module as it is now: {str(exc).splitlines()[-1]}"
        ) from None
    return compiled
