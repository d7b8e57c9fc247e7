"""The runtime side of ``t.flatten``: a tree of small walkers built once per flattened column.

Each walker appends its leaves' values to a list, in column order, and returns the part of
its input that found no column (or ``NOTHING``), so the caller can keep it in the remainder.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from streamapp.transform.convert import Converter, converter, is_identity
from streamapp.transform.jsonvalue import to_json
from streamapp.types import JSON, FieldType, Kind

Walker = Callable[[Any, list[Any]], Any]
NOTHING: Final = object()
"""Returned by a walker when all of its input found a column."""

# JSON value type -> the kind it is read as; which kinds a declared JSON leaf accepts.
_JSON_KIND: Final[dict[type, Kind]] = {
    str: Kind.STRING,
    bool: Kind.BOOL,
    int: Kind.INT,
    float: Kind.FLOAT,
}
_FROM_JSON: Final[dict[Kind, tuple[Kind, ...]]] = {
    Kind.STRING: (Kind.STRING,),
    Kind.BOOL: (Kind.BOOL,),
    Kind.INT: (Kind.INT,),
    Kind.FLOAT: (Kind.INT, Kind.FLOAT),
    Kind.DECIMAL: (Kind.INT, Kind.FLOAT, Kind.STRING),
    Kind.DATE: (Kind.STRING,),
    Kind.TIME: (Kind.STRING,),
    Kind.TIMESTAMP: (Kind.STRING,),
    Kind.TIMESTAMPTZ: (Kind.STRING,),
    Kind.UUID: (Kind.STRING,),
}


class ShapeError(Exception):
    """A typed (non-JSON) value is not the record/array its declared type says."""

    def __init__(self, path: tuple[str, ...], found: Any, expected: str) -> None:
        super().__init__(".".join(path))
        self.path = path
        self.found = type(found).__name__
        self.expected = expected


@dataclass(frozen=True, slots=True)
class LeafRead:
    """How a dynamic leaf reads a value: as-is when its class is in ``exact`` (or always, with
    ``accept_all``), else with the converter for its class or ``fallback``; a value no
    converter takes (or one that fails) goes to the remainder."""

    exact: frozenset[type] = frozenset()
    by_class: Mapping[type, Converter] = field(default_factory=dict)
    fallback: Converter | None = None
    accept_all: bool = False


def json_reader(ftype: FieldType) -> LeafRead | None:
    """Read a JSON scalar as ``ftype`` (with the cast rules); None if JSON cannot hold it."""
    exact: set[type] = set()
    by_class: dict[type, Converter] = {}
    for py_type, kind in _JSON_KIND.items():
        if kind in _FROM_JSON.get(ftype.kind, ()):
            src = FieldType(kind)
            convert = converter(src, ftype)
            if is_identity(src, ftype):
                exact.add(py_type)
            elif convert is not None:
                by_class[py_type] = convert
    if not exact and not by_class:
        return None
    return LeafRead(frozenset(exact), by_class)


def map_reader(item: FieldType) -> Callable[[FieldType], LeafRead | None]:
    """For a map of ``item`` values: how a value declared as a given type is read."""

    def reader(ftype: FieldType) -> LeafRead | None:
        if item == ftype:
            return LeafRead(accept_all=True)
        convert = None if item.is_nested or ftype.is_nested else converter(item, ftype)
        return None if convert is None else LeafRead(fallback=convert)

    return reader


class PlanBuilder:
    """Builds the walkers for one column and records its leaves (path, type) in order.

    ``dynamic`` trees come from JSON or map values: keys the shape does not declare, values of
    the wrong type and values that are not the declared container go to the remainder.
    ``read_leaf`` converts a dynamic leaf (None for typed trees).
    """

    def __init__(
        self,
        *,
        max_depth: int | None,
        max_items: int | None,
        dynamic: bool,
        read_leaf: Callable[[FieldType], LeafRead | None] | None,
    ) -> None:
        self.max_depth = max_depth
        self.max_items = max_items
        self.dynamic = dynamic
        self.read_leaf = read_leaf
        self.leaves: list[tuple[tuple[str, ...], FieldType]] = []
        self.needs_rest = dynamic
        self.unreadable: list[tuple[tuple[str, ...], FieldType]] = []
        self.blobs: set[tuple[str, ...]] = set()

    def build(self, ftype: FieldType, path: tuple[str, ...]) -> Walker:
        """The walker for a value of ``ftype`` found at ``path`` (relative to the column)."""
        expands = ftype.kind is Kind.RECORD or (
            ftype.kind is Kind.ARRAY and self.max_items is not None
        )
        if expands and self.max_depth is not None and len(path) >= self.max_depth:
            return self._blob(path)
        if ftype.kind is Kind.RECORD:
            return self._record(ftype, path)
        if expands:
            return self._array(ftype, path)
        if self.dynamic and ftype.is_nested:
            return self._blob(path)
        return self._leaf(ftype, path)

    def _blob(self, path: tuple[str, ...]) -> Walker:
        self.leaves.append((path, JSON))
        self.blobs.add(path)

        def walk(value: Any, out: list[Any]) -> Any:
            out.append(None if value is None else to_json(value))
            return NOTHING

        return walk

    def _leaf(self, ftype: FieldType, path: tuple[str, ...]) -> Walker:
        self.leaves.append((path, ftype))
        read = None
        if self.read_leaf is not None and ftype.kind is not Kind.JSON:
            read = self.read_leaf(ftype)
            if read is None:
                self.unreadable.append((path, ftype))
        if read is None or read.accept_all:

            def plain(value: Any, out: list[Any]) -> Any:
                out.append(value)
                return NOTHING

            return plain
        exact, by_class, fallback = read.exact, read.by_class, read.fallback

        def walk(value: Any, out: list[Any]) -> Any:
            if value is None or value.__class__ in exact:
                out.append(value)
                return NOTHING
            convert = by_class.get(value.__class__, fallback)
            if convert is not None:
                try:
                    out.append(convert(value))
                    return NOTHING
                except (TypeError, ValueError, ArithmeticError):  # not of the declared type
                    pass
            out.append(None)
            return to_json(value)  # kept in the remainder

        return walk

    def _record(self, ftype: FieldType, path: tuple[str, ...]) -> Walker:
        first = len(self.leaves)
        kids = [(key, self.build(child, (*path, key))) for key, child in ftype.fields]
        nones = [None] * (len(self.leaves) - first)
        declared = frozenset(key for key, _ in ftype.fields)
        dynamic = self.dynamic

        def walk(value: Any, out: list[Any]) -> Any:
            if value is None:
                out.extend(nones)
                return NOTHING
            if not isinstance(value, dict):
                if not dynamic:
                    raise ShapeError(path, value, "record")
                out.extend(nones)
                return to_json(value)
            rest = None
            get = value.get
            for key, kid in kids:
                part = kid(get(key), out)
                if part is not NOTHING:
                    if rest is None:
                        rest = {}
                    rest[key] = part
            if dynamic and not value.keys() <= declared:
                if rest is None:
                    rest = {}
                for key, item in value.items():
                    if key not in declared:
                        rest[str(key)] = to_json(item)
            return NOTHING if rest is None else rest

        return walk

    def _array(self, ftype: FieldType, path: tuple[str, ...]) -> Walker:
        assert ftype.items is not None and self.max_items is not None
        self.needs_rest = True
        first = len(self.leaves)
        kids = [self.build(ftype.items, (*path, str(i))) for i in range(self.max_items)]
        nones = [None] * (len(self.leaves) - first)
        dynamic, limit = self.dynamic, self.max_items

        def walk(value: Any, out: list[Any]) -> Any:
            if value is None:
                out.extend(nones)
                return NOTHING
            if not isinstance(value, list):
                if not dynamic:
                    raise ShapeError(path, value, "array")
                out.extend(nones)
                return to_json(value)
            rest = None
            size = len(value)
            for i, kid in enumerate(kids):
                part = kid(value[i] if i < size else None, out)
                if part is not NOTHING:
                    if rest is None:
                        rest = {}
                    rest[str(i)] = part
            if size > limit:
                if rest is None:
                    rest = {}
                for i in range(limit, size):
                    rest[str(i)] = to_json(value[i])
            return NOTHING if rest is None else rest

        return walk
