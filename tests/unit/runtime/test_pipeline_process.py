"""Pipeline._process: stages run over runs of records, results still come out in record order.

The decoder, topology and encoder here are plain stand-ins that fail for chosen records, so
that the order of outputs, messages and failures across stages and run boundaries is visible.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pipeline_stubs import Rec

from streamapp.decode.drift import SchemaEvolution
from streamapp.errors import (
    DecodeError,
    EncodeError,
    RegistryUnavailableError,
    StageError,
    TransformError,
)
from streamapp.pipeline import PHASE, Pipeline, Prepared
from streamapp.types import parse_type


class Decoder:
    drift = None

    def __init__(self, evolve_at: int | None = None) -> None:
        self.evolve_at = evolve_at

    def decode(self, key: Any, value: Any, *, topic: str, partition: int, offset: int) -> Any:
        if offset == self.evolve_at:
            raise SchemaEvolution({"extra": parse_type("int")}, "writer schema id 9")
        if offset % 7 == 3:
            raise DecodeError(f"bad bytes at {offset}")
        return offset


class Topology:
    name = "things"
    on_error = "dlq"

    def process(self, event: int) -> list[tuple[str, int]]:
        if event % 7 == 5:
            raise TransformError(f"cannot cast at {event}")
        if event % 10 == 0:
            return []  # filtered out
        if event % 10 == 1:
            return [("a", event), ("b", event)]  # one event, two records
        return [("a", event)]


class Encoder:
    def messages(self, out: tuple[str, int]) -> list[tuple[bytes, bytes]]:
        tag, n = out
        if n % 7 == 6 and tag == "a":
            raise EncodeError(f"out of range at {n}")
        return [(f"{tag}{n}".encode(), b"v")]


def pipeline(decoder: Decoder) -> Pipeline:
    return Pipeline(
        Topology(),  # type: ignore[arg-type]
        decoder=decoder,  # type: ignore[arg-type]
        encoder=Encoder(),  # type: ignore[arg-type]
        writers=[],
        producer=None,  # type: ignore[arg-type]
        budget=None,  # type: ignore[arg-type]
    )


def expected(offsets: range) -> tuple[list[Any], list[Any], list[tuple[int, type]]]:
    """What record-by-record processing gives: outputs, messages, (offset, error type)."""
    outputs: list[Any] = []
    messages: list[Any] = []
    failures: list[tuple[int, type]] = []
    for n in offsets:
        if n % 7 == 3:
            failures.append((n, DecodeError))
        elif n % 7 == 5:
            failures.append((n, TransformError))
        elif n % 7 == 6 and n % 10 != 0:
            failures.append((n, EncodeError))
        elif n % 10 == 1:
            outputs += [("a", n), ("b", n)]
            messages += [(f"a{n}".encode(), b"v"), (f"b{n}".encode(), b"v")]
        elif n % 10 != 0:
            outputs.append(("a", n))
            messages.append((f"a{n}".encode(), b"v"))
    return outputs, messages, failures


def records(count: int) -> list[Rec]:
    return [Rec("t", n % 3, n, b"k", b"v") for n in range(count)]


def run(p: Pipeline, recs: list[Rec]) -> tuple[int, SchemaEvolution | None, Prepared]:
    acc = Prepared({}, recs, [], [], [], [], {}, 0.0)
    done, evolution = p._process(recs, 0, len(recs), acc)
    return done, evolution, acc


@pytest.mark.parametrize("count", [1, PHASE - 1, PHASE, PHASE + 1, 3 * PHASE + 17])
def test_outputs_messages_and_failures_keep_record_order(count: int) -> None:
    recs = records(count)
    done, evolution, acc = run(pipeline(Decoder()), recs)
    outputs, messages, failures = expected(range(count))
    assert (done, evolution) == (count, None)
    assert acc.outputs == outputs
    assert acc.messages == messages
    assert [(recs[i].offset, type(exc)) for i, exc in acc.failures.items()] == failures
    assert all(isinstance(exc, StageError) for exc in acc.failures.values())
    # every output carries the position of the record it came from
    assert [recs[i].offset for i in acc.origins] == [n for _, n in outputs]


@pytest.mark.parametrize("at", [0, 1, PHASE - 1, PHASE, PHASE + 42])
def test_a_schema_evolution_stops_before_its_record(at: int) -> None:
    recs = records(2 * PHASE + 5)
    done, evolution, acc = run(pipeline(Decoder(evolve_at=at)), recs)
    assert done == at
    assert evolution is not None and set(evolution.added) == {"extra"}
    outputs, messages, failures = expected(range(at))
    assert acc.outputs == outputs
    assert acc.messages == messages
    assert [(recs[i].offset, type(exc)) for i, exc in acc.failures.items()] == failures


class FlakyRegistryDecoder(Decoder):
    """Its registry does not answer the first ``outages`` prefetches."""

    def __init__(self, outages: int) -> None:
        super().__init__()
        self.outages = outages
        self.prefetches = 0

    async def prefetch(self, records: Any) -> None:
        self.prefetches += 1
        if self.prefetches <= self.outages:
            raise RegistryUnavailableError("registry at http://r:8081 did not answer")


def test_prepare_holds_the_batch_while_the_registry_is_down_and_nothing_fails() -> None:
    decoder = FlakyRegistryDecoder(outages=3)
    p = pipeline(decoder)
    p.registry_retry_delay = 0.001
    seen: list[bool] = []

    async def run() -> Prepared:
        task = asyncio.ensure_future(p.prepare({0: records(20)}))
        while not task.done():
            seen.append(p.holding)
            await asyncio.sleep(0)
        return await task

    acc = asyncio.run(run())
    assert decoder.prefetches == 4 and True in seen and not p.holding
    outputs, _, failures = expected(range(20))
    assert acc.outputs == outputs and len(acc.failures) == len(failures)
    assert not any(isinstance(e, RegistryUnavailableError) for e in acc.failures.values())
