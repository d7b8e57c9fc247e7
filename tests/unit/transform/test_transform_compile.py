"""compile_topology: declaration, sinks, output schema, and what a CompiledTopology carries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from transform_fixtures import SCHEMAS, SECRETS, compiled, event, problems, topology

from streamapp.encode.schema import avro_schema_for
from streamapp.errors import TopologyError
from streamapp.topology import Output, Sink, Source, Topology, t
from streamapp.transform.compile import compile_topology, compile_with_problems
from streamapp.transform.spec import ClickHouseSink, PostgresSink, RedisSink
from streamapp.types import INT, STRING

COLS = {"id": "int", "name": "string", "email": "string"}


def test_compiled_topology_fields() -> None:
    top = compile_topology(
        Topology(
            name="people",
            source=Source(topic="shop.public.people", columns=COLS),
            key=["id"],
            transforms=[t.drop("email")],
            output=Output(topic="warehouse.people"),
            sinks=[Sink.clickhouse("people"), Sink.redis("person:{id}", ttl_seconds=60)],
            on_error="fail",
        ),
        secrets=SECRETS,
        schemas_dir=SCHEMAS,
    )
    assert top.name == "people"
    assert top.source_topics == ("shop.public.people",)
    assert top.key_columns == ("id",)
    assert top.output_columns == {"id": INT, "name": STRING}
    assert top.output_topic == "warehouse.people"
    assert top.dlq_topic == "shop.public.people.dlq"
    assert top.sinks == (ClickHouseSink("people"), RedisSink("person:{id}", 60, "json"))
    assert top.on_error == "fail"
    assert top.output_avro_schema == avro_schema_for(
        top.output_columns, name="people", namespace="streamapp", key_columns=["id"]
    )
    assert "def process(ev):" in top.source_code


def test_defaults_and_explicit_dlq() -> None:
    top = compile_topology(
        Topology(name="a.b-c", source=Source("src", {"id": "int"}), key="id", dlq="errors"),
        secrets={},
        schemas_dir=SCHEMAS,
    )
    # no Output: no output topic (before, a topic named after the topology was written)
    assert (top.output_topic, top.dlq_topic, top.on_error) == (None, "errors", "dlq")
    assert top.output_avro_schema["name"] == "a_b_c"


def test_output_naming() -> None:
    out = Output(topic="o", name="Person", namespace="shop.people")
    _, lines = compile_with_problems(
        topology(COLS, output=out), secrets=SECRETS, schemas_dir=SCHEMAS
    )
    assert lines == []
    top, _ = compile_with_problems(topology(COLS, output=out), secrets={}, schemas_dir=SCHEMAS)
    assert top is not None
    assert (top.output_avro_schema["name"], top.output_avro_schema["namespace"]) == (
        "Person",
        "shop.people",
    )


def test_compile_topology_raises_every_problem_prefixed() -> None:
    with pytest.raises(TopologyError) as info:
        compiled(COLS, [t.drop("nope"), t.cast(name="duration"), t.rename(id="name")])
    assert [p.split(":")[0] for p in info.value.problems] == ["topology 'things'"] * 3
    assert len(str(info.value).splitlines()) == 3


@pytest.mark.parametrize(
    ("sinks", "lines"),
    [
        ([Sink.clickhouse("db.people"), Sink.postgres("people", schema="crm")], []),
        ([Sink.redis("person:{id}", format="hash")], []),
        (
            [Sink.redis("person:{id}:{name}")],
            [
                "Sink.redis('person:{id}:{name}'): the key template names 'name', which is not "
                "a key column; a delete carries only the key, so name key columns only (id)"
            ],
        ),
        (
            [Sink.redis("person:{pk}")],
            [
                "Sink.redis('person:{pk}'): the key template names 'pk', which is not an output "
                "column"
            ],
        ),
        (
            [Sink.redis("people")],
            [
                "Sink.redis('people'): the key template names no column, so every row would "
                "overwrite one key"
            ],
        ),
        (
            [Sink.redis("p:{}")],
            ["Sink.redis('p:{}'): the key template field {} must be a plain column name"],
        ),
        (
            [Sink.redis("p:{id.real}")],
            [
                "Sink.redis('p:{id.real}'): the key template field {id.real} must be a plain "
                "column name"
            ],
        ),
        (
            [Sink.redis("p:{id}{id}")],
            [
                "Sink.redis('p:{id}{id}'): key template placeholders {id} and {id} touch, so "
                "their values could not be told apart; put a separator between them, e.g. "
                "'{id}:{id}'"
            ],
        ),
        (
            [Sink.redis("p:{id!r}")],
            [
                "Sink.redis('p:{id!r}'): key template placeholder {id} must name an output "
                "column without format spec or conversion"
            ],
        ),
        (
            [Sink.redis("p:{id")],
            [
                "Sink.redis('p:{id'): the key template is not a valid format string "
                "(expected '}' before end of string)"
            ],
        ),
        (
            [Sink.redis("p:{id}", ttl_seconds=0, format="xml")],  # type: ignore[arg-type]
            [
                "Sink.redis('p:{id}'): format='xml': use 'json' or 'hash'",
                "Sink.redis('p:{id}'): ttl_seconds must be a whole number >= 1, or None for no "
                "expiry",
            ],
        ),
        (
            [Sink.clickhouse("people; drop table x")],
            [
                "Sink.clickhouse('people; drop table x'): table name must be letters, digits and "
                "_ (or db.table)"
            ],
        ),
        (
            [Sink.postgres("people", schema="a.b")],
            ["Sink.postgres('people', schema='a.b'): schema name must be letters, digits and _"],
        ),
        (
            [Sink.clickhouse("p"), Sink.clickhouse("p")],
            ["Sink.clickhouse('p'): listed twice"],
        ),
        (
            ["clickhouse"],
            [
                "'clickhouse': not a sink; "
                "use Sink.clickhouse/postgres/redis/opensearch/iceberg(...)"
            ],
        ),
        (
            [Sink.iceberg("orders"), Sink.iceberg("a.b.c"), Sink.iceberg("lake.orders")],
            [
                "Sink.iceberg('orders'): name the table 'namespace.table' (letters, digits and _)",
                "Sink.iceberg('a.b.c'): name the table 'namespace.table' (letters, digits and _)",
            ],
        ),
    ],
)
def test_sink_problems(sinks: list[Any], lines: list[str]) -> None:
    assert problems(COLS, sinks=sinks) == lines


@pytest.mark.parametrize("name", ["__version", "__deleted", "__is_deleted"])
def test_columns_that_sinks_reserve_are_refused(name: str) -> None:
    assert problems(
        COLS, [t.derive(name, lambda r: 1, type="int")], sinks=[Sink.postgres("p")]
    ) == [
        f"column {name!r} is reserved: every sink stores the event version and delete flag "
        "itself; drop it from t.metadata(...) or rename it"
    ]


def test_redis_template_checks_output_not_source_columns() -> None:
    assert problems(COLS, [t.rename(id="pk")], key=["pk"], sinks=[Sink.redis("p:{id}")]) == [
        "Sink.redis('p:{id}'): the key template names 'id', which is not an output column"
    ]


def test_sink_factories() -> None:
    assert Sink.postgres("t") == PostgresSink("t", "public")
    assert Sink.redis("k:{id}") == RedisSink("k:{id}", None, "json")
    assert [str(s) for s in (Sink.clickhouse("c"), Sink.postgres("t"), Sink.redis("k:{id}"))] == [
        "clickhouse:c",
        "postgres:public.t",
        "redis:k:{id}",
    ]


@pytest.mark.parametrize(
    ("top", "line"),
    [
        (
            Topology(name="bad name", source=Source("s", {"id": "int"}), key="id"),
            "name 'bad name': a topology name is letters, digits, '_', '.', '-' and starts "
            "with a letter or digit",
        ),
        (
            Topology(name="x", source=Source("", {"id": "int"}), key="id"),
            "source topic must be a non-empty string",
        ),
        (
            Topology(name="x", source=Source("s", {}), key="id"),
            "source columns must be a non-empty dict of column -> type",
        ),
        (
            Topology(name="x", source=Source("s", {"id": "int", 3: "int"}), key="id"),  # type: ignore[dict-item]
            "source column names must be non-empty strings",
        ),
        (
            Topology(name="x", source=Source("s", {"id": "int"}), key="id", on_error="skip"),  # type: ignore[arg-type]
            "on_error='skip': use 'dlq' or 'fail'",
        ),
        (
            Topology(name="x", source=Source("s", {"id": "int"}), key="id", on_gap="reset"),  # type: ignore[arg-type]
            "on_gap='reset': use 'snapshot', 'fail' or 'ignore'",
        ),
        (
            Topology(name="x", source=Source("s", {"id": "int"}, new_columns="add"), key="id"),  # type: ignore[arg-type]
            "source new_columns='add': use 'ignore' or 'propagate'",
        ),
        (
            Topology(name="x", source=Source("s", {"id": "int"}, missing_columns="x"), key="id"),  # type: ignore[arg-type]
            "source missing_columns='x': use 'dlq' or 'null'",
        ),
        (
            Topology(name="x", source=Source("s", {"id": "int"}), key="id", dlq=""),
            "dlq must be a topic name, or None for '<source topic>.dlq'",
        ),
        (
            Topology(name="x", source=Source("s", {"id": "int", "d": "decimal"}), key="id"),
            "source column 'd': 'decimal': give precision and scale, e.g. decimal(12,2)",
        ),
        (
            Topology(name="x", source=Source("s", {"id": "int"}), key="id", transforms=[3]),  # type: ignore[list-item]
            "transforms[0]: not a transform; build transforms with t.*()",
        ),
        (
            Topology(name="x", source=Source("s", {"id": "int", "first name": "string"}), key="id"),
            "output schema: column 'first name' is not a valid Avro name (letters, digits and _, "
            "not starting with a digit); rename it",
        ),
        (
            Topology(name="x", source=Source("s", {"id": "int", "__unchanged": "int"}), key="id"),
            "output schema: column '__unchanged' clashes with the bookkeeping field of that "
            "name; rename it",
        ),
    ],
)
def test_declaration_problems(top: Topology, line: str) -> None:
    assert compile_with_problems(top, secrets=SECRETS, schemas_dir=SCHEMAS)[1] == [line]


def test_a_broken_transform_becomes_a_problem_line() -> None:
    class Broken:
        def describe(self) -> str:
            return "broken()"

        def compile(self, chain: object) -> None:
            raise RuntimeError("bug")

    assert problems(COLS, [Broken()]) == ["broken(): cannot be compiled (RuntimeError: bug)"]


def _declared(tmp_path: Path, columns: dict[str, Any], edit: Any = None) -> Path:
    top = compiled(columns)
    schema = json.loads(json.dumps(top.output_avro_schema))
    if edit is not None:
        edit(schema)
    (tmp_path / "things.avsc").write_text(json.dumps(schema))
    return tmp_path


@pytest.mark.parametrize(
    ("edit", "line"),
    [
        (None, None),
        (
            lambda s: s["fields"].__setitem__(1, {"name": "name", "type": ["null", "long"]}),
            "output schema things.avsc: field 'name': declared long, topology produces string",
        ),
        (
            lambda s: s["fields"].pop(2),
            "output schema things.avsc: field 'email' is produced but missing from the "
            "declared schema",
        ),
    ],
)
def test_declared_schema(tmp_path: Path, edit: Any, line: str | None) -> None:
    schemas = _declared(tmp_path, COLS, edit)
    top, lines = compile_with_problems(
        topology(COLS, output=Output("o", schema="things.avsc")), secrets={}, schemas_dir=schemas
    )
    if line is None:
        assert lines == [] and top is not None
        assert top.output_avro_schema == json.loads((schemas / "things.avsc").read_text())
    else:
        assert line in lines and top is None


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (
            None,
            "output schema things.avsc: not found in {dir}; create it or set schema=None "
            "to derive it",
        ),
        (
            "{\n  nope",
            "output schema things.avsc: invalid JSON at line 2: Expecting property "
            "name enclosed in double quotes",
        ),
        ("[]", "output schema things.avsc: not an Avro record schema"),
    ],
)
def test_declared_schema_file_problems(tmp_path: Path, content: str | None, line: str) -> None:
    if content is not None:
        (tmp_path / "things.avsc").write_text(content)
    _, lines = compile_with_problems(
        topology(COLS, output=Output("o", schema="things.avsc")), secrets={}, schemas_dir=tmp_path
    )
    assert lines == [line.format(dir=tmp_path)]


def test_process_is_plain_and_fast_to_call() -> None:
    top = compiled(COLS, [t.rename(name="n")])
    assert top.process(event("c", after={"id": 1, "name": "a"}))[0].value == {
        "id": 1,
        "n": "a",
        "email": None,
    }
    assert top.process.__name__ == "process"


def test_reads_before_only_with_predicate_filters() -> None:
    def build(*steps: Any) -> Any:
        top = Topology(
            name="p",
            source=Source(topic="t", columns={"id": "int"}),
            key=["id"],
            transforms=list(steps),
        )
        return compile_topology(top, secrets={}, schemas_dir=Path("."))

    assert not build(t.filter_ops("c", "u", "d")).reads_before
    assert build(t.filter(lambda ev: ev.before is not None)).reads_before
