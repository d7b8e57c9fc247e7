"""``t.derive``: a new typed column computed by a user function over the row at that point.

The function gets a dict of the columns as they are at its place in the chain (after earlier
renames and masks) and returns the value, or None. If it reads a column whose value is
UNCHANGED (``row[name]`` or ``row.get(name)``), the derived value is UNCHANGED too. The result
is checked against the declared type (ints are accepted for float, ints and Decimals are
rounded to a decimal's scale, aware datetimes are normalised to UTC).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Final

from streamapp.errors import TransformError
from streamapp.records import UNCHANGED
from streamapp.transform.chain import (
    Chain,
    Column,
    U,
    call_repr,
    describe_callable,
    user_code_failed,
)
from streamapp.transform.convert import CastFailure, decimal_fitter
from streamapp.types import FieldType, Kind, TypeSpec, parse_type

RowFunction = Callable[[dict[str, Any]], Any]


class UnchangedRead(BaseException):
    """Raised inside a derive function that read an UNCHANGED column.

    A BaseException so that a ``try/except Exception`` in user code cannot swallow it.
    """


class RowView(dict[str, Any]):
    """The row a derive function sees while some column is UNCHANGED: reading one aborts."""

    __slots__ = ()

    def __getitem__(self, key: str) -> Any:
        value = dict.__getitem__(self, key)
        if value is UNCHANGED:
            raise UnchangedRead
        return value

    def get(self, key: str, default: Any = None) -> Any:
        value = dict.get(self, key, default)
        if value is UNCHANGED:
            raise UnchangedRead
        return value


_EXACT: Final = {Kind.STRING: "str", Kind.INT: "int", Kind.FLOAT: "float", Kind.BOOL: "bool"}
_PY_TYPES: Final[dict[Kind, type | tuple[type, ...]]] = {
    Kind.STRING: str,
    Kind.BOOL: bool,
    Kind.TIME: time,
    Kind.DURATION: timedelta,
    Kind.BYTES: bytes,
    Kind.UUID: uuid.UUID,
    Kind.RECORD: dict,
    Kind.MAP: dict,
    Kind.ARRAY: list,
}


def result_checker(where: str, name: str, ftype: FieldType) -> Callable[[Any], Any] | None:
    """A function that validates/normalises a derived value of ``ftype``; None for json."""
    kind = ftype.kind

    def wrong(value: Any) -> TransformError:
        return TransformError(
            f"{where} returned a value of Python type {type(value).__name__}, but "
            f"type={str(ftype)!r}; "
            "return a value of that type (or None) or change type=",
            field=name,
        )

    if kind is Kind.JSON:
        return None
    if kind in _PY_TYPES:
        expected = _PY_TYPES[kind]

        def check(value: Any) -> Any:
            if isinstance(value, expected):
                return value
            raise wrong(value)

        return check
    if kind in (Kind.INT, Kind.FLOAT):
        as_float = kind is Kind.FLOAT

        def number(value: Any) -> Any:
            if isinstance(value, int) and not isinstance(value, bool):
                return float(value) if as_float else value
            if as_float and isinstance(value, float):
                return value
            raise wrong(value)

        return number
    if kind is Kind.DECIMAL:
        assert ftype.precision is not None and ftype.scale is not None
        fit = decimal_fitter(ftype.precision, ftype.scale)

        def decimal(value: Any) -> Any:
            if isinstance(value, Decimal | int) and not isinstance(value, bool):
                try:
                    return fit(Decimal(value))
                except CastFailure as exc:
                    raise TransformError(
                        f"{where} returned a decimal that does not fit {ftype}: {exc.reason}",
                        field=name,
                    ) from None
            raise wrong(value)

        return decimal
    return _temporal(kind, wrong)


def _temporal(kind: Kind, wrong: Callable[[Any], TransformError]) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if kind is Kind.DATE and isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, datetime):
            if kind is Kind.TIMESTAMP and value.tzinfo is None:
                return value
            if kind is Kind.TIMESTAMPTZ and value.tzinfo is not None:
                return value.astimezone(UTC)
        raise wrong(value)

    return check


@dataclass(frozen=True, slots=True)
class Derive:
    """Add column ``name`` = ``function(row)`` of type ``type``; the name must be new."""

    name: str
    function: RowFunction
    type: TypeSpec

    def describe(self) -> str:
        return f"derive({self.name!r}, {describe_callable(self.function)}, type={self.type!r})"

    def compile(self, chain: Chain) -> None:
        where = call_repr("derive", self.name)
        try:
            ftype = parse_type(self.type)
        except ValueError as exc:
            chain.problem(where, str(exc))
            return
        if not callable(self.function):
            chain.problem(where, "the function must take the row (a dict) and return the value")
            return
        if not isinstance(self.name, str) or not chain.is_free(where, self.name):
            return
        func = chain.bind(self.function, "derive")
        view, signal = chain.bind(RowView, "RowView"), chain.bind(UnchangedRead, "Unchanged")
        advice = f"make {describe_callable(self.function)} handle null and unexpected values"
        fail = chain.bind(lambda exc: user_code_failed(where, exc, advice), "derive_failed")
        row = "{" + ", ".join(f"{n!r}: {c.var}" for n, c in chain.columns.items()) + "}"
        var = chain.new_var()
        lines = [
            "try:",
            f"    {var} = {func}({view}({row}) if u else {row})",
            f"except {signal}:",
            f"    {var} = {U}",
            "except Exception as exc:",
            f"    raise {fail}(exc) from None",
        ]
        check = result_checker(where, self.name, ftype)
        if check is not None:
            fast = _EXACT.get(ftype.kind)  # the common, correct case skips the call
            test = f"{var}.__class__ is not {fast} and " if fast else ""
            lines += [
                f"if {test}{var} is not None and {var} is not {U}:",
                f"    {var} = {chain.bind(check, 'check')}({var})",
            ]
        chain.emit([var], lines, [c.var for c in chain.columns.values()])
        chain.columns[self.name] = Column(var, ftype)
