"""``t.rename``, ``t.drop`` and ``t.include``: choose and name the columns (no runtime cost).

These only change which local variable feeds which output column, so they compile to nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from streamapp.transform.chain import Chain, Column, call_repr


@dataclass(frozen=True, slots=True)
class Rename:
    """Rename columns in place (all renames at once, so ``a->b, b->a`` swaps them).

    Unknown old names and new names that collide with another column are problems.
    """

    mapping: tuple[tuple[str, str], ...]

    def describe(self) -> str:
        return call_repr("rename", **dict(self.mapping))

    def compile(self, chain: Chain) -> None:
        where = self.describe()
        renames = dict(self.mapping)
        ok = all([chain.lookup(where, old) is not None for old in renames])
        for old, new in renames.items():
            if not isinstance(new, str) or not new:
                chain.problem(where, f"the new name for {old!r} must be a non-empty string")
                ok = False
        if not ok:
            return
        result: dict[str, Column] = {}
        for name, col in chain.columns.items():
            new = renames.get(name, name)
            if new in result:
                chain.problem(
                    where,
                    f"duplicate output column {new!r}: renaming would give two columns that "
                    "name; drop one first or pick another name",
                )
                return
            result[new] = col
        chain.columns = result


@dataclass(frozen=True, slots=True)
class Drop:
    """Remove columns; an unknown name is a problem (a typo would otherwise leak a column)."""

    names: tuple[str, ...]

    def describe(self) -> str:
        return call_repr("drop", *self.names)

    def compile(self, chain: Chain) -> None:
        where = self.describe()
        if all([chain.lookup(where, name) is not None for name in self.names]):
            for name in dict.fromkeys(self.names):
                del chain.columns[name]


@dataclass(frozen=True, slots=True)
class Include:
    """Keep only the named columns, in the order given (a projection)."""

    names: tuple[str, ...]

    def describe(self) -> str:
        return call_repr("include", *self.names)

    def compile(self, chain: Chain) -> None:
        where = self.describe()
        if len(set(self.names)) != len(self.names):
            chain.problem(where, "a column is named twice")
            return
        if all([chain.lookup(where, name) is not None for name in self.names]):
            chain.columns = {name: chain.columns[name] for name in self.names}
