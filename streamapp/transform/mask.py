"""``t.mask``: hide a column's value; masked values never leak, not even into error messages.

Masks (null stays null, UNCHANGED stays UNCHANGED):

- ``redact(replacement="***")``: any column becomes the replacement string.
- ``keep_first(n)`` / ``keep_last(n)``: strings keep at most ``n`` characters and never more
  than half of the value; every other character becomes ``*``; the length is kept.
- ``null_out()``: the value becomes null; the column keeps its type.
- ``hmac_sha256(secret="default")``: keyed HMAC-SHA-256 as 64 hex digits (never an unkeyed
  hash, which a dictionary attack reverses). Strings, ints, UUIDs and bytes.
- ``tokenize(secret="default", prefix="tok_")``: ``prefix`` + 32 hex digits of a keyed HMAC
  (domain-separated from ``hmac_sha256``, so the two never agree). Same inputs as hmac.
- ``email_keep_domain()``: ``***@domain``; a value that is not ``local@domain`` becomes ``***``.

Only hmac_sha256 and tokenize are deterministic and collision-free, so only they may mask a
key column. A secret named ``name`` comes from ``STREAMAPP_MASK_SECRET`` (``default``) or
``STREAMAPP_MASK_SECRET_<NAME>`` and must be at least 16 bytes; no key is built in (the local
profile's fallback is a random key the local stack generates). A key is known by its
:func:`key_id` (in `streamapp settings` and the worker's start-up log), so a rotation — after
which the same value masks differently — is visible.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from streamapp.errors import TransformError
from streamapp.transform.chain import Chain, U, call_repr
from streamapp.types import STRING, FieldType, Kind

MIN_SECRET_BYTES: Final = 16
_SECRET_NAME: Final = re.compile(r"[a-z][a-z0-9_]*")
_HASHABLE: Final = frozenset({Kind.STRING, Kind.INT, Kind.UUID, Kind.BYTES})
_TOKEN_DOMAIN: Final = b"streamapp.tokenize\x00"
_KEY_ID_DOMAIN: Final = b"streamapp.key-id\x00"
_DEFAULTS: Final[dict[str, dict[str, Any]]] = {
    "redact": {"replacement": "***"},
    "hmac_sha256": {"secret": "default"},
    "tokenize": {"secret": "default", "prefix": "tok_"},
}


@dataclass(frozen=True, slots=True)
class MaskFunction:
    """One masking rule: how it reads in problems, what it accepts, whether it is key-safe."""

    name: str
    args: tuple[tuple[str, Any], ...] = ()
    key_safe: bool = False

    def describe(self) -> str:
        defaults = _DEFAULTS.get(self.name, {})
        shown = {k: v for k, v in self.args if k not in defaults or defaults[k] != v}
        return call_repr(self.name, **shown)

    def arg(self, key: str) -> Any:
        """The value of argument ``key`` as the user passed it (or its default)."""
        return dict(self.args)[key]


def secret_env_var(name: str) -> str:
    """The environment variable that holds mask secret ``name``."""
    return "STREAMAPP_MASK_SECRET" if name == "default" else f"STREAMAPP_MASK_SECRET_{name.upper()}"


def key_id(key: bytes) -> str:
    """A key's id: 12 hex digits of SHA-256 over a domain tag and the key. Equal keys have
    equal ids and a rotated key a new one; the id is safe to print (it is not a mask output:
    the domain tag keeps it apart from every HMAC streamapp computes)."""
    return hashlib.sha256(_KEY_ID_DOMAIN + key).hexdigest()[:12]


def hmac_sha256_hex(key: bytes) -> Callable[[bytes], str]:
    """HMAC-SHA-256 (RFC 2104) with ``key`` pre-absorbed, returning hex; equal to ``hmac``'s."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def digest(message: bytes) -> str:
        i = inner.copy()
        i.update(message)
        o = outer.copy()
        o.update(i.digest())
        return o.hexdigest()

    return digest


def _as_bytes(value: Any) -> bytes:
    if type(value) is str:
        return value.encode()
    if isinstance(value, bytes):
        return value
    return str(value).encode()


