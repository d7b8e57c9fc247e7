"""Sink.opensearch declarations: compiled targets and one problem line per mistake."""

from __future__ import annotations

import pytest
from transform_fixtures import SCHEMAS, SECRETS, problems, topology

from streamapp.runtime.worker import table_specs
from streamapp.topology import Sink
from streamapp.transform.compile import compile_topology
from streamapp.transform.spec import OpenSearchSink

COLUMNS = {"id": "int", "name": "string"}


def test_an_opensearch_sink_compiles_to_a_table_spec_with_its_id_template() -> None:
    top = compile_topology(
        topology(COLUMNS, sinks=[Sink.opensearch("people", id="p:{id}")]),
        secrets=SECRETS,
        schemas_dir=SCHEMAS,
    )
    assert top.sinks == (OpenSearchSink("people", "p:{id}"),)
    [(kind, spec)] = table_specs(top)
    assert (kind, spec.target, dict(spec.options)) == ("opensearch", "people", {"id": "p:{id}"})


@pytest.mark.parametrize(
    ("sink", "line"),
    [
        (
            Sink.opensearch("People"),
            "Sink.opensearch('People', id=None): the index name must be lowercase letters, "
            "digits, '_', '.' or '-', start with a letter or digit, and be at most 255 characters",
        ),
        (
            Sink.opensearch("people", id="p:{name}"),
            "Sink.opensearch('people', id='p:{name}'): the id template names ['name'], not key "
            "column(s); a delete carries only the key, so name key columns only (id)",
        ),
        (
            Sink.opensearch("people", id="p"),
            "Sink.opensearch('people', id='p'): the key template names no column, e.g. "
            "'orders:{id}'",
        ),
    ],
)
def test_opensearch_declaration_problems(sink: OpenSearchSink, line: str) -> None:
    assert problems(COLUMNS, sinks=[sink]) == [line]
