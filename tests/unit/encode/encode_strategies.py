"""Hypothesis strategies for output column types and the Python values of each kind."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from streamapp.types import FieldType, Kind

NAMES = st.text(string.ascii_lowercase + "_", min_size=1, max_size=8).filter(
    lambda n: not n.startswith("__")
)
SCALARS = [k for k in Kind if k not in (Kind.RECORD, Kind.ARRAY, Kind.MAP)]


@st.composite
def _decimal_type(draw: st.DrawFn) -> FieldType:
    precision = draw(st.integers(1, 38))
    return FieldType(Kind.DECIMAL, precision=precision, scale=draw(st.integers(0, precision)))


def _scalar_type() -> st.SearchStrategy[FieldType]:
    plain = st.sampled_from([FieldType(k) for k in SCALARS if k is not Kind.DECIMAL])
    return plain | _decimal_type()


def field_types() -> st.SearchStrategy[FieldType]:
    """Scalar types, and records, arrays and maps of them nested up to three levels."""
    return st.recursive(
        _scalar_type(),
        lambda inner: (
            st.builds(lambda t: FieldType(Kind.ARRAY, items=t), inner)
            | st.builds(lambda t: FieldType(Kind.MAP, items=t), inner)
            | st.dictionaries(NAMES, inner, min_size=1, max_size=3).map(
                lambda d: FieldType(Kind.RECORD, fields=tuple(d.items()))
            )
        ),
        max_leaves=4,
    )


def columns(max_size: int = 6) -> st.SearchStrategy[dict[str, FieldType]]:
    """An ordered set of output columns with valid Avro names."""
    return st.dictionaries(NAMES, field_types(), min_size=1, max_size=max_size)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)
_ZONES = st.just(UTC) | st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-14), max_value=timedelta(hours=14))
)


def _decimals(precision: int, scale: int) -> st.SearchStrategy[Decimal]:
    # Bounds built from digit tuples: arithmetic would round to the 28-digit default context.
    top, bottom = (Decimal((sign, (9,) * precision, -scale)) for sign in (0, 1))
    return st.decimals(
        min_value=bottom, max_value=top, places=scale, allow_nan=False, allow_infinity=False
    )


def values(ft: FieldType, *, nullable: bool = True) -> st.SearchStrategy[Any]:
    """A value of ``ft`` as ``streamapp.types`` represents it (None too when ``nullable``)."""
    strategy = _values(ft)
    return (st.none() | strategy) if nullable else strategy


def _values(ft: FieldType) -> st.SearchStrategy[Any]:
    k = ft.kind
    if k is Kind.DECIMAL:
        assert ft.precision is not None and ft.scale is not None
        return _decimals(ft.precision, ft.scale)
    if k is Kind.RECORD:
        return st.fixed_dictionaries({n: values(t) for n, t in ft.fields})
    if k in (Kind.ARRAY, Kind.MAP):
        assert ft.items is not None
        if k is Kind.ARRAY:
            return st.lists(values(ft.items), max_size=3)
        return st.dictionaries(st.text(max_size=4), values(ft.items), max_size=3)
    return _SCALAR_VALUES[k]


_SCALAR_VALUES: dict[Kind, st.SearchStrategy[Any]] = {
    Kind.STRING: st.text(),
    Kind.INT: st.integers(-(2**63), 2**63 - 1),
    Kind.FLOAT: st.floats(allow_nan=False),
    Kind.BOOL: st.booleans(),
    Kind.DATE: st.dates(),
    Kind.TIME: st.times(),
    Kind.TIMESTAMP: st.datetimes(),
    Kind.TIMESTAMPTZ: st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=_ZONES
    ),
    Kind.DURATION: st.timedeltas(
        min_value=timedelta(days=-100_000), max_value=timedelta(days=100_000)
    ),
    Kind.BYTES: st.binary(),
    Kind.UUID: st.uuids(),
    Kind.JSON: JSON_VALUES,
}
