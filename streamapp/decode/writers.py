"""Writer schemas by wire-format header: compiled plans, negative caching and prefetching."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from streamapp.decode.avro import AvroPlan, SchemaResolver, compile_plan
from streamapp.errors import DecodeError, RegistryError, UnusableSchemaError
from streamapp.wire import HEADER_SIZE, unframe

UNKNOWN_TTL: Final = 60.0
"""Seconds a schema id the resolver does not know is remembered before it is asked again
(the same span as ``streamapp.registry.NEGATIVE_TTL``)."""


class WriterPlans:
    """One compiled AvroPlan per writer schema id, and what to say for ids that have none.

    Guarantees: ``plan`` asks the resolver at most once per id that resolves or whose schema is
    unusable (UnusableSchemaError, or a schema no reader can be compiled for): both are cached
    for the process, the latter as a DecodeError raised for every record that carries the id.
    An id the resolver does not know (a LookupError, e.g. the registry's 404) is a DecodeError
    too, remembered ``ttl`` seconds. A RegistryError (registry down: RegistryUnavailableError
    is ``retriable``) propagates and caches nothing: it is no property of the record.

    ``prefetch`` resolves every id of a batch that is not cached (or whose negative entry
    expired) in one worker thread, off the event loop. After the first ``prefetch``, ``plan``
    never asks the resolver about an id it has cached, even when the negative entry expired
    meanwhile (only ``prefetch`` renews those), so decoding prefetched records makes no network
    call; ids it never saw are still resolved on demand.
    """

    def __init__(
        self,
        resolver: SchemaResolver | None,
        *,
        lazy_before: bool,
        ttl: float = UNKNOWN_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._lazy_before = lazy_before
        self._ttl = ttl
        self._clock = clock
        # by header (magic byte + schema id); str: why records with that header cannot be read
        self._plans: dict[bytes, AvroPlan | str] = {}
        self._unknown: dict[bytes, tuple[float, str]] = {}  # header -> (expiry, why)
        self._prefetched = False

    def plan(self, data: bytes) -> AvroPlan:
        """The compiled plan for a wire-format message; DecodeError when it has none."""
        plan = self._plans.get(data[:HEADER_SIZE])
        if plan is None:
            plan = self._resolve(data)
        if isinstance(plan, str):
            raise DecodeError(plan)
        return plan

    async def prefetch(self, records: Sequence[Any]) -> None:
        """Resolve the writer schemas of ``records`` (keys and values) that are not cached,
        with one ``asyncio.to_thread`` call for all of them.

        Raises the first RegistryError (e.g. RegistryUnavailableError: retry the batch) after
        caching what was resolved before it; unknown and unusable ids are cached and become
        DecodeErrors of their records.
        """
        self._prefetched = True
        if self._resolver is None:
            return
        wanted = self._uncached(r.value for r in records) | self._uncached(r.key for r in records)
        if not wanted:
            return
        found, failure = await asyncio.to_thread(self._lookup_all, sorted(wanted))
        for header, outcome in found.items():
            self._settle(header, outcome)
        if failure is not None:
            raise failure

    def _uncached(self, data: Iterable[bytes | None]) -> set[bytes]:
        headers = {d[:HEADER_SIZE] for d in data if d}
        plans, unknown, now = self._plans, self._unknown, self._clock()
        return {
            h
            for h in headers
            if h[0] == 0
            and len(h) == HEADER_SIZE
            and h not in plans
            and (h not in unknown or unknown[h][0] <= now)
        }

    def _lookup_all(self, headers: list[bytes]) -> tuple[dict[bytes, Any], RegistryError | None]:
        """(runs in a worker thread) header -> parsed schema or the exception saying why not;
        stops at the first RegistryError, returned second."""
        assert self._resolver is not None
        found: dict[bytes, Any] = {}
        for header in headers:
            try:
                found[header] = self._resolver.parsed_schema(int.from_bytes(header[1:], "big"))
            except (LookupError, UnusableSchemaError) as exc:
                found[header] = exc
            except RegistryError as exc:
                return found, exc
            except Exception as exc:  # noqa: BLE001 - reported per record, asked again later
                found[header] = exc
        return found, None

    def _resolve(self, data: bytes) -> AvroPlan | str:
        """Resolve on demand (the records were not prefetched)."""
        header = data[:HEADER_SIZE]
        schema_id, _ = unframe(data)
        unknown = self._unknown.get(header)
        if unknown is not None and (self._prefetched or unknown[0] > self._clock()):
            return unknown[1]
        if self._resolver is None:
            raise DecodeError(
                f"message is Avro (schema id {schema_id}) but the decoder has no schema "
                "resolver; configure the schema registry"
            )
        try:
            found = self._resolver.parsed_schema(schema_id)
        except (LookupError, UnusableSchemaError) as exc:
            found = exc
        return self._settle(header, found)

    def _settle(self, header: bytes, found: Any) -> AvroPlan | str:
        """Cache what ``found`` (a parsed schema or an exception) means for ``header``."""
        schema_id = int.from_bytes(header[1:], "big")
        if isinstance(found, Exception) and not isinstance(found, UnusableSchemaError):
            if isinstance(found, LookupError):
                why = (
                    f"schema id {schema_id} is unknown to the schema registry; "
                    "is the consumer pointed at the producer's registry?"
                )
            else:
                why = (
                    f"schema id {schema_id} could not be resolved (unexpected "
                    f"{type(found).__name__}); report it to the streamapp maintainers"
                )
            self._unknown[header] = (self._clock() + self._ttl, why)
            return why
        if isinstance(found, UnusableSchemaError):
            plan: AvroPlan | str = f"writer schema id {schema_id} cannot be used: {found}"
        else:
            try:
                plan = compile_plan(schema_id, found, lazy_before=self._lazy_before)
            except DecodeError as exc:
                plan = f"writer schema id {schema_id} cannot be read: {exc}"
        self._plans[header] = plan
        self._unknown.pop(header, None)
        return plan
