"""MongoDB extended JSON, document keys and partial updates."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamapp.decode import mongo
from streamapp.errors import DecodeError
from streamapp.records import UNCHANGED
from streamapp.types import parse_type

OID = "5d505646cf6d4fe581014ab2"
EXT = [
    ("oid", {"$oid": OID}, OID),
    (
        "date-iso",
        {"$date": "2019-08-11T17:54:14.692Z"},
        datetime(2019, 8, 11, 17, 54, 14, 692_000, tzinfo=UTC),
    ),
    (
        "date-millis",
        {"$date": 1565546054692},
        datetime(2019, 8, 11, 17, 54, 14, 692_000, tzinfo=UTC),
    ),
    (
        "date-canonical",
        {"$date": {"$numberLong": "-1"}},
        datetime(1969, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC),
    ),
    (
        "decimal",
        {"$numberDecimal": "-1234567890123456789012345678901234.5"},
        Decimal("-1234567890123456789012345678901234.5"),
    ),
    ("long", {"$numberLong": "9223372036854775807"}, 9223372036854775807),
    ("int", {"$numberInt": "-5"}, -5),
    ("double", {"$numberDouble": "-Infinity"}, float("-inf")),
    ("binary", {"$binary": {"base64": "AQI=", "subType": "00"}}, b"\x01\x02"),
    ("binary-legacy", {"$binary": "AQI=", "$type": "00"}, b"\x01\x02"),
    (
        "binary-uuid",
        {"$binary": {"base64": "AAAAAAAAAAAAAAAAAAAAAQ==", "subType": "04"}},
        uuid.UUID(int=1),
    ),
    ("uuid", {"$uuid": "00000000-0000-0000-0000-000000000002"}, uuid.UUID(int=2)),
    ("timestamp", {"$timestamp": {"t": 5, "i": 1}}, {"t": 5, "i": 1}),
    (
        "regex",
        {"$regularExpression": {"pattern": "^a", "options": "i"}},
        {"pattern": "^a", "options": "i"},
    ),
    ("regex-legacy", {"$regex": "^a", "$options": "i"}, {"pattern": "^a", "options": "i"}),
    ("symbol", {"$symbol": "s"}, "s"),
    ("undefined", {"$undefined": True}, None),
    ("plain-doc", {"a": 1, "b": [1, {"c": None}]}, {"a": 1, "b": [1, {"c": None}]}),
    ("unknown-wrapper-kept", {"$minKey": 1}, {"$minKey": 1}),
]


@pytest.mark.parametrize(("doc", "expected"), [e[1:] for e in EXT], ids=[e[0] for e in EXT])
def test_extended_json(doc: Any, expected: Any) -> None:
    got = mongo.parse_document(json.dumps({"v": doc}))["v"]
    assert got == expected
    assert type(got) is type(expected)


def test_nested_document_with_arrays() -> None:
    text = json.dumps(
        {
            "_id": {"$oid": OID},
            "items": [
                {"sku": "a", "qty": {"$numberInt": "2"}, "price": {"$numberDecimal": "9.90"}}
            ],
            "address": {"city": "Oslo", "geo": {"lat": 59.9, "lon": 10.7}},
            "seen": [{"$date": 0}],
        }
    )
    doc = mongo.parse_document(text)
    assert doc == {
        "_id": OID,
        "items": [{"sku": "a", "qty": 2, "price": Decimal("9.90")}],
        "address": {"city": "Oslo", "geo": {"lat": 59.9, "lon": 10.7}},
        "seen": [datetime(1970, 1, 1, tzinfo=UTC)],
    }


@given(st.integers(-(2**63), 2**63 - 1))
def test_number_long_round_trip(n: int) -> None:
    assert mongo.parse_document(json.dumps({"$numberLong": str(n)})) == n


@pytest.mark.parametrize(
    ("key", "strict", "expected"),
    [
        ({"id": f'{{"$oid": "{OID}"}}'}, True, {"id": OID}),
        ({"id": f'{{"$oid" : "{OID}"}}'}, False, {"id": OID}),  # tombstone: $ wrappers only
        ({"id": "1004"}, True, {"id": 1004}),
        ({"id": "1004"}, False, {"id": "1004"}),  # unknown connector: may be a text PK
        ({"id": '"abc"'}, True, {"id": "abc"}),
        ({"id": "not json"}, True, {"id": "not json"}),
        ({"other": 1}, True, {"other": 1}),
        (None, True, None),
    ],
)
def test_document_key(key: Any, strict: bool, expected: Any) -> None:
    assert mongo.document_key(key, strict=strict) == expected


def test_full_document_wins_over_update_description() -> None:
    payload = {
        "op": "u",
        "after": json.dumps({"_id": {"$oid": OID}, "n": 2}),
        "updateDescription": {"updatedFields": json.dumps({"n": 2}), "removedFields": None},
    }
    before, after = mongo.rows(payload, {"id": OID}, {})
    assert before is None and after == {"_id": OID, "n": 2}


def test_update_description_becomes_partial_after() -> None:
    payload = {
        "op": "u",
        "after": None,
        "updateDescription": {
            "updatedFields": json.dumps(
                {"name": "Anne", "address.city": "Oslo", "at": {"$date": 0}}
            ),
            "removedFields": ["nick"],
            "truncatedArrays": None,
        },
    }
    _, after = mongo.rows(payload, {"id": OID}, {})
    assert after == {
        "name": "Anne",
        "address": {"city": "Oslo"},
        "at": datetime(1970, 1, 1, tzinfo=UTC),
        "nick": None,
        "_id": OID,
    }


def test_partial_after_marks_untouched_declared_fields_unchanged() -> None:
    hints = {
        "_id": parse_type("string"),
        "name": parse_type("string"),
        "email": parse_type("string"),
        "address": parse_type({"city": "string", "zip": "string"}),
        "profile": parse_type({"a": "int", "b": "int"}),
    }
    payload = {
        "op": "u",
        "updateDescription": {
            "updatedFields": json.dumps({"address.city": "Oslo", "profile": {"a": 1}}),
            "removedFields": [],
        },
    }
    _, after = mongo.rows(payload, {"id": OID}, hints)
    assert after == {
        "_id": OID,
        "name": UNCHANGED,
        "email": UNCHANGED,
        "address": {"city": "Oslo", "zip": UNCHANGED},  # only partly set: the rest is unchanged
        "profile": {"a": 1},  # set as a whole: a missing member is really absent
    }


@pytest.mark.parametrize(
    "desc",
    [
        {"updatedFields": json.dumps({"tags.1": "x"}), "removedFields": []},
        {"updatedFields": json.dumps({"a.0.b": 1}), "removedFields": []},
        {
            "updatedFields": json.dumps({}),
            "removedFields": [],
            "truncatedArrays": [{"field": "tags", "size": 1}],
        },
    ],
    ids=["element", "element-member", "truncated"],
)
def test_array_element_updates_without_full_document_are_errors(desc: dict[str, Any]) -> None:
    with pytest.raises(DecodeError, match="change_streams_update_full"):
        mongo.rows({"op": "u", "updateDescription": desc}, None, {})


def test_truncated_array_that_is_also_set_is_fine() -> None:
    desc = {
        "updatedFields": json.dumps({"tags": ["a"]}),
        "removedFields": [],
        "truncatedArrays": [{"field": "tags", "size": 1}],
    }
    _, after = mongo.rows({"op": "u", "updateDescription": desc}, None, {})
    assert after == {"tags": ["a"]}


def test_legacy_patch_set_unset_and_filter() -> None:
    payload = {
        "op": "u",
        "patch": json.dumps({"$set": {"n": {"$numberLong": "5"}}, "$unset": {"old": True}}),
        "filter": json.dumps({"_id": {"$numberLong": "1004"}}),
    }
    _, after = mongo.rows(payload, {"id": "1004"}, {})
    assert after == {"n": 5, "old": None, "_id": 1004}


def test_legacy_patch_replacement_is_the_whole_document() -> None:
    payload = {"op": "u", "patch": json.dumps({"_id": 1, "name": "x"})}
    assert mongo.rows(payload, None, {})[1] == {"_id": 1, "name": "x"}


def test_legacy_delta_patch_is_rejected() -> None:
    payload = {"op": "u", "patch": json.dumps({"$v": 2, "diff": {"u": {"a": 1}}})}
    with pytest.raises(DecodeError, match="not supported"):
        mongo.rows(payload, None, {})


def test_invalid_document_names_field_not_value() -> None:
    with pytest.raises(DecodeError) as info:
        mongo.rows({"op": "c", "after": '{"ssn": "123-45-6789"'}, None, {})
    assert info.value.field == "after" and "123-45" not in str(info.value)
