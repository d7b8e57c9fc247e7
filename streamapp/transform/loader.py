"""Discover topology modules, import them, and compile every topology they declare.

A module is any ``*.py`` file in the directory whose name does not start with ``_``; it
exposes ``topology`` (one Topology or Aggregate) or ``topologies`` (a list of them). Problems
from every module are collected and raised together, one line each, prefixed with the file
(and line for imports).
"""

from __future__ import annotations

import importlib.util
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

from streamapp.errors import TopologyError
from streamapp.transform.aggspec import Aggregate, CompiledAggregate, compile_aggregate
from streamapp.transform.compile import CompiledTopology, compile_with_problems
from streamapp.transform.lookup import Lookup, TableShape
from streamapp.transform.spec import Topology


class Loaded(list[CompiledTopology]):
    """The compiled topologies, and the compiled aggregates (``aggregates``) declared beside."""

    aggregates: list[CompiledAggregate]

    def __init__(self, topologies: list[CompiledTopology], aggregates: list[CompiledAggregate]):
        super().__init__(topologies)
        self.aggregates = aggregates


def aggregates_of(topologies: Sequence[CompiledTopology]) -> list[CompiledAggregate]:
    """The aggregates loaded beside ``topologies`` (none when they were not loaded here)."""
    return topologies.aggregates if isinstance(topologies, Loaded) else []


def load_topologies(path: Path, *, secrets: Mapping[str, bytes], schemas_dir: Path) -> Loaded:
    """Load and compile every topology under ``path`` (a directory, or one module file).

    Returns them ordered by file name, then declaration order. Raises TopologyError with one
    line per problem across all modules: import errors (file:line), unknown fields, casts
    that can never succeed, missing mask secrets, duplicate columns, schema mismatches, two
    topologies with one name or one output topic, lookups in a cycle.

    A topology is compiled after the topologies its lookups name (their output columns type
    the looked-up columns); the returned order is still file, then declaration order.
    Aggregates are compiled against the topology they aggregate and returned in
    ``.aggregates`` (file, then declaration order).
    """
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
    else:
        raise TopologyError([f"{path}: no such topology directory or module"])
    problems: list[str] = []
    names: dict[str, str] = {}
    todo: list[tuple[str, str, Topology]] = []  # (prefix, shown, topology) in file order
    aggregates: list[tuple[str, Aggregate]] = []
    for file in files:
        shown = _display(file)
        declared = _declared(file, shown, problems)
        for topology in declared:
            prefix = shown if len(declared) == 1 else f"{shown}: topology {topology.name!r}"
            name = str(topology.name)
            if name in names:
                problems.append(
                    f"{prefix}: topology name {name!r} is already used by {names[name]}; "
                    "topology names must be unique"
                )
                continue
            names[name] = shown
            if isinstance(topology, Aggregate):
                aggregates.append((prefix, topology))
            else:
                todo.append((prefix, shown, topology))
    done: dict[str, CompiledTopology] = {}
    failed: set[str] = set()
    for prefix, _, topology in _dependency_order(todo, problems):
        name = str(topology.name)
        broken = sorted(n for n in _looked_up(topology) if n in failed)
        if broken:
            problems.append(
                f"{prefix}: looks up {', '.join(map(repr, broken))}, which cannot be compiled "
                "(see its problems)"
            )
            failed.add(name)
            continue
        shapes = {n: TableShape(c.key_columns, c.output_columns) for n, c in done.items()}
        result, lines = compile_with_problems(
            topology, secrets=secrets, schemas_dir=schemas_dir, tables=shapes
        )
        problems.extend(f"{prefix}: {line}" for line in lines)
        if result is None:
            failed.add(name)
        else:
            done[name] = result
    compiled: list[CompiledTopology] = []
    outputs: dict[str, str] = {}
    for prefix, shown, topology in todo:
        result = done.get(str(topology.name))
        if result is None:
            continue
        topic = result.output_topic
        if topic is not None and topic in outputs:
            problems.append(
                f"{prefix}: output topic {topic!r} is already written by "
                f"{outputs[topic]}; give each topology its own output topic"
            )
            continue
        if topic is not None:
            outputs[topic] = f"topology {str(topology.name)!r} ({shown})"
        compiled.append(result)
    compiled_aggregates: list[CompiledAggregate] = []
    for prefix, spec in aggregates:
        if spec.table in failed:
            problems.append(f"{prefix}: aggregates {spec.table!r}, which cannot be compiled")
            continue
        aggregate, lines = compile_aggregate(spec, done)
        problems.extend(f"{prefix}: {line}" for line in lines)
        if aggregate is not None:
            compiled_aggregates.append(aggregate)
    if problems:
        shown_files = [_display(file) for file in files]
        raise TopologyError(sorted(problems, key=lambda line: _file_index(line, shown_files)))
    return Loaded(compiled, compiled_aggregates)


