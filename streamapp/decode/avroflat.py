"""Runs of flat Avro fields read by the optional C extension (``STREAMAPP_NATIVE=0``: never).

A Debezium row is a struct whose fields are all primitives or ``["null", primitive]``. The
generated reader (``avroread``) hands each run of such fields to one call of
``streamapp.decode._avrorows.read`` (or ``.skip`` for a lazily skipped before-image) with a
*program*: a bytes string built here once per writer schema, one opcode per field. The C
reader returns the raw values (TOAST placeholders of row strings/bytes already replaced by
UNCHANGED) and the new position; conversions stay in the generated Python. Values and
exceptions are the pure-Python reader's for every input (tests/unit/decode/test_decode_native.py).

The extension is built by ``pip install`` when a C compiler is available (setup.py); without
it, or with the environment variable ``STREAMAPP_NATIVE=0`` at import time, ``NATIVE`` is None
and the generated readers are pure Python.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Protocol

from streamapp.decode.avroskip import skip
from streamapp.decode.schema import SType
from streamapp.decode.semantic import CONVERSION_ERRORS, PLACEHOLDER_BYTES
from streamapp.native import native_module
from streamapp.records import UNCHANGED

_KINDS = {
    "null": 0,
    "boolean": 1,
    "int": 2,
    "long": 2,
    "float": 3,
    "double": 4,
    "bytes": 5,
    "string": 6,
    "fixed": 7,
}
_OPTIONAL, _NULL_SECOND, _TOAST = 0x10, 0x20, 0x40
MIN_RUN = 2
"""Fields a run needs to be worth one C call (a single field is as fast inline)."""
MAX_RUN = 65_535


def load() -> ModuleType | None:
    """Import and configure the C extension; None when it is missing or STREAMAPP_NATIVE=0."""
    module = native_module("streamapp.decode._avrorows")
    if module is not None:
        module.configure(PLACEHOLDER_BYTES, UNCHANGED)
    return module


NATIVE: ModuleType | None = load()
"""The C extension module, or None when it is not built or disabled by STREAMAPP_NATIVE=0."""


def is_flat(st: SType) -> bool:
    """True when one value of ``st`` is a primitive (or fixed), optionally in a null union."""
    return st.kind in _KINDS


def opcode(st: SType, *, toast: bool) -> bytes:
    """The program bytes of one flat field; ``toast`` marks a row column's placeholder check."""
    op = _KINDS[st.kind]
    if st.optional:
        op |= _OPTIONAL | (_NULL_SECOND if st.null_index == 1 else 0)
    if toast and st.kind in ("string", "bytes"):
        op |= _TOAST
    if st.kind == "fixed":
        return bytes([op]) + struct.pack("<I", st.size)
    return bytes([op])


def program(types: Sequence[SType], *, toast: bool) -> bytes:
    """The program of a run of flat fields: the field count, then one opcode per field."""
    if not 0 < len(types) <= MAX_RUN:
        raise ValueError(f"a flat run holds 1..{MAX_RUN} fields, not {len(types)}")
    return struct.pack("<H", len(types)) + b"".join(opcode(t, toast=toast) for t in types)


def runs(
    fields: Sequence[tuple[str, SType]],
    *,
    enabled: bool,
    exclude: frozenset[str] = frozenset(),
) -> list[list[tuple[str, SType]]]:
    """Split ``fields`` into groups, in order: runs of >= MIN_RUN flat fields, single fields.

    Fields named in ``exclude`` are never part of a run. With ``enabled`` False (no native
    reader, or a debug reader) every group is one field.
    """
    groups: list[list[tuple[str, SType]]] = []
    run: list[tuple[str, SType]] = []
    for item in fields:
        if enabled and is_flat(item[1]) and item[0] not in exclude and len(run) < MAX_RUN:
            run.append(item)
            continue
        groups.extend(_close(run))
        run = []
        groups.append([item])
    groups.extend(_close(run))
    return groups


def _close(run: list[tuple[str, SType]]) -> list[list[tuple[str, SType]]]:
    if len(run) >= MIN_RUN:
        return [run]
    return [[item] for item in run]


class Emitter(Protocol):
    """What the run code needs from the reader's code emitter (``avroread._Emitter``)."""

    ns: dict[str, Any]

    def emit(self, ind: int, text: str) -> None: ...

    def tmp(self) -> str: ...

    def const(self, value: Any) -> str: ...

    def conversion(self, st: SType, out: str, convert: bool) -> str | None: ...


def namespace(native: ModuleType) -> dict[str, Any]:
    """The names the emitted run code uses, for the generated reader's namespace."""
    return {"_fr": native.read, "_fs": native.skip, "_ERRS": CONVERSION_ERRORS}


def emit_run(em: Emitter, run: Sequence[tuple[SType, str, bool]], ind: int, toast: bool) -> None:
    """Emit one native read of a run of flat fields (type, variable, convert) and conversions.

    With ``toast`` the C reader has already replaced placeholders of strings/bytes by
    UNCHANGED, which, like None, is never converted.
    """
    prog = em.const(program([ftype for ftype, _, _ in run], toast=toast))
    em.emit(ind, f"{', '.join(var for _, var, _ in run)}, pos = _fr(buf, pos, {prog})")
    for ftype, var, convert in run:
        call = em.conversion(ftype, var, convert)
        if call is None:
            continue
        tests = [f"{var} is not None"] if ftype.optional else []
        if toast and ftype.kind in ("string", "bytes"):
            tests.append(f"{var} is not _U")
        em.emit(ind, f"if {' and '.join(tests)}: {call}" if tests else call)


def emit_skip(em: Emitter, st: SType, ind: int) -> None:
    """Emit the skip of a struct (a lazy before-image): native runs, ``avroskip`` for the rest."""
    if st.optional:
        null_byte, value_byte = (0, 2) if st.null_index == 0 else (2, 0)
        em.emit(ind, "_x = buf[pos]; pos += 1")
        em.emit(ind, f"if _x == {value_byte}:")
        ind += 1
    em.emit(ind, "pass")
    for group in runs(st.fields, enabled=True):
        if len(group) > 1:
            prog = em.const(program([ftype for _, ftype in group], toast=False))
            em.emit(ind, f"pos = _fs(buf, pos, {prog})")
        else:
            skip(em, group[0][1], ind, 0, f"before.{group[0][0]}")
    if st.optional:
        em.emit(ind - 1, f"elif _x != {null_byte}: _bad()")


def guard(lines: list[str]) -> list[str]:
    """Wrap a generated function's body so that any read error re-reads with ``_pure``.

    ``lines`` is ``def f(buf, pos, ...):`` and its body. The pure-Python reader then raises
    exactly its own exception (or, were the readers ever to disagree, returns its own value),
    so callers see pure-Python behaviour for corrupt input; the valid path costs nothing.
    """
    body = ["    " + line for line in lines[1:]]
    return [
        lines[0],
        "    _p0 = pos",
        "    try:",
        *body,
        "    except _ERRS:",
        "        return _pure(buf, _p0)",
    ]
