"""Other projects' published Debezium events decode to the values those projects state.

Each case (tests/conformance/fixtures/<project>/*.jsonl, origins in SOURCES.md) is decoded by
streamapp's Decoder exactly as a worker would decode the Kafka record, and the event is
compared with the expectation transcribed from the publishing project. Pure decoding: no
services. Cases in fixtures/pending/ wait for known decoder faults to be fixed; they are only
checked for form here (see test_pending_cases_are_well_formed).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conformance_cases import (
    FIXTURES,
    PENDING,
    REQUIRED,
    Case,
    decode,
    load,
    render,
    same,
    untag,
    view,
)

from streamapp.errors import DecodeError

CASES = load(FIXTURES)
PENDING_CASES = load(PENDING)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_public_event_decodes_as_published(case: Case) -> None:
    expect = case.data["expect"]
    if "error" in expect:
        with pytest.raises(DecodeError) as caught:
            decode(case)
        assert expect["error"] in str(caught.value), str(caught.value)
        return
    event = decode(case)
    actual = view(event, expect)
    assert same(actual, untag(expect)), (
        f"{case.name} (line {case.line}) decodes differently from what "
        f"{case.data['origin'].get('repo', case.data['origin'].get('page'))} states\n"
        f"decoded:  {json.dumps(render(actual), sort_keys=True)}\n"
        f"expected: {json.dumps(expect, sort_keys=True)}"
    )


def _check_form(cases: list[Case]) -> None:
    names = [c.name for c in cases]
    assert len(names) == len(set(names)), [n for n, k in Counter(names).items() if k > 1]
    for case in cases:
        missing = [f for f in REQUIRED if f not in case.data]
        assert not missing, f"{case.name}: missing {missing}"
        origin = case.data["origin"]
        assert all(origin.get(k) for k in ("repo", "path", "commit", "license")), case.name
        assert isinstance(case.data["expect"], dict) and case.data["expect"], case.name
        untag(case.data["expect"])  # every tag parses


def test_corpus_is_public_and_broad() -> None:
    """>= 80 events from >= 3 projects, each with its origin; the connectors and kinds the
    issue names are all represented."""
    _check_form(CASES)
    assert len(CASES) >= 80
    projects = Counter(c.project for c in CASES)
    assert len(projects) >= 3, projects
    connectors = {c.data["connector"] for c in CASES}
    assert {"postgresql", "mysql", "mongodb", "sqlserver"} <= connectors, connectors
    ops = {c.data["expect"].get("op") for c in CASES}
    kinds = {c.data["expect"].get("kind") for c in CASES}
    assert {"c", "u", "d", "r"} <= ops, ops
    assert {"data", "tombstone", "truncate", "schema_change"} <= kinds, kinds


def test_pending_cases_are_well_formed() -> None:
    """Pending cases keep the corpus format and say why they wait (they are not decoded)."""
    _check_form(PENDING_CASES)
    for case in PENDING_CASES:
        pending = case.data.get("pending")
        assert isinstance(pending, dict) and pending.get("cause"), case.name
    assert not {c.name for c in CASES} & {c.name for c in PENDING_CASES}
