"""``t.flatten``: nested records, JSON objects, maps and arrays become columns joined by ``sep``.

- A record column flattens along its declared fields: ``address.geo.lat`` -> ``address_geo_lat``.
- A JSON or map column has no declared keys, so it needs ``shape=``: a dict of key -> type
  (nest dicts for objects, ``[item]`` for an array). **Only declared keys become columns**;
  everything else (undeclared keys, a value of another type than declared, an object where a
  scalar was declared) is kept in the JSON remainder column ``<column><sep>_rest`` (``rest=``
  renames it), mirroring the input's structure (array positions as "0", "1", ... keys). Dynamic
  keys therefore never create columns, so name collisions are all found at compile time.
- Arrays flatten only with ``max_items=n``: positions ``0..n-1`` become columns
  (``items_0_sku``), later elements go to the remainder. Without it an array stays one column.
- ``max_depth=n`` keeps a value nested deeper than ``n`` levels as JSON text in one column.
- A leaf is never lost: every input leaf is in a column or in the remainder. A null or
  UNCHANGED column makes every column it flattens to null or UNCHANGED.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from streamapp.errors import TransformError
from streamapp.transform.chain import Chain, Column, U, call_repr
from streamapp.transform.flatten_plan import (
    NOTHING,
    PlanBuilder,
    ShapeError,
    Walker,
    json_reader,
    map_reader,
)
from streamapp.transform.jsonvalue import to_json
from streamapp.types import JSON, FieldType, Kind, parse_type

ShapeSpec = str | FieldType | Mapping[str, Any] | list[Any]


def parse_shape(spec: ShapeSpec) -> FieldType:
    """A shape spec as a FieldType: dict -> record, ``[item]`` -> array, str -> parse_type."""
    if isinstance(spec, list):
        if len(spec) != 1:
            raise ValueError("an array shape is a list of one item shape, e.g. [{'sku': 'string'}]")
        return FieldType(Kind.ARRAY, items=parse_shape(spec[0]))
    if isinstance(spec, Mapping):
        if not spec:
            raise ValueError("an object shape needs at least one key")
        return FieldType(
            Kind.RECORD, fields=tuple((str(k), parse_shape(v)) for k, v in spec.items())
        )
    return parse_type(spec)


@dataclass(frozen=True, slots=True)
class Flatten:
    """Flatten the named columns (all record columns when none are named); see module doc."""

    columns: tuple[str, ...]
    sep: str = "_"
    max_depth: int | None = None
    shape: ShapeSpec | None = None
    max_items: int | None = None
    rest: str | None = None

    def describe(self) -> str:
        options = {
            "sep": self.sep if self.sep != "_" else None,
            "max_depth": self.max_depth,
            "shape": self.shape,
            "max_items": self.max_items,
            "rest": self.rest,
        }
        shown = {k: v for k, v in options.items() if v is not None}
        return call_repr("flatten", *self.columns, **shown)

    def compile(self, chain: Chain) -> None:
        where = self.describe()
        if not self._options_ok(chain, where):
            return
        names = self.columns or tuple(
            name for name, col in chain.columns.items() if col.type.kind is Kind.RECORD
        )
        for name in names:
            col = chain.lookup(where, name)
            if col is not None:
                self._flatten(chain, where, name, col)

    def _options_ok(self, chain: Chain, where: str) -> bool:
        problems = []
        if not isinstance(self.sep, str) or not self.sep:
            problems.append("sep must be a non-empty string")
        for option in ("max_depth", "max_items"):
            value = getattr(self, option)
            if value is not None and (not isinstance(value, int) or value < 1):
                problems.append(f"{option} must be a whole number >= 1")
        if self.shape is not None and len(self.columns) != 1:
            problems.append("shape= describes one column; flatten that column on its own")
        for message in problems:
            chain.problem(where, message)
        return not problems

    def _tree(self, chain: Chain, where: str, name: str, ftype: FieldType) -> PlanBuilder | None:
        """The builder for this column's value, or None after recording why it cannot be."""

        def builder(dynamic: bool, read: Any) -> PlanBuilder:
            return PlanBuilder(
                max_depth=self.max_depth, max_items=self.max_items, dynamic=dynamic, read_leaf=read
            )

        kind = ftype.kind
        if self.shape is not None and kind not in (Kind.JSON, Kind.MAP):
            chain.problem(where, f"shape= is for json and map columns; {name!r} is {ftype}")
            return None
        if kind is Kind.RECORD:
            return builder(False, None)
        if kind is Kind.ARRAY and self.max_items is not None:
            return builder(False, None)
        if kind in (Kind.JSON, Kind.MAP) and self.shape is not None:
            assert ftype.items is not None or kind is Kind.JSON
            read = json_reader if kind is Kind.JSON else map_reader(ftype.items or JSON)
            return builder(True, read)
        need = {
            Kind.JSON: "its keys are not declared; pass shape={...}",
            Kind.MAP: "its keys are not declared; pass shape={...}",
            Kind.ARRAY: "pass max_items=n to turn positions 0..n-1 into columns",
        }.get(kind, "it is not nested")
        chain.problem(where, f"cannot flatten {name!r} ({ftype}): {need}")
        return None

    def _flatten(self, chain: Chain, where: str, name: str, col: Column) -> None:
        plan = self._tree(chain, where, name, col.type)
        if plan is None:
            return
        try:
            tree = parse_shape(self.shape) if self.shape is not None else col.type
        except ValueError as exc:
            chain.problem(where, f"shape: {exc}")
            return
        root = plan.build(tree, ())
        for path, ftype in plan.unreadable:
            chain.problem(where, f"{'.'.join((name, *path))}: a {ftype} cannot be read from here")
        new: dict[str, tuple[str, FieldType]] = {}  # column -> (dotted source path, type)
        for path, ftype in plan.leaves:
            self._claim(chain, where, name, new, self.sep.join((name, *path)), path, ftype)
        if plan.needs_rest:
            rest = self.rest or f"{name}{self.sep}_rest"
            self._claim(chain, where, name, new, rest, ("<remainder>",), JSON)
        if plan.unreadable or len(new) != len(plan.leaves) + plan.needs_rest:
            return
        func = chain.bind(_runner(root, plan.needs_rest, where, name), "flatten")
        targets = [chain.new_var() for _ in new]
        lhs = ", ".join(targets) + ("," if len(targets) == 1 else "")
        lines = [
            f"if {col.var} is None or {col.var} is {U}:",
            f"    {' = '.join(targets)} = {col.var}",
            "else:",
        ]
        if plan.needs_rest:
            lines.append(f"    {lhs} = {func}({col.var})")
        else:  # a typed record tree: straight-line reads, the walker only for odd values
            leaves = [
                (path, var, path in plan.blobs)
                for (path, _), var in zip(plan.leaves, targets, strict=True)
            ]
            lines += ["    try:"]
            _inline(chain, leaves, col.var, 0, "        ", lines)
            lines += [
                "    except (KeyError, TypeError, IndexError):",
                f"        {lhs} = {func}({col.var})",
            ]
        chain.emit(targets, lines, [col.var])
        added = {
            out: Column(var, ftype)
            for (out, (_, ftype)), var in zip(new.items(), targets, strict=True)
        }
        columns: dict[str, Column] = {}
        for existing, column in chain.columns.items():
            if existing == name:
                columns.update(added)
            else:
                columns[existing] = column
        chain.columns = columns

    def _claim(
        self,
        chain: Chain,
        where: str,
        name: str,
        new: dict[str, tuple[str, FieldType]],
        out: str,
        path: tuple[str, ...],
        ftype: FieldType,
    ) -> None:
        dotted = ".".join((name, *path))
        if out in new:
            chain.problem(
                where,
                f"{new[out][0]} and {dotted} both become column {out!r}; pass another sep=",
            )
        elif out in chain.columns and out != name:
            chain.problem(
                where,
                f"{dotted} becomes column {out!r}, which already exists; pass another sep= "
                "or rename the existing column first",
            )
        else:
            new[out] = (dotted, ftype)


