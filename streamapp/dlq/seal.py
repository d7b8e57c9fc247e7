"""Seal DLQ records at rest (AES-256-GCM): the original key, value and headers.

A DLQ record keeps the original bytes so that it can be replayed, and those bytes hold the
unmasked row. With a DLQ key (STREAMAPP_DLQ_KEY) the writer seals them; whoever can read the
topic then sees only the failure context in ``__connect.errors.*``/``streamapp.errors.*`` headers
(no values, by the errors' contract). ``dlq show`` and ``dlq replay`` open the record again.

Layout of a sealed record: key and value are ``nonce (12 bytes) || ciphertext+tag`` (null stays
null); the original headers are sealed together into ``streamapp.dlq.sealed.headers``; the
associated data binds each part to its role and to the original topic, partition and offset
(a sealed value moved to another record, or swapped with its key, does not open).
"""

from __future__ import annotations

import json
import os
from base64 import b64decode, b64encode
from collections.abc import Mapping, Sequence
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from streamapp.dlq import headers as h
from streamapp.errors import StreamappError
from streamapp.transform.mask import key_id

ALGORITHM: Final = "AES-256-GCM"
PREFIX: Final = "streamapp.dlq."
SEALED: Final = PREFIX + "sealed"  # the algorithm
SEALED_KEY_ID: Final = PREFIX + "sealed.key.id"  # which key sealed it (see mask.key_id)
SEALED_HEADERS: Final = PREFIX + "sealed.headers"  # the original headers, sealed
_OURS: Final = (h.CONNECT, "streamapp.errors.", PREFIX)
_NONCE: Final = 12
_AAD: Final = b"streamapp.dlq.v1\x00"

Headers = Sequence[tuple[str, bytes]]


class SealError(StreamappError):
    """A sealed DLQ record cannot be opened (no matching key, or it was altered)."""


def sealed_key_id(headers: Headers) -> str | None:
    """The key id a DLQ record was sealed with, None when it is in clear."""
    found = dict(headers)
    if SEALED not in found:
        return None
    return found.get(SEALED_KEY_ID, b"?").decode(errors="replace")


def _aad(role: bytes, context: Mapping[str, bytes]) -> bytes:
    where = b"\x00".join(context.get(k, b"") for k in (h.TOPIC, h.PARTITION, h.OFFSET))
    return _AAD + role + b"\x00" + where


def _pack(headers: Headers) -> bytes:
    return json.dumps([[k, b64encode(v).decode()] for k, v in headers]).encode()


def _unpack(blob: bytes) -> list[tuple[str, bytes]]:
    return [(str(k), b64decode(v)) for k, v in json.loads(blob)]


class Sealer:
    """AES-256-GCM with the first of ``keys`` sealing and every key opening (rotation).

    Guarantees: ``open(*seal(k, v, hs)) == (k, v, hs)`` for headers that ``build_headers``
    made (ours after the original ones); a sealed record holds none of the original bytes in
    clear; ``open`` raises SealError (one line, no bytes) rather than return altered data.
    """

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ValueError("a Sealer needs at least one key")
        self._aeads = {key_id(k): AESGCM(k) for k in keys}
        self.key_id = key_id(keys[0])

    def seal(
        self, key: bytes | None, value: bytes | None, headers: Headers
    ) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
        """(sealed key, sealed value, our headers + the seal headers)."""
        ours = [(k, v) for k, v in headers if k.startswith(_OURS) and not k.startswith(PREFIX)]
        original = [(k, v) for k, v in headers if not k.startswith(_OURS)]
        context = dict(ours)
        aead = self._aeads[self.key_id]

        def seal(data: bytes | None, role: bytes) -> bytes | None:
            if data is None:
                return None
            nonce = os.urandom(_NONCE)
            return nonce + aead.encrypt(nonce, data, _aad(role, context))

        sealed_headers = seal(_pack(original), b"headers")
        assert sealed_headers is not None
        marks = [
            (SEALED, ALGORITHM.encode()),
            (SEALED_KEY_ID, self.key_id.encode()),
            (SEALED_HEADERS, sealed_headers),
        ]
        return seal(key, b"key"), seal(value, b"value"), ours + marks

    def can_open(self, headers: Headers) -> bool:
        """True when the record is sealed with one of this sealer's keys."""
        return sealed_key_id(headers) in self._aeads

    def open(
        self, key: bytes | None, value: bytes | None, headers: Headers
    ) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
        """(key, value, original headers + ours) of a sealed record; a clear one unchanged."""
        found = dict(headers)
        kid = sealed_key_id(headers)
        if kid is None:
            return key, value, list(headers)
        algorithm = found[SEALED].decode(errors="replace")
        aead = self._aeads.get(kid)
        if aead is None or algorithm != ALGORITHM:
            raise SealError(
                f"sealed with key id {kid} ({algorithm}), which is not among the DLQ keys "
                f"(ids {', '.join(self._aeads)}); add that key to STREAMAPP_DLQ_KEY"
            )
        ours = [(k, v) for k, v in headers if k.startswith(_OURS) and not k.startswith(PREFIX)]
        context = dict(ours)

        def unseal(data: bytes | None, role: bytes) -> bytes | None:
            if data is None:
                return None
            try:
                return aead.decrypt(data[:_NONCE], data[_NONCE:], _aad(role, context))
            except (InvalidTag, ValueError):
                raise SealError(
                    f"the sealed {role.decode()} does not open with key id {kid}: the record "
                    "was altered, or its __connect.errors.topic/partition/offset headers were"
                ) from None

        blob = unseal(found.get(SEALED_HEADERS, b""), b"headers")
        original = _unpack(blob or b"[]")
        return unseal(key, b"key"), unseal(value, b"value"), original + ours
