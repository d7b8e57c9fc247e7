"""Compile-time state of a transform chain: typed columns, generated statements and problems.

A chain is compiled, not interpreted: every column lives in a local variable of one generated
function, and each transform appends straight-line statements that read and assign those
variables. ``Chain`` is the builder the transforms share; ``transform.codegen`` turns its
statements into the function. Runtime helpers (converters, masks) are bound as globals of the
generated code via :meth:`Chain.bind`, so no user text is ever pasted into source code.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamapp.errors import TransformError
from streamapp.records import Op
from streamapp.types import FieldType

U = "_U"
"""The generated code's name for the ``UNCHANGED`` sentinel."""

ROW_OPS = (Op.CREATE, Op.UPDATE, Op.DELETE, Op.READ)
"""The ops whose events carry rows; the only ones a topology can emit records for."""


@dataclass(slots=True)
class Column:
    """A column at one point of the chain: the local holding its value, and its type.

    ``key_unsafe`` names the transform that made the column unfit to be a key (a mask that
    merges distinct values), if any; renames and casts carry it along.
    """

    var: str
    type: FieldType
    key_unsafe: str | None = None


@dataclass(frozen=True, slots=True)
class Statement:
    """Generated lines that assign ``targets`` and read only the locals in ``reads``."""

    targets: tuple[str, ...]
    lines: tuple[str, ...]
    reads: tuple[str, ...]


class Chain:
    """The builder every transform's ``compile`` step works on.

    Guarantees: column order is the output order; a problem never aborts the chain (the
    failing transform leaves the columns unchanged and later ones are still checked); names
    bound with :meth:`bind` are unique identifiers.
    """

    def __init__(
        self,
        *,
        secrets: Mapping[str, bytes],
        tables: Mapping[str, Any] | None = None,
        refs: Mapping[str, Any] | None = None,
    ) -> None:
        self.columns: dict[str, Column] = {}
        self.tables: Mapping[str, Any] = tables or {}  # name -> lookup.TableShape
        self.refs: dict[str, Any] = dict(refs or {})  # name -> lookup.TableRef, made by lookups
        self.statements: list[Statement] = []
        self.namespace: dict[str, Any] = {}
        self.problems: list[str] = []
        self.secrets = secrets
        self.ops: set[Op] = set(ROW_OPS)
        self.predicates: list[tuple[str, str]] = []  # (bound name, description)
        self.final_checks: list[Callable[[], None]] = []  # run once every step is compiled
        self._count = 0

    def new_var(self) -> str:
        """A fresh local variable name."""
        self._count += 1
        return f"v{self._count}"

    def bind(self, value: object, hint: str) -> str:
        """Make ``value`` a global of the generated code and return its (unique) name."""
        self._count += 1
        name = f"_{hint}{self._count}"
        self.namespace[name] = value
        return name

    def emit(self, targets: Sequence[str], lines: Sequence[str], reads: Sequence[str]) -> None:
        """Append a statement (lines at function-body level, indented by codegen)."""
        self.statements.append(Statement(tuple(targets), tuple(lines), tuple(reads)))

    def problem(self, where: str, message: str) -> None:
        """Record one problem line: ``<where>: <message>``."""
        self.problems.append(f"{where}: {message}")

    def lookup(self, where: str, name: str) -> Column | None:
        """The column ``name``, or None after recording an 'unknown field' problem."""
        col = self.columns.get(name)
        if col is None:
            self.problem(where, unknown_field(name, self.columns))
        return col

    def is_free(self, where: str, name: str, *, replacing: Sequence[str] = ()) -> bool:
        """True when ``name`` can become a new column; else records a duplicate problem."""
        if name in self.columns and name not in replacing:
            self.problem(
                where,
                f"duplicate output column {name!r}: a column of that name already exists; "
                "drop or rename one of them first",
            )
            return False
        return True

    def guarded(self, func: str, var: str) -> str:
        """Expression applying ``func`` to ``var`` unless it is null or UNCHANGED."""
        return f"{var} if {var} is None or {var} is {U} else {func}({var})"

    def apply(
        self,
        func: Callable[[Any], Any],
        var: str,
        *,
        catch: tuple[type[Exception], ...],
        error: Callable[[Any, Exception], Exception],
        hint: str,
    ) -> str:
        """Emit ``new = func(var)`` (null and UNCHANGED pass through) and return ``new``.

        An exception in ``catch`` becomes ``error(value, exc)``, raised without context (the
        original message may quote the value). The try block is free when nothing raises.
        """
        new = self.new_var()
        fn, caught, err = self.bind(func, hint), self.bind(catch, "catch"), self.bind(error, "err")
        lines = [
            "try:",
            f"    {new} = {self.guarded(fn, var)}",
            f"except {caught} as exc:",
            f"    raise {err}({var}, exc) from None",
        ]
        self.emit([new], lines, [var])
        return new


def unknown_field(name: str, known: Mapping[str, object]) -> str:
    """The 'unknown field' message, with a close match suggested when there is one."""
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "columns here: " + ", ".join(known)
    return f"unknown field {name!r} at this point of the chain; {hint}"


def call_repr(func: str, *args: object, **kwargs: object) -> str:
    """Render a call as a user would write it: ``cast(vip='int')``."""
    parts = [repr(a) for a in args]
    for key, value in kwargs.items():
        parts.append(f"{key}={value!r}" if key.isidentifier() else f"**{{{key!r}: {value!r}}}")
    return f"{func}({', '.join(parts)})"


def describe_callable(fn: object) -> str:
    """``name at file.py:line`` for a user function, for messages that must not quote values."""
    code = getattr(fn, "__code__", None)
    name = getattr(fn, "__name__", type(fn).__name__)
    if code is None:
        return str(name)
    return f"{name} at {os.path.basename(code.co_filename)}:{code.co_firstlineno}"


def user_code_failed(where: str, exc: BaseException, advice: str) -> TransformError:
    """The TransformError for user code (a filter or derive) that raised; names no value.

    The original exception's message is left out on purpose: it often quotes the value.
    """
    return TransformError(f"{where} raised {type(exc).__name__}; {advice}")