def _file_index(line: str, shown_files: list[str]) -> int:
    """The position of the file a problem line names (problems are reported in file order)."""
    for index, shown in enumerate(shown_files):
        if line.startswith((f"{shown}:", f"{shown} ")):
            return index
    return len(shown_files)


def _looked_up(topology: Topology) -> list[str]:
    return [s.table for s in topology.transforms if isinstance(s, Lookup)]


def _dependency_order(
    todo: list[tuple[str, str, Topology]], problems: list[str]
) -> list[tuple[str, str, Topology]]:
    """``todo`` with every topology after the ones its lookups name (stable otherwise);
    topologies in a lookup cycle are left out with one problem line each."""
    by_name = {str(t.name): item for item in todo for t in [item[2]]}
    ordered: list[tuple[str, str, Topology]] = []
    state: dict[str, int] = {}  # 1: visiting, 2: ordered, 3: in or behind a cycle

    def visit(name: str) -> bool:
        if name in state:
            return state[name] == 2
        state[name] = 1
        item = by_name[name]
        ok = True
        for dep in _looked_up(item[2]):
            if dep in by_name and not visit(dep):
                ok = False
        state[name] = 2 if ok else 3
        if ok:
            ordered.append(item)
        else:
            problems.append(
                f"{item[0]}: its lookups form a cycle through {name!r}; a table cannot be "
                "enriched from a table that looks it up"
            )
        return ok

    for name in by_name:
        visit(name)
    return ordered


def _declared(file: Path, shown: str, problems: list[str]) -> list[Topology | Aggregate]:
    """The Topology and Aggregate objects a module declares; import failures become problem
    lines."""
    module = _import(file, shown, problems)
    if module is None:
        return []
    single = getattr(module, "topology", None)
    many = getattr(module, "topologies", None)
    if single is not None and many is not None:
        problems.append(f"{shown}: defines both `topology` and `topologies`; keep one")
        return []
    if single is None and many is None:
        problems.append(
            f"{shown}: defines neither `topology` nor `topologies`; "
            "add `topology = Topology(...)` (or rename the file to start with _)"
        )
        return []
    found = [single] if single is not None else many
    if not isinstance(found, list | tuple) or not all(
        isinstance(x, Topology | Aggregate) for x in found
    ):
        problems.append(
            f"{shown}: `topology` must be a Topology (or Aggregate) and `topologies` a list of them"
        )
        return []
    return list(found)


def _import(file: Path, shown: str, problems: list[str]) -> ModuleType | None:
    name = f"_streamapp_topology_{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        problems.append(f"{shown}: cannot be imported as a Python module")
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        problems.append(f"{shown}:{exc.lineno}: syntax error: {exc.msg}")
        return None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - user code may raise anything
        sys.modules.pop(name, None)
        line = _line_in(file, exc)
        where = f"{shown}:{line}" if line else shown
        problems.append(f"{where}: import failed: {type(exc).__name__}: {exc}")
        return None
    return module


def _line_in(file: Path, exc: BaseException) -> int | None:
    """The last traceback line that ran inside ``file`` (where the import failed)."""
    target = str(file.resolve())
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(exc.__traceback__)
        if Path(frame.filename).resolve() == Path(target)
    ]
    return lines[-1] if lines else None


def _display(file: Path) -> str:
    """``file`` relative to the working directory when it is below it, else as given."""
    try:
        return str(file.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(file)
