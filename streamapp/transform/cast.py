"""``t.cast``: change column types along the matrix documented in ``transform.convert``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from streamapp.errors import TransformError
from streamapp.transform.chain import Chain, call_repr
from streamapp.transform.convert import CastFailure, converter, intermediate
from streamapp.types import FieldType, TypeSpec, parse_type


@dataclass(frozen=True, slots=True)
class Cast:
    """Cast each named column to a new type; null and UNCHANGED pass through untouched.

    Compile time rejects unknown columns, unknown types and casts the matrix marks never
    possible. At run time a value that does not convert raises TransformError naming the
    column, both types and the value's Python type (never the value).
    """

    targets: tuple[tuple[str, TypeSpec], ...]

    def describe(self) -> str:
        return call_repr("cast", **dict(self.targets))

    def compile(self, chain: Chain) -> None:
        where = self.describe()
        for name, spec in self.targets:
            col = chain.lookup(where, name)
            try:
                dst = parse_type(spec)
            except ValueError as exc:
                chain.problem(where, str(exc))
                continue
            if col is None:
                continue
            convert = converter(col.type, dst)
            if convert is None:
                chain.problem(where, never_message(col.type, dst))
                continue
            if col.type == dst:
                continue
            var = chain.apply(
                convert,
                col.var,
                catch=(TypeError, ValueError, ArithmeticError, AttributeError),
                error=_error(where, name, col.type, dst),
                hint="cast",
            )
            col.var, col.type = var, dst


def never_message(src: FieldType, dst: FieldType) -> str:
    """The compile-time line for a cast that can never succeed, with a way out."""
    via = intermediate(src.kind, dst.kind)
    hint = (
        f"cast to {via.value} first or drop the cast"
        if via is not None
        else "compute the value with t.derive or drop the cast"
    )
    return f"{src} -> {dst} is never possible; {hint}"


def _error(
    where: str, name: str, src: FieldType, dst: FieldType
) -> Callable[[Any, Exception], Exception]:
    def error(value: Any, exc: Exception) -> Exception:
        if isinstance(exc, CastFailure):
            return TransformError(
                f"{where}: a {type(value).__name__} value of column {name!r} cannot be cast "
                f"from {src} to {dst}: {exc.reason}; fix the source row or drop the cast",
                field=name,
            )
        return TransformError(
            f"{where}: column {name!r} holds a {type(value).__name__}, which is not a "
            f"{src} value; check the column's declared source type",
            field=name,
        )

    return error
