"""Writers that hand a record's values to the optional C extension (``STREAMAPP_NATIVE=0``: never).

``value_writer`` / ``key_writer`` generate, once per schema, a function with the pure writer's
signature that builds one tuple of the record's values (converting in Python only what needs
Python objects: UUID and JSON -> text, records/arrays/maps -> their bytes from the pure writer,
Decimal only beyond 38 digits) and appends them with one ``_avrowrite.write`` call. The C call
accepts only exact types whose bytes it is sure of; on any exception the generated function
truncates ``out`` and re-runs the pure writer, so bytes and exceptions are always the pure
writer's. Without the extension (not built, or ``STREAMAPP_NATIVE=0`` at import time) both
return the pure writer itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import ModuleType
from typing import Any, Final

from streamapp.encode.avrowrite import _ENV, _decimal_writer, _field_writer
from streamapp.encode.schema import DELETED_FIELD, UNCHANGED_FIELD, field_type_of, split_nullable
from streamapp.native import native_module
from streamapp.types import Kind

LONG, DOUBLE, BOOL, STRING, BYTES, RAW, DATE, TIME, TS, TSTZ, DURATION, DECIMAL = range(1, 13)
NULL_FIRST: Final = 0x40
NULL_SECOND: Final = 0x80
_OPS: Final = {  # kind -> (opcode, conversion made in Python or None)
    Kind.INT: (LONG, None),
    Kind.FLOAT: (DOUBLE, None),
    Kind.BOOL: (BOOL, None),
    Kind.STRING: (STRING, None),
    Kind.BYTES: (BYTES, None),
    Kind.DATE: (DATE, None),
    Kind.TIME: (TIME, None),
    Kind.TIMESTAMP: (TS, None),
    Kind.TIMESTAMPTZ: (TSTZ, None),
    Kind.DURATION: (DURATION, None),
    Kind.UUID: (STRING, "USTR"),
    Kind.JSON: (STRING, "JDUMP"),
}
_UNCHANGED_TYPE: Final = {"type": "array", "items": "string"}


def load() -> ModuleType | None:
    """The C extension; None when it is missing or STREAMAPP_NATIVE=0."""
    return native_module("streamapp.encode._avrowrite")


NATIVE: ModuleType | None = load()
"""The C extension module, or None when it is not built or disabled by STREAMAPP_NATIVE=0."""


def _as_bytes(write: Callable[[bytearray, Any], None]) -> Callable[[Any], bytearray]:
    """A pure field writer as a function returning the field's bytes."""

    def encode(v: Any) -> bytearray:
        out = bytearray()
        write(out, v)
        return out

    return encode


class _Plan:
    """Collects, field by field, the opcode and the Python expression of each tuple item."""

    def __init__(self, native: ModuleType) -> None:
        self.env: dict[str, Any] = {"W": native.write, "USTR": _ENV["USTR"], "JDUMP": _ENV["JDUMP"]}
        self.ops = bytearray()
        self.items: list[str] = []

    def helper(self, fn: Any) -> str:
        name = f"H{len(self.env)}"
        self.env[name] = fn
        return name

    def add(self, t: Any, expr: str, label: str) -> None:
        """The item for one value of Avro type ``t`` that ``expr`` (a plain name) holds."""
        inner, nullable = split_nullable(t)
        flag = (NULL_FIRST if t[0] == "null" else NULL_SECOND) if nullable else 0
        base = inner.get("type") if isinstance(inner, Mapping) else inner
        op: tuple[int, str | None] | None = None
        if not isinstance(base, list | Mapping) and base not in ("record", "array", "map"):
            kind = field_type_of(inner, label).kind
            if kind is Kind.DECIMAL:
                precision, scale = int(inner["precision"]), int(inner.get("scale", 0))
                if 1 <= precision <= 38 and 0 <= scale <= precision:  # the C digits fit 128 bits
                    self.ops += bytes([DECIMAL | flag, precision, scale])
                    self.items.append(expr)
                    return
                op = (BYTES, self.helper(_decimal_writer(precision, scale)))
            else:
                op = _OPS[kind]
        if op is None:  # nested: the pure writer's bytes for the whole field, union tag included
            self.ops.append(RAW)
            self.items.append(f"{self.helper(_as_bytes(_field_writer(t, label)))}({expr})")
            return
        code, conv = op
        self.ops.append(code | flag)
        if conv is None:
            self.items.append(expr)
        elif nullable:
            self.items.append(f"None if {expr} is None else {conv}({expr})")
        else:
            self.items.append(f"{conv}({expr})")

    def compile(
        self, head: str, prelude: list[str], pure: Callable[..., None], label: str, values: str = ""
    ) -> Any:
        """Define ``head``: the items in one C call; on any exception, ``pure`` from scratch."""
        self.env["PURE"], self.env["PROG"] = pure, bytes(self.ops)
        values = values or f"({''.join(item + ', ' for item in self.items)})"
        args = head.partition("(")[2].rstrip("):")
        lines = [
            f"def {head}",
            "    n = len(out)",
            "    try:",
            *(f"        {line}" for line in prelude),
            f"        W(out, {values}, PROG)",
            "    except Exception:",
            "        del out[n:]",
            f"        PURE({args})",
        ]
        exec(compile("\n".join(lines), f"<streamapp native avro writer {label}>", "exec"), self.env)
        return self.env[head.partition("(")[0]]


def value_writer(
    fields: Sequence[Mapping[str, Any]], pure: Callable[..., None], label: str
) -> Callable[..., None]:
    """``pure`` (``write_value(out, get, deleted, unchanged)``) through the C writer when built."""
    if NATIVE is None or not fields:
        return pure
    plan, prelude = _Plan(NATIVE), []
    unchanged = plan.helper(_as_bytes(_field_writer(_UNCHANGED_TYPE, UNCHANGED_FIELD)))
    for i, f in enumerate(fields):
        if f["name"] == DELETED_FIELD:
            plan.ops.append(BOOL)
            plan.items.append("deleted")
        elif f["name"] == UNCHANGED_FIELD:
            plan.ops.append(RAW)
            plan.items.append(f"{unchanged}(unchanged) if unchanged else b'\\x00'")
        else:
            prelude.append(f"x{i} = get({f['name']!r})")
            plan.add(f["type"], f"x{i}", str(f["name"]))
    fn: Callable[..., None] = plan.compile(
        "write_value(out, get, deleted, unchanged):", prelude, pure, label
    )
    return fn


def key_writer(
    fields: Sequence[Mapping[str, Any]], pure: Callable[[bytearray, Any], None], label: str
) -> Callable[[bytearray, Any], None]:
    """``pure`` (``write_key(out, key)``, key values in field order) through the C writer."""
    if NATIVE is None or not fields:
        return pure
    plan = _Plan(NATIVE)
    names = [f"k{i}" for i in range(len(fields))]
    for name, f in zip(names, fields, strict=True):
        plan.add(f["type"], name, str(f["name"]))
    if plan.items == names:  # no conversion: the key tuple itself is the C call's values
        fn: Callable[[bytearray, Any], None] = plan.compile(
            "write_key(out, key):", [], pure, label, values="key"
        )
        return fn
    prelude = [f"{''.join(n + ', ' for n in names)}= key"]
    fn = plan.compile("write_key(out, key):", prelude, pure, label)
    return fn
