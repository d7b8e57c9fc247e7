"""The example topologies (customers, orders) compile against their .avsc and behave end to end."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from transform_fixtures import REPO, SCHEMAS, SECRETS, event

from streamapp.encode.avro import RecordEncoder
from streamapp.encode.schema import schema_problems
from streamapp.errors import TopologyError
from streamapp.records import UNCHANGED, OutputRecord
from streamapp.transform.compile import CompiledTopology
from streamapp.transform.loader import load_topologies
from streamapp.transform.mask import hmac_sha256_hex

CUSTOMER = {
    "id": 42,
    "email": "Alice.Smith@Example.com",
    "full_name": "Alice Smith",
    "phone": "+49 151 1234 5678",
    "ssn": "123-45-6789",
    "birth_date": date(1990, 5, 17),
    "credit_limit": Decimal("2500.00"),
    "vip": True,
    "address": {"street": "Main St 1", "city": "Berlin", "geo": {"lat": 52.52, "lon": 13.4}},
    "created_at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    "updated_at": datetime(2024, 1, 2, 3, 4, 5),
    "notes": "prefers e-mail",
}
ORDER = {
    "id": 7,
    "customer_id": 42,
    "status": "refunded",
    "total": Decimal("-19.99"),
    "currency": "EUR",
    "items": [
        {"sku": "SKU-1", "qty": 1, "unit_price": "9.99"},
        {"sku": "SKU-2", "qty": 2, "unit_price": 5, "gift_wrap": True},
        {"sku": "SKU-3", "qty": 1, "unit_price": 0.5},
        {"sku": "SKU-4", "qty": 1, "unit_price": "1.00"},
    ],
    "shipping": {
        "method": "dhl",
        "address": {
            "line1": "Main St 1",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "instructions": "leave at the door",
    },
    "placed_at": datetime(2024, 3, 1, 12, 0, tzinfo=UTC),
    "notes": UNCHANGED,
}


@pytest.fixture(scope="module")
def examples() -> dict[str, CompiledTopology]:
    loaded = load_topologies(REPO / "topologies", secrets=SECRETS, schemas_dir=SCHEMAS)
    return {c.name: c for c in loaded}


def test_both_examples_compile_against_their_schemas(examples: dict[str, CompiledTopology]) -> None:
    assert sorted(examples) == ["customers", "orders"]
    for name, top in examples.items():
        declared = json.loads((SCHEMAS / f"{name}.avsc").read_text())
        assert top.output_avro_schema == declared
        assert schema_problems(declared, top.output_columns, key_columns=top.key_columns) == []
        assert top.dlq_topic == f"shop.public.{name}.dlq"


def test_customers_masks_and_flattens(examples: dict[str, CompiledTopology]) -> None:
    (out,) = examples["customers"].process(event("c", after=dict(CUSTOMER)))
    v = out.value
    assert out.key == (42,)
    assert "notes" not in v and "full_name" not in v and v["name"] == "Alice Smith"
    assert v["email"] == "***@Example.com" and v["email_domain"] == "example.com"
    assert v["phone"] == "*************5678"
    assert v["ssn"] == hmac_sha256_hex(SECRETS["default"])(b"123-45-6789")
    assert v["vip"] == 1
    assert (v["address_city"], v["address_geo_lat"]) == ("Berlin", 52.52)
    assert v["__op"] == "c" and v["__lsn"] == 24_023_128
    for clear in ("Alice.Smith", "123-45-6789", "151 1234"):
        assert clear not in json.dumps(v, default=str)


def test_customers_needs_its_mask_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    with pytest.raises(TopologyError) as info:
        load_topologies(REPO / "topologies" / "customers.py", secrets={}, schemas_dir=SCHEMAS)
    assert info.value.problems == [
        "topologies/customers.py: mask('ssn', hmac_sha256()): mask secret 'default' missing: "
        "set STREAMAPP_MASK_SECRET"
    ]


def test_orders_flattens_json_and_keeps_the_rest(examples: dict[str, CompiledTopology]) -> None:
    (out,) = examples["orders"].process(event("u", after=dict(ORDER)))
    v = out.value
    assert v["total"] == Decimal("-19.99") and v["is_refund"] is True and v["item_count"] == 4
    assert [v[f"items_{i}_unit_price"] for i in range(3)] == [
        Decimal("9.99"),
        Decimal("5.00"),
        Decimal("0.50"),
    ]
    assert v["items__rest"] == {
        "1": {"gift_wrap": True},
        "3": {"sku": "SKU-4", "qty": 1, "unit_price": "1.00"},
    }
    assert v["shipping_address_postal_code"] == "10115"
    assert v["shipping__rest"] == {"instructions": "leave at the door"}
    assert v["notes"] is UNCHANGED and out.unchanged == frozenset({"notes"})


def test_orders_toasted_items_stay_unchanged(examples: dict[str, CompiledTopology]) -> None:
    (out,) = examples["orders"].process(event("u", after={**ORDER, "items": UNCHANGED}))
    assert out.value["item_count"] is UNCHANGED
    assert {"items_0_sku", "items__rest", "item_count", "notes"} <= out.unchanged


def test_orders_filters_test_orders(examples: dict[str, CompiledTopology]) -> None:
    assert examples["orders"].process(event("c", after={**ORDER, "status": "test"})) == []
    (gone,) = examples["orders"].process(event("d", key={"id": 7}))
    assert gone.deleted and gone.value == {"id": 7}


@pytest.mark.parametrize(
    ("name", "row"),
    [("customers", CUSTOMER), ("orders", ORDER), ("orders", {"id": 1, "items": None})],
)
def test_example_records_encode_against_their_schema(
    examples: dict[str, CompiledTopology], name: str, row: dict[str, Any]
) -> None:
    top = examples[name]
    encoder = RecordEncoder(top.output_avro_schema, None, value_schema_id=1, key_schema_id=None)
    (out,) = top.process(event("u", after=dict(row)))
    assert isinstance(out, OutputRecord)
    decoded = encoder.decode_value(encoder.encode_value(out) or b"")
    for column, value in out.value.items():
        if column.endswith("__rest") and value is not None:
            assert decoded[column] == value
        elif value is not UNCHANGED:
            assert decoded[column] == value, column
