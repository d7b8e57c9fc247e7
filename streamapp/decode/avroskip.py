"""Emit generated-reader code that advances past one Avro value without building it.

Used for lazy before-images: the reader skips the ``before`` row's bytes and reads them again
only when the event needs them. Skipping lands exactly where reading would for every valid
encoding: varints are walked to their last byte, strings/bytes and fixed are jumped over,
fixed-width array items are jumped over in one step, and array/map blocks written with a
negative count are jumped over with their byte size. Nothing is converted or checked beyond
what is needed to find the end (union branch and null indexes are; enum symbols and UTF-8 are
not), and every loop advances ``pos``, so no input makes a skip loop forever.
"""

from __future__ import annotations

from typing import Protocol

from streamapp.decode.limits import too_many_items
from streamapp.decode.schema import SType
from streamapp.errors import DecodeError

# Bytes a value of these kinds always occupies.
_WIDTH = {"null": 0, "boolean": 1, "float": 4, "double": 8}

BUDGET = "_nb"
"""The generated readers' local holding how many more array/map items the message may hold
(see ``decode.limits``): the message size + MAX_EMPTY_ITEMS when a reader starts, lowered by
every block's count (all blocks, nested containers, skipped before-images included); below 0
``_many`` raises the DecodeError naming the field."""


def _bad_size() -> None:
    raise ValueError("negative block byte size")


SKIP_NAMESPACE = {"_bsz": _bad_size, "_many": too_many_items}


class Emitter(Protocol):
    """What the skip code needs from the reader's code emitter (``avroread._Emitter``)."""

    def emit(self, ind: int, text: str) -> None: ...

    def tmp(self) -> str: ...


def width(st: SType) -> int | None:
    """The fixed byte width of a (non-optional view of) ``st``, or None when it varies."""
    if st.kind == "fixed":
        return st.size
    if st.kind == "struct":
        total = 0
        for _, ftype in st.fields:
            w = None if ftype.optional else width(ftype)
            if w is None:
                return None
            total += w
        return total
    return _WIDTH.get(st.kind)


def skip(em: Emitter, st: SType, ind: int, off: int = 0, path: str = "before") -> bool:
    """Emit code at indent ``ind`` that advances ``pos`` past one value of ``st``.

    The value starts at ``pos + off``: ``off`` bytes before it were read but not yet added to
    ``pos`` (adding them in the value's own last step saves a statement per field). ``path``
    names the value in errors (the item budget). Returns False when no code was needed (a
    zero-byte value and ``off`` 0).
    """
    if ind > 80:
        raise DecodeError("writer schema nests too deeply to compile")
    if not st.optional:
        return _present(em, st, ind, off, path)
    null_byte, value_byte = (0, 2) if st.null_index == 0 else (2, 0)
    em.emit(ind, f"_x = buf[pos + {off}]" if off else "_x = buf[pos]")
    em.emit(ind, f"if _x == {value_byte}:")
    _present(em, st, ind + 1, off + 1, path)
    em.emit(ind, f"elif _x == {null_byte}: pos += {off + 1}")
    em.emit(ind, "else: _bad()")
    return True


def _advance(em: Emitter, ind: int, off: int) -> bool:
    if off:
        em.emit(ind, f"pos += {off}")
    return off > 0


def _long(em: Emitter, out: str, ind: int) -> None:
    em.emit(ind, "_x = buf[pos]; pos += 1")
    em.emit(ind, "if _x & 128: _x, pos = _rv(buf, pos, _x)")
    em.emit(ind, f"{out} = (_x >> 1) ^ -(_x & 1)")


def _present(em: Emitter, st: SType, ind: int, off: int, path: str) -> bool:
    """Emit the skip of a non-null ``st`` at ``pos + off``; False when no code was needed."""
    kind = st.kind
    fixed = width(st)
    if fixed is not None:
        return _advance(em, ind, off + fixed)
    at = f"pos + {off}" if off else "pos"
    if kind in ("int", "long", "enum"):
        em.emit(ind, f"if buf[{at}] < 128: pos += {off + 1}")
        em.emit(ind, "else:")
        em.emit(ind + 1, f"pos += {off + 1}")
        em.emit(ind + 1, "while buf[pos] & 128: pos += 1")
        em.emit(ind + 1, "pos += 1")
    elif kind in ("string", "bytes"):
        em.emit(ind, f"_n = buf[{at}]")
        em.emit(ind, f"if _n & 129: _n, pos = _rl(buf, pos + {off + 1}, _n); pos += _n")
        em.emit(ind, f"else: pos += {off + 1} + (_n >> 1)")
    elif kind == "struct":
        for fname, ftype in st.fields:
            if skip(em, ftype, ind, off, f"{path}.{fname}"):
                off = 0
        _advance(em, ind, off)
    elif kind in ("array", "map"):
        _advance(em, ind, off)
        _container(em, st, ind, path)
    elif kind == "union":
        _advance(em, ind, off)
        index = em.tmp()
        _long(em, index, ind)
        for i, branch in enumerate(st.branches):
            em.emit(ind, f"{'if' if i == 0 else 'elif'} {index} == {i}:")
            if not skip(em, branch, ind + 1, 0, f"{path}<{i}>"):
                em.emit(ind + 1, "pass")
        em.emit(ind, "else: _bad()")
    else:
        raise DecodeError(f"writer schema has unsupported Avro type {kind!r}")
    return True


def _container(em: Emitter, st: SType, ind: int, path: str) -> None:
    """Blocks of items until a zero count; a negative count is followed by the byte size.
    Every block's items count against the message's item budget, jumped over or not."""
    assert st.items is not None
    count = em.tmp()
    item = None if st.items.optional else width(st.items)
    em.emit(ind, "while True:")
    _long(em, count, ind + 1)
    em.emit(ind + 1, f"if not {count}: break")
    em.emit(ind + 1, f"{BUDGET} -= {count} if {count} > 0 else -{count}")
    em.emit(ind + 1, f"if {BUDGET} < 0: _many({path!r}, len(buf))")
    em.emit(ind + 1, f"if {count} < 0:")
    _long(em, "_x", ind + 2)
    em.emit(ind + 2, "if _x < 0: _bsz()")
    em.emit(ind + 2, "pos += _x")
    if st.kind == "array" and item is not None:  # fixed-width items: one jump per block
        if item:
            em.emit(ind + 1, f"else: pos += {count} * {item}")
        return
    em.emit(ind + 1, "else:")
    em.emit(ind + 2, f"for _ in range({count}):")
    if st.kind == "map":
        _present(em, SType("string"), ind + 3, 0, path)
    if not skip(em, st.items, ind + 3, 0, f"{path}[]") and st.kind == "array":
        em.emit(ind + 3, "pass")