def _inline(
    chain: Chain,
    leaves: list[tuple[tuple[str, ...], str, bool]],
    src: str,
    depth: int,
    pad: str,
    lines: list[str],
) -> None:
    """Lines assigning each leaf ``(path, target, is_blob)`` from the record in ``src``.

    ``leaves`` are in walker order, so the leaves under one key are contiguous.
    """
    i = 0
    while i < len(leaves):
        key = leaves[i][0][depth]
        end = i + 1
        while end < len(leaves) and leaves[end][0][depth] == key:
            end += 1
        group, i = leaves[i:end], end
        path, target, blob = group[0]
        if len(group) == 1 and len(path) == depth + 1 and not blob:
            lines.append(f"{pad}{target} = {src}[{key!r}]")
            continue
        tmp = chain.new_var()
        lines.append(f"{pad}{tmp} = {src}[{key!r}]")
        if blob:
            convert = chain.bind(to_json, "json")
            lines.append(f"{pad}{target} = None if {tmp} is None else {convert}({tmp})")
            continue
        nulls = " = ".join(t for _, t, _ in group)
        lines += [f"{pad}if {tmp} is None:", f"{pad}    {nulls} = None", f"{pad}else:"]
        _inline(chain, group, tmp, depth + 1, pad + "    ", lines)


def _runner(root: Walker, with_rest: bool, where: str, name: str) -> Any:
    def flatten(value: Any) -> list[Any]:
        out: list[Any] = []
        try:
            part = root(value, out)
        except ShapeError as exc:
            path = ".".join((name, *exc.path))
            raise TransformError(
                f"{where}: {path} holds a {exc.found}, not the declared {exc.expected}; "
                "check the column's declared source type",
                field=name,
            ) from None
        if with_rest:
            out.append(None if part is NOTHING else part)
        return out

    return flatten