def _keep(n: int, *, first: bool) -> Callable[[str], str]:
    def keep(value: str) -> str:
        kept = min(n, len(value) // 2)
        hidden = len(value) - kept
        if first:
            return value[:kept] + "*" * hidden
        return "*" * hidden + value[hidden:]

    return keep


def _email_keep_domain(value: str) -> str:
    local, at, domain = value.rpartition("@")
    return f"***@{domain}" if at and local and domain else "***"


def _error(where: str, column: str, ftype: FieldType) -> Callable[[Any, Exception], Exception]:
    def error(value: Any, exc: Exception) -> Exception:
        return TransformError(
            f"{where}: column {column!r} holds a {type(value).__name__}, which is not a "
            f"{ftype} value; check the column's declared source type",
            field=column,
        )

    return error


@dataclass(frozen=True, slots=True)
class Mask:
    """Mask one column with a :class:`MaskFunction` (see the module docstring)."""

    column: str
    function: MaskFunction

    def describe(self) -> str:
        return f"mask({self.column!r}, {self.function.describe()})"

    def compile(self, chain: Chain) -> None:
        where = self.describe()
        col = chain.lookup(where, self.column)
        built = self._build(chain, where, col.type if col else None)
        if col is None or built is None:
            return
        func, out_type = built
        if func is None:  # null_out
            var = chain.new_var()
            expr = f"{col.var} if {col.var} is None or {col.var} is {U} else None"
            chain.emit([var], [f"{var} = {expr}"], [col.var])
        else:
            var = chain.apply(
                func,
                col.var,
                catch=(TypeError, ValueError, AttributeError),
                error=_error(where, self.column, col.type),
                hint="mask",
            )
        col.var, col.type = var, out_type
        if not self.function.key_safe:
            col.key_unsafe = where

    def _build(
        self, chain: Chain, where: str, ftype: FieldType | None
    ) -> tuple[Callable[[Any], Any] | None, FieldType] | None:
        fn = self.function
        if fn.name == "redact":
            replacement = fn.arg("replacement")
            if not isinstance(replacement, str):
                chain.problem(where, "the replacement must be a string")
                return None
            return (lambda _value: replacement), STRING
        if fn.name == "null_out":
            return None, ftype or STRING
        if fn.name in ("hmac_sha256", "tokenize"):
            return self._keyed(chain, where, ftype)
        if ftype is not None and ftype.kind is not Kind.STRING:
            chain.problem(
                where, f"{fn.name} masks strings, {self.column!r} is {ftype}; cast it first"
            )
            return None
        if fn.name == "email_keep_domain":
            return _email_keep_domain, STRING
        n = fn.arg("n")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            chain.problem(where, "n must be a whole number >= 0")
            return None
        return _keep(n, first=fn.name == "keep_first"), STRING

    def _keyed(
        self, chain: Chain, where: str, ftype: FieldType | None
    ) -> tuple[Callable[[Any], Any], FieldType] | None:
        fn = self.function
        name = fn.arg("secret")
        if not isinstance(name, str) or _SECRET_NAME.fullmatch(name) is None:
            chain.problem(where, "a secret name is lower-case letters, digits and _")
            return None
        key = chain.secrets.get(name)
        if key is None:
            chain.problem(where, f"mask secret {name!r} missing: set {secret_env_var(name)}")
            return None
        if len(key) < MIN_SECRET_BYTES:
            chain.problem(
                where,
                f"mask secret {name!r} is shorter than {MIN_SECRET_BYTES} bytes; set "
                f"{secret_env_var(name)} to at least {MIN_SECRET_BYTES} random bytes",
            )
            return None
        if ftype is not None and ftype.kind not in _HASHABLE:
            chain.problem(
                where,
                f"{fn.name} masks strings, ints, UUIDs and bytes, {self.column!r} is "
                f"{ftype}; cast it to string first",
            )
            return None
        mac = hmac_sha256_hex(key)
        if fn.name == "hmac_sha256":
            return (lambda value: mac(_as_bytes(value))), STRING
        prefix = fn.arg("prefix")
        if not isinstance(prefix, str):
            chain.problem(where, "the prefix must be a string")
            return None
        return (lambda value: prefix + mac(_TOKEN_DOMAIN + _as_bytes(value))[:32]), STRING
