"""The transform factories a topology module uses as ``t.<name>(...)``.

Each returns a small frozen spec; nothing is checked here (a module always imports), every
mistake becomes one problem line when the topology is compiled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from streamapp.records import Op
from streamapp.transform.cast import Cast
from streamapp.transform.derive import Derive, RowFunction
from streamapp.transform.fields import Drop, Include, Rename
from streamapp.transform.filter import Filter, FilterOps, Predicate
from streamapp.transform.flatten import Flatten, ShapeSpec
from streamapp.transform.lookup import AsOf, Lookup, Missing, lookup_spec
from streamapp.transform.mask import Mask, MaskFunction
from streamapp.transform.metadata import Metadata
from streamapp.types import TypeSpec

__all__ = [
    "cast",
    "derive",
    "drop",
    "email_keep_domain",
    "filter",
    "filter_ops",
    "flatten",
    "hmac_sha256",
    "include",
    "keep_first",
    "keep_last",
    "lookup",
    "mask",
    "metadata",
    "null_out",
    "redact",
    "rename",
    "tokenize",
]


def filter_ops(*ops: str | Op) -> FilterOps:
    """Keep only events with these ops: ``"c"``, ``"u"``, ``"d"``, ``"r"`` (create ... read)."""
    return FilterOps(ops)


def filter(predicate: Predicate) -> Filter:
    """Keep only events for which ``predicate(event)`` is true (``after`` is None for deletes)."""
    return Filter(predicate)


def rename(mapping: Mapping[str, str] | None = None, /, **renames: str) -> Rename:
    """Rename columns: ``t.rename(full_name="name")`` or ``t.rename({"old name": "new"})``."""
    return Rename(tuple({**(mapping or {}), **renames}.items()))


def drop(*columns: str) -> Drop:
    """Remove these columns."""
    return Drop(columns)


def include(*columns: str) -> Include:
    """Keep only these columns, in this order."""
    return Include(columns)


def cast(mapping: Mapping[str, TypeSpec] | None = None, /, **types: TypeSpec) -> Cast:
    """Cast columns to types: ``t.cast(vip="int")``; see ``transform.convert`` for the matrix."""
    return Cast(tuple({**(mapping or {}), **types}.items()))


def mask(column: str, function: MaskFunction | None = None) -> Mask:
    """Mask ``column`` with ``function`` (default :func:`redact`)."""
    return Mask(column, function if function is not None else redact())


def redact(replacement: str = "***") -> MaskFunction:
    """Replace the value with ``replacement``."""
    return MaskFunction("redact", (("replacement", replacement),))


def keep_first(n: int) -> MaskFunction:
    """Keep the first ``n`` characters (at most half the value), star the rest."""
    return MaskFunction("keep_first", (("n", n),))


def keep_last(n: int) -> MaskFunction:
    """Keep the last ``n`` characters (at most half the value), star the rest."""
    return MaskFunction("keep_last", (("n", n),))


def null_out() -> MaskFunction:
    """Replace the value with null."""
    return MaskFunction("null_out")


def hmac_sha256(secret: str = "default") -> MaskFunction:
    """Keyed HMAC-SHA-256 (hex) with the mask secret ``secret``; deterministic, key-safe."""
    return MaskFunction("hmac_sha256", (("secret", secret),), key_safe=True)


def tokenize(secret: str = "default", prefix: str = "tok_") -> MaskFunction:
    """A deterministic token ``prefix`` + 32 hex digits, keyed by ``secret``; key-safe."""
    return MaskFunction("tokenize", (("secret", secret), ("prefix", prefix)), key_safe=True)


def email_keep_domain() -> MaskFunction:
    """``alice@example.com`` -> ``***@example.com``."""
    return MaskFunction("email_keep_domain")


def flatten(
    *columns: str,
    sep: str = "_",
    max_depth: int | None = None,
    shape: ShapeSpec | None = None,
    max_items: int | None = None,
    rest: str | None = None,
) -> Flatten:
    """Flatten nested columns (all record columns if none are named); see ``transform.flatten``."""
    return Flatten(columns, sep, max_depth, shape, max_items, rest)


def derive(name: str, function: RowFunction, *, type: TypeSpec) -> Derive:
    """Add column ``name`` = ``function(row)``, declared as ``type``."""
    return Derive(name, function, type)


def metadata(*fields: str) -> Metadata:
    """Add event metadata columns ``__op``, ``__lsn``, ... (see ``transform.metadata``)."""
    return Metadata(fields)


def lookup(
    table: str,
    *,
    on: str | Sequence[str],
    columns: Mapping[str, str] | Sequence[str] | None = None,
    as_of: AsOf = "event",
    missing: Missing = "null",
    wait_seconds: float = 5.0,
) -> Lookup:
    """Add columns of topology ``table``'s row whose key is the fact's ``on`` column(s):
    ``columns={"name": "customer_name"}`` (table column -> new column), a list of names kept
    as they are, or None for every non-key column. ``as_of="event"``: the row as it stands
    when the fact is processed (``"current"`` is not supported yet). ``missing``: ``"null"``,
    ``"dlq"``, or ``"wait"`` up to ``wait_seconds`` then DLQ; see ``transform.lookup``."""
    return lookup_spec(table, on, columns, as_of, missing, wait_seconds)
