"""A dry-run repair plan never prints the raw values of a key column the topology masks."""

from __future__ import annotations

from pathlib import Path

from streamapp.reconcile.repair import masked_key_columns
from streamapp.topology import Sink, Source, Topology, t
from streamapp.transform.compile import compile_topology

COLUMNS = {"id": "int", "email": "string", "name": "string"}


def compiled(*transforms: object, key: str = "id") -> object:
    topology = Topology(
        name="people",
        source=Source(topic="app.public.people", columns=COLUMNS),
        key=[key],
        transforms=list(transforms),
        sinks=[Sink.postgres("people")],
    )
    return compile_topology(topology, secrets={"default": b"k" * 32}, schemas_dir=Path("."))


def test_a_masked_key_column_is_named_and_others_are_not() -> None:
    plain = compiled(t.mask("name", t.redact()))
    assert masked_key_columns(plain, ("id",)) == []  # type: ignore[arg-type]
    keyed = compiled(t.mask("email", t.hmac_sha256()), key="email")
    assert masked_key_columns(keyed, ("email",)) == ["email"]  # type: ignore[arg-type]


def test_a_renamed_then_masked_key_column_is_traced_to_its_source_name() -> None:
    renamed = compiled(t.rename(email="contact"), t.mask("contact", t.hmac_sha256()), key="contact")
    assert masked_key_columns(renamed, ("email",)) == ["email"]  # type: ignore[arg-type]
