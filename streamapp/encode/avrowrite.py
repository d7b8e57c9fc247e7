"""The generated Avro writers behind RecordEncoder: one straight-line function per schema.

``_field_writer(avro_type, label)`` compiles, once, a function that appends the Avro binary
encoding of one value of that type to a bytearray (varints from lookup tables, decimals through
a per-precision writer, JSON as sorted compact text); a value that does not fit raises
``_Unfit`` with a reason that names the expected Python type, never the value.
"""

from __future__ import annotations

import json
import struct
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Final

from streamapp.encode.schema import (
    DELETED_FIELD,
    UNCHANGED_FIELD,
    field_type_of,
    split_nullable,
)
from streamapp.types import SCALAR_KINDS, Kind

_SMALL: Final = 1 << 14
_VARINT: Final = [
    bytes([n]) if n < 0x80 else bytes([n & 0x7F | 0x80, n >> 7]) for n in range(_SMALL)
]
_CONT: Final = [bytes([n & 0x7F | 0x80, n >> 7 | 0x80]) for n in range(_SMALL)]
_JSON: Final = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


_RANGE: Final = "is outside the 64-bit signed range of an Avro long"


class _Unfit(Exception):
    """A value of the right Python type that the Avro type cannot hold; ``reason`` has no value."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _days(v: date) -> int:
    if isinstance(v, datetime) or not isinstance(v, date):
        raise TypeError("date")
    return v.toordinal() - 719163


def _micros_of_day(v: time) -> int:
    if not isinstance(v, time):
        raise TypeError("time")
    return ((v.hour * 60 + v.minute) * 60 + v.second) * 1_000_000 + v.microsecond


def _decimal_writer(precision: int, scale: int) -> Callable[[Decimal], bytes]:
    """Decimal -> two's-complement unscaled bytes, rounded half-up to ``scale`` digits."""
    ctx = Context(prec=max(precision, 28) + scale + 2, rounding=ROUND_HALF_UP)
    limit, one = 10**precision, Decimal(1)

    def to_bytes(v: Decimal) -> bytes:
        if not isinstance(v, Decimal):
            raise TypeError("decimal")
        if v.is_finite() and v and v.adjusted() + scale >= precision:
            # too many digits: refused before int(), which is quadratic in a huge exponent
            raise _Unfit(f"needs more than {precision} digits at scale {scale}")
        q = v.scaleb(scale, ctx)
        try:
            u = int(q)
            if q != u:
                u = int(q.quantize(one, context=ctx))
        except (ValueError, OverflowError):
            raise _Unfit("is not finite") from None
        if not -limit < u < limit:
            raise _Unfit(f"needs more than {precision} digits at scale {scale}")
        return u.to_bytes((abs(u).bit_length() + 8) // 8, "big", signed=True)

    return to_bytes


# What the generated writer (or a value's own methods) raises for a value that does not fit.
_WRITE_ERRORS: Final = (
    *(TypeError, AttributeError, KeyError, ValueError, OverflowError, RecursionError),
    *(struct.error, _Unfit),
)
# fmt: off
_ENV: Final[dict[str, Any]] = {
    "VAR": _VARINT, "CONT": _CONT, "RANGE": _RANGE, "Unfit": _Unfit, "PD": struct.Struct("<d").pack,
    "DAYS": _days, "TOD": _micros_of_day, "USTR": uuid.UUID.__str__, "JDUMP": _JSON.encode,
    "EPOCH": datetime(1970, 1, 1), "EPOCH_UTC": datetime(1970, 1, 1, tzinfo=UTC),
    "BOOL": {True: b"\x01", False: b"\x00"}, "LIST": (list, tuple), "DICT": dict,
}
# fmt: on
_BOOKKEEPING_TYPES: Final[dict[str, Any]] = {
    DELETED_FIELD: "boolean",
    UNCHANGED_FIELD: {"type": "array", "items": "string"},
}
_READ_AS_IS: Final = SCALAR_KINDS - {Kind.JSON, Kind.DURATION}  # fastavro returns these as is
_LONG_EXPR: Final = {  # kind -> expression giving the Avro long (or int) for value {v}
    Kind.INT: "{v}",
    Kind.DATE: "DAYS({v})",
    Kind.TIME: "TOD({v})",
    Kind.DURATION: "({v}.days * 86400 + {v}.seconds) * 1000000 + {v}.microseconds",
}
_TEXT_EXPR: Final = {
    Kind.STRING: "{v}.encode()",
    Kind.UUID: "USTR({v}).encode()",
    Kind.JSON: "JDUMP({v}).encode()",
    Kind.BYTES: "{v}",
}
# fmt: off
_EXPECTED: Final = {  # kind -> the Python value it takes, for error messages
    Kind.INT: "int", Kind.FLOAT: "float", Kind.BOOL: "bool", Kind.STRING: "str",
    Kind.DECIMAL: "Decimal", Kind.DATE: "date", Kind.TIME: "time", Kind.BYTES: "bytes",
    Kind.TIMESTAMP: "naive datetime", Kind.TIMESTAMPTZ: "aware datetime", Kind.UUID: "UUID",
    Kind.DURATION: "timedelta", Kind.JSON: "JSON-serialisable value", Kind.RECORD: "dict",
    Kind.ARRAY: "list", Kind.MAP: "dict with str keys",
}
# fmt: on


class _CodeGen:
    """Emits Python source that appends the Avro encoding of a value to ``out``."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.env: dict[str, Any] = dict(_ENV)

    def emit(self, ind: int, line: str) -> None:
        self.lines.append("    " * ind + line)

    def varint(self, ind: int, expr: str) -> None:
        """Append the zigzag varint of ``expr`` (an int expression)."""
        self.emit(ind, f"n = {expr}")
        self.emit(ind, "n = (n << 1) ^ (n >> 63)")
        self.emit(ind, "if n < 16384: out += VAR[n]")
        self.emit(ind, "elif n < 268435456: out += CONT[n & 16383]; out += VAR[n >> 14]")
        self.emit(ind, "else:")
        self.emit(ind + 1, "if n >> 64: raise Unfit(RANGE)")
        self.emit(ind + 1, "while n >= 16384: out += CONT[n & 16383]; n >>= 14")
        self.emit(ind + 1, "out += VAR[n]")

    def sized(self, ind: int, expr: str) -> None:
        """Append ``expr`` (bytes) with its length prefix."""
        self.emit(ind, f"b = {expr}")
        self.varint(ind, "len(b)")
        self.emit(ind, "out += b")

    def value(self, t: Any, var: str, ind: int, depth: int) -> None:
        inner, nullable = split_nullable(t)
        if not nullable:
            self.plain(t, var, ind, depth)
            return
        null_tag, tag = (b"\x00", b"\x02") if t[0] == "null" else (b"\x02", b"\x00")
        self.emit(ind, f"if {var} is None: out += {null_tag!r}")
        self.emit(ind, "else:")
        self.emit(ind + 1, f"out += {tag!r}")
        self.plain(inner, var, ind + 1, depth)

    def plain(self, t: Any, var: str, ind: int, depth: int) -> None:
        if isinstance(t, Mapping) and isinstance(t.get("type"), list | Mapping):
            return self.value(t["type"], var, ind, depth)
        base = t.get("type") if isinstance(t, Mapping) else t
        sub = f"v{depth + 1}"
        if base == "record":
            for f in t["fields"]:
                self.emit(ind, f"{sub} = {var}.get({f['name']!r})")
                self.value(f["type"], sub, ind, depth + 1)
        elif base in ("array", "map"):
            check = "LIST" if base == "array" else "DICT"
            self.emit(ind, f"if not isinstance({var}, {check}): raise TypeError({base!r})")
            self.emit(ind, f"if {var}:")
            self.varint(ind + 1, f"len({var})")
            if base == "array":
                self.emit(ind + 1, f"for {sub} in {var}:")
            else:
                self.emit(ind + 1, f"for k{depth}, {sub} in {var}.items():")
                self.sized(ind + 2, f"k{depth}.encode()")
            self.value(t["items" if base == "array" else "values"], sub, ind + 2, depth + 1)
            self.emit(ind, "out += b'\\x00'")
        else:
            self.scalar(field_type_of(t).kind, t, var, ind)
        return None

    def scalar(self, kind: Kind, t: Any, var: str, ind: int) -> None:
        if kind in _LONG_EXPR:
            self.varint(ind, _LONG_EXPR[kind].format(v=var))
        elif kind in _TEXT_EXPR:
            self.sized(ind, _TEXT_EXPR[kind].format(v=var))
        elif kind is Kind.FLOAT:
            self.emit(ind, f"out += PD({var})")
        elif kind is Kind.BOOL:
            self.emit(ind, f"out += BOOL[{var}]")
        elif kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
            epoch = "EPOCH" if kind is Kind.TIMESTAMP else "EPOCH_UTC"
            self.emit(ind, f"d = {var} - {epoch}")
            self.varint(ind, "(d.days * 86400 + d.seconds) * 1000000 + d.microseconds")
        else:  # DECIMAL
            name = f"DEC{len(self.env)}"
            self.env[name] = _decimal_writer(int(t["precision"]), int(t.get("scale", 0)))
            self.sized(ind, f"{name}({var})")

    def compile(self, func: str, params: str, label: str) -> Callable[..., None]:
        src = "\n".join([f"def {func}({params}):", *self.lines, "    return None"])
        exec(compile(src, f"<streamapp avro writer {label}>", "exec"), self.env)
        fn: Callable[..., None] = self.env[func]
        return fn


def _field_writer(t: Any, label: str) -> Callable[[bytearray, Any], None]:
    gen = _CodeGen()
    gen.value(t, "v0", 1, 0)
    return gen.compile("write_field", "out, v0", label)
