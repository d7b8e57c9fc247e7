"""Connect JSON payload values checked against their schema: the JSON shapes each type allows.

JsonConverter writes boolean as a JSON boolean; int8/int16/int32/int64 as integers within
their width; float/double as numbers, NaN and the infinities as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (Jackson's default); string as text; bytes as base64 text
(a ``Decimal`` also as a number, with ``decimal.format=NUMERIC``); struct and map as objects;
array as an array. Anything else (a string in an int32 field, an int64 beyond 64 bits, a float
in an integer field) is refused: :class:`Mismatch` names the schema type and the JSON type.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, Final

from streamapp.decode import semantic
from streamapp.decode.schema import SType

Check = Callable[[Any], Any]
DECIMAL: Final = "org.apache.kafka.connect.data.Decimal"
JSON_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "boolean": (bool,),
    "int": (int,),
    "long": (int,),
    "float": (float,),
    "double": (float,),
    "string": (str,),
    "bytes": (str,),
    "struct": (dict,),
    "array": (list,),
    "map": (dict,),
}
_JSON_NAMES: Final = {
    bool: "boolean",
    int: "integer",
    float: "float",
    Decimal: "float",  # a number parsed exactly (a message whose schema has a Decimal)
    str: "string",
    dict: "object",
    list: "array",
}


class Mismatch(ValueError):
    """A JSON value that its Connect schema type does not allow; ``path`` is inside the field."""

    def __init__(self, expected: str, got: str, path: str = "") -> None:
        super().__init__(f"the schema says {expected} but the payload has {got}")
        self.expected, self.got, self.path = expected, got, path


def connect_name(st: SType) -> str:
    """The type as JsonConverter names it (``int16``, ``double``), with the semantic name."""
    base = st.kind
    if st.kind in ("int", "long"):
        base = f"int{st.width or (32 if st.kind == 'int' else 64)}"
    return f"{base} {st.semantic}" if st.semantic else base


def json_name(value: Any) -> str:
    """The JSON type of a parsed value, as it appears in a message (never the value)."""
    return _JSON_NAMES.get(type(value), type(value).__name__)


def accepted(st: SType) -> tuple[type, ...]:
    """The Python types of parsed JSON a value of ``st`` may arrive as, without fixing."""
    types = JSON_TYPES.get(st.kind, ())
    if st.semantic == DECIMAL:
        return (str, int, float, Decimal)
    return types


def bounds(st: SType) -> tuple[int, int] | None:
    """The integer range of a Connect integer type (None for other types)."""
    if st.kind not in ("int", "long"):
        return None
    bits = st.width or (32 if st.kind == "int" else 64)
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def fixer(st: SType) -> Check | None:
    """For a value not of an ``accepted`` type: the function that still reads it (floats from
    integers, from numbers parsed exactly as Decimal and from Jackson's NaN/Infinity text),
    or None when nothing does."""
    if st.kind in ("float", "double"):
        return _float
    return None


def _float(value: Any) -> float:
    if type(value) is Decimal:  # parsed exactly because the schema has a Decimal elsewhere
        return float(value)
    try:
        return semantic.float_value(value)
    except TypeError:
        raise ValueError from None


def checker(st: SType) -> Check:
    """The whole-value check of ``st``, recursing into structs, arrays and maps: returns the
    value (floats fixed) or raises Mismatch."""
    types = accepted(st)
    fix = fixer(st)
    limits = bounds(st)
    name = connect_name(st)
    inner: Check | None = None
    fields: tuple[tuple[str, Check], ...] = ()
    if st.kind in ("array", "map") and st.items is not None:
        inner = checker(st.items)
    elif st.kind == "struct" and st.semantic not in semantic.STRUCT_SEMANTICS:
        fields = tuple((n, checker(f)) for n, f in st.fields)

    def check(value: Any) -> Any:
        if type(value) not in types:
            if fix is None:
                raise Mismatch(name, json_name(value))
            try:
                return fix(value)
            except ValueError:
                raise Mismatch(name, json_name(value)) from None
        if limits is not None and not limits[0] <= value <= limits[1]:
            raise Mismatch(name, f"an integer outside the {name} range")
        if inner is not None:
            if type(value) is list:
                return [_at(inner, v, f"[{i}]") for i, v in enumerate(value)]
            return {k: _at(inner, v, f"[{k!r}]") for k, v in value.items()}
        for key, sub in fields:
            v = value.get(key)
            if v is not None:
                value[key] = _at(sub, v, f".{key}")
        return value

    return check


def _at(check: Check, value: Any, step: str) -> Any:
    if value is None:
        return None
    try:
        return check(value)
    except Mismatch as exc:
        raise Mismatch(exc.expected, exc.got, step + exc.path) from None
