"""reconcile --repair's key filters: integer runs, packing under a budget, safe literals."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.ops import OpsError
from streamapp.ops.snapshot import collection_regex, filtered_signal_data
from streamapp.ops.snapshotkeys import key_signals
from streamapp.reconcile.keyfilter import MIN_RUN, ident, literal, pack, runs

INT_KEYS = st.lists(st.integers(-(2**63), 2**63 - 1), max_size=300).map(lambda ks: sorted(set(ks)))
DENSE_KEYS = st.lists(st.integers(0, 400), max_size=300).map(lambda ks: sorted(set(ks)))
_BETWEEN = re.compile(r'"id" BETWEEN (-?\d+) AND (-?\d+)')
_IN = re.compile(r'"id" IN \(([^)]*)\)')


def _selected(filter_sql: str) -> list[int]:
    """The keys one rendered single-integer-column filter selects (a tiny evaluator)."""
    out: list[int] = []
    for low, high in _BETWEEN.findall(filter_sql):
        out += range(int(low), int(high) + 1)
    for values in _IN.findall(filter_sql):
        out += [int(v) for v in values.split(", ")]
    rest = _IN.sub("", _BETWEEN.sub("", filter_sql)).replace(" OR ", "").strip()
    assert rest == "", filter_sql  # nothing but BETWEEN and IN terms joined by OR
    return out


@given(DENSE_KEYS | INT_KEYS)
def test_runs_cover_exactly_the_keys_and_are_maximal(keys: list[int]) -> None:
    found = list(runs(keys))
    covered = [k for low, high in found for k in range(low, high + 1)]
    assert covered == keys
    for (_, high), (low, _) in itertools.pairwise(found):
        assert low > high + 1  # a gap between runs, or they would be one run


@given(DENSE_KEYS | INT_KEYS, st.integers(60, 600))
def test_packed_filters_select_exactly_the_keys_within_the_budget(
    keys: list[int], budget: int
) -> None:
    filters = list(pack(["id"], [(k,) for k in keys], lambda f: len(f) <= budget))
    selected = [k for text, _ in filters for k in _selected(text)]
    assert sorted(selected) == keys  # every key once: no gaps, no overlaps
    assert sum(n for _, n in filters) == len(keys)
    assert all(len(text) <= budget for text, _ in filters)


def test_runs_of_three_or_more_become_between() -> None:
    keys = [(k,) for k in [1, 2, 3, 4, 7, 9, 10, 20, 21, 22]]
    [(text, count)] = pack(["id"], keys, lambda f: True)
    assert MIN_RUN == 3
    assert text == '"id" BETWEEN 1 AND 4 OR "id" BETWEEN 20 AND 22 OR "id" IN (7, 9, 10)'
    assert count == 10


def test_composite_keys_are_tuple_in_lists_in_chunks() -> None:
    keys = [(1, "a"), (1, "b'c"), (2, "x")]
    filters = list(pack(["tenant", "sku"], keys, lambda f: len(f) <= 45))
    assert [n for _, n in filters] == [2, 1]
    assert filters[0][0] == "(\"tenant\", \"sku\") IN ((1, 'a'), (1, 'b''c'))"


def test_a_key_too_long_for_any_signal_is_refused() -> None:
    with pytest.raises(OpsError, match="does not fit"):
        list(pack(["id"], [("x" * 500,)], lambda f: len(f) <= 100))


@given(st.text())
def test_text_literals_are_quoted_with_doubled_quotes(text: str) -> None:
    if "\x00" in text:
        with pytest.raises(OpsError, match="NUL"):
            literal(text)
        return
    lit = literal(text)
    assert lit[0] == lit[-1] == "'"
    inner = lit[1:-1]
    assert "'" not in inner.replace("''", "")  # no quote left alone to end the literal
    assert inner.replace("''", "'") == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (42, "42"),
        (-7, "-7"),
        (True, "true"),
        (Decimal("12.50"), "12.50"),
        (UUID(int=1), "'00000000-0000-0000-0000-000000000001'"),
        (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "'2025-01-02T03:04:05+00:00'"),
        (b"\x00'", "'\\x0027'::bytea"),
    ],
)
def test_literals_of_other_kinds(value: object, text: str) -> None:
    assert literal(value) == text


def test_values_without_a_safe_form_are_refused_without_showing_them() -> None:
    for bad in (float("nan"), Decimal("Infinity"), ["secret"], {"secret": 1}):
        with pytest.raises(OpsError) as err:
            literal(bad)
        assert "secret" not in str(err.value)


def test_identifiers_are_quoted() -> None:
    assert ident('we"ird') == '"we""ird"'
    assert ident("id") == '"id"'


def test_signal_data_names_the_table_and_its_filter() -> None:
    data = json.loads(filtered_signal_data("public.orders", '"id" IN (1, 2)'))
    assert data == {
        "data-collections": ["public.orders"],
        "type": "incremental",
        "additional-conditions": [
            {"data-collection": "public\\.orders", "filter": '"id" IN (1, 2)'}
        ],
    }
    assert re.fullmatch(collection_regex("a.b$c"), "a.b$c")
    assert not re.fullmatch(collection_regex("a.b"), "axb")


@given(DENSE_KEYS, st.integers(300, 2048))
def test_key_signals_fit_the_data_column(keys: list[int], chars: int) -> None:
    signals = list(key_signals("s.t", ["id"], [(k,) for k in keys], chars))
    assert all(len(s.data) <= chars for s in signals)
    assert sorted(k for s in signals for k in _selected(s.filter)) == keys
