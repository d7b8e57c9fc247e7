"""load_topologies: discovery, import errors, one exact line per problem across modules."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from transform_fixtures import SCHEMAS, SECRETS

from streamapp.errors import TopologyError
from streamapp.transform.loader import load_topologies

HEADER = "from streamapp.topology import Output, Sink, Source, Topology, t\n"


def _module(name: str, topic: str = "shop.public.x", transforms: str = "", **extra: str) -> str:
    fields = "".join(f"    {k}={v},\n" for k, v in extra.items())
    return (
        HEADER
        + textwrap.dedent(
            f"""
        topology = Topology(
            name={name!r},
            source=Source(topic={topic!r}, columns={{"id": "int", "total": "decimal(12,2)"}}),
            key=["id"],
            transforms=[{transforms}],
            output=Output(topic="out.{name}"),
        """
        )
        + fields
        + ")\n"
    )


@pytest.fixture
def tops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "topologies"
    path.mkdir()
    return path


def _load(path: Path, secrets: dict[str, bytes] = SECRETS) -> list[str]:
    with pytest.raises(TopologyError) as info:
        load_topologies(path, secrets=secrets, schemas_dir=SCHEMAS)
    return info.value.problems


def test_good_modules_load_in_file_order(tops: Path) -> None:
    (tops / "b.py").write_text(_module("bee"))
    (tops / "a.py").write_text(_module("ay", transforms="t.cast(total='string')"))
    (tops / "_helpers.py").write_text("raise RuntimeError('never imported')\n")
    (tops / "notes.txt").write_text("not python")
    loaded = load_topologies(Path("topologies"), secrets=SECRETS, schemas_dir=SCHEMAS)
    assert [c.name for c in loaded] == ["ay", "bee"]
    assert str(loaded[0].output_columns["total"]) == "string"


def test_a_module_with_several_topologies(tops: Path) -> None:
    text = _module("one").replace("topology = Topology(", "first = Topology(")
    text += _module("two").split(HEADER)[1].replace("topology = Topology(", "second = Topology(")
    text += "topologies = [first, second]\n"
    (tops / "many.py").write_text(text)
    assert [c.name for c in load_topologies(tops, secrets={}, schemas_dir=SCHEMAS)] == [
        "one",
        "two",
    ]


def test_a_single_file_can_be_loaded(tops: Path) -> None:
    (tops / "a.py").write_text(_module("ay"))
    assert [c.name for c in load_topologies(tops / "a.py", secrets={}, schemas_dir=SCHEMAS)] == [
        "ay"
    ]


def test_an_empty_directory_loads_nothing(tops: Path) -> None:
    assert load_topologies(tops, secrets={}, schemas_dir=SCHEMAS) == []


@pytest.mark.parametrize(
    ("transforms", "line"),
    [
        (
            "t.cast(total='bool')",
            "topologies/orders.py: cast(total='bool'): decimal(12,2) -> bool is never possible; "
            "cast to int first or drop the cast",
        ),
        (
            "t.drop('totl')",
            "topologies/orders.py: drop('totl'): unknown field 'totl' at this point of the "
            "chain; did you mean 'total'?",
        ),
        (
            "t.mask('total', t.hmac_sha256('vault'))",
            "topologies/orders.py: mask('total', hmac_sha256(secret='vault')): mask secret "
            "'vault' missing: set STREAMAPP_MASK_SECRET_VAULT",
        ),
        (
            "t.derive('total', lambda row: 1, type='int')",
            "topologies/orders.py: derive('total'): duplicate output column 'total': a column "
            "of that name already exists; drop or rename one of them first",
        ),
    ],
)
def test_each_problem_kind_is_one_exact_line(tops: Path, transforms: str, line: str) -> None:
    (tops / "orders.py").write_text(_module("orders", transforms=transforms))
    assert _load(tops) == [line]


def test_declared_schema_mismatch(tops: Path, tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    (schemas / "x.avsc").write_text(
        '{"type": "record", "name": "x", "fields": ['
        '{"name": "id", "type": "long"}, {"name": "total", "type": ["null", "string"]},'
        '{"name": "__unchanged", "type": {"type": "array", "items": "string"}, "default": []}]}'
    )
    (tops / "x.py").write_text(
        _module("x").replace('Output(topic="out.x")', 'Output(topic="out.x", schema="x.avsc")')
    )
    with pytest.raises(TopologyError) as info:
        load_topologies(tops, secrets={}, schemas_dir=schemas)
    assert info.value.problems == [
        "topologies/x.py: output schema x.avsc: field 'total': declared string, topology "
        "produces decimal(12,2)"
    ]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        (
            HEADER + "\n\nraise RuntimeError('boom')\n",
            "topologies/bad.py:4: import failed: RuntimeError: boom",
        ),
        (
            HEADER + "topology = Topology(name='x', source=Source('s', {}), key='id', oops=1)\n",
            "topologies/bad.py:2: import failed: TypeError: Topology.__init__() got an "
            "unexpected keyword argument 'oops'",
        ),
        (
            HEADER + "import no_such_module_anywhere\n",
            "topologies/bad.py:2: import failed: ModuleNotFoundError: No module named "
            "'no_such_module_anywhere'",
        ),
        (
            HEADER + "x = 1\n",
            "topologies/bad.py: defines neither `topology` nor `topologies`; "
            "add `topology = Topology(...)` (or rename the file to start with _)",
        ),
        (
            HEADER + "topology = 3\n",
            "topologies/bad.py: `topology` must be a Topology (or Aggregate) and `topologies` "
            "a list of them",
        ),
        (
            HEADER + "topology = topologies = None\ntopology = 1\ntopologies = [1]\n",
            "topologies/bad.py: defines both `topology` and `topologies`; keep one",
        ),
        (HEADER + "import sys\nsys.exit(3)\n", "topologies/bad.py:3: import failed: SystemExit: 3"),
    ],
)
def test_import_problems_name_file_and_line(tops: Path, text: str, line: str) -> None:
    (tops / "bad.py").write_text(text)
    assert _load(tops) == [line]


def test_syntax_error_names_file_and_line(tops: Path) -> None:
    (tops / "bad.py").write_text(HEADER + "topology = (\n")
    (line,) = _load(tops)
    assert line.startswith("topologies/bad.py:2: syntax error: ")


def test_two_topologies_with_one_name(tops: Path) -> None:
    (tops / "a.py").write_text(_module("same"))
    (tops / "b.py").write_text(_module("same").replace("out.same", "out.other"))
    assert _load(tops) == [
        "topologies/b.py: topology name 'same' is already used by topologies/a.py; "
        "topology names must be unique"
    ]


def test_two_topologies_with_one_output_topic(tops: Path) -> None:
    (tops / "a.py").write_text(_module("ay").replace("out.ay", "out.same"))
    (tops / "b.py").write_text(_module("bee").replace("out.bee", "out.same"))
    assert _load(tops) == [
        "topologies/b.py: output topic 'out.same' is already written by topology 'ay' "
        "(topologies/a.py); give each topology its own output topic"
    ]


def test_several_problems_across_modules_are_several_lines(tops: Path) -> None:
    (tops / "a.py").write_text(_module("ay", transforms="t.drop('x'), t.cast(total='date')"))
    (tops / "b.py").write_text(HEADER + "1/0\n")
    (tops / "c.py").write_text(_module("cee", transforms="t.mask('total', t.tokenize())"))
    (tops / "d.py").write_text(_module("dee"))
    lines = _load(tops, secrets={})
    assert lines == [
        "topologies/a.py: drop('x'): unknown field 'x' at this point of the chain; "
        "columns here: id, total",
        "topologies/a.py: cast(total='date'): decimal(12,2) -> date is never possible; "
        "compute the value with t.derive or drop the cast",
        "topologies/b.py:2: import failed: ZeroDivisionError: division by zero",
        "topologies/c.py: mask('total', tokenize()): mask secret 'default' missing: "
        "set STREAMAPP_MASK_SECRET",
    ]


def test_problems_in_a_module_with_several_topologies_name_the_topology(tops: Path) -> None:
    text = _module("one", transforms="t.drop('x')").replace("topology =", "first =")
    text += _module("two").split(HEADER)[1].replace("topology =", "second =")
    (tops / "m.py").write_text(text + "topologies = [first, second]\n")
    assert _load(tops) == [
        "topologies/m.py: topology 'one': drop('x'): unknown field 'x' at this point of the "
        "chain; columns here: id, total"
    ]


def test_missing_directory(tmp_path: Path) -> None:
    assert _load(tmp_path / "nope") == [
        f"{tmp_path / 'nope'}: no such topology directory or module"
    ]
