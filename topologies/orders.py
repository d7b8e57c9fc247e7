"""Orders: JSONB items and shipping flattened, refunds flagged, TOASTed notes passed through."""

from __future__ import annotations

from typing import Any

from streamapp.topology import ChangeEvent, Output, Sink, Source, Topology, t


def not_a_test_order(event: ChangeEvent) -> bool:
    """Drop orders the shop marks as tests (deletes carry the before-image, if any)."""
    row = event.after if event.after is not None else event.before
    return not (row is not None and row.get("status") == "test")


def item_count(row: dict[str, Any]) -> int | None:
    """How many line items the order has (None when ``items`` is null)."""
    items = row["items"]
    return len(items) if isinstance(items, list) else None


def is_refund(row: dict[str, Any]) -> bool | None:
    """Refunds are orders with a negative total."""
    total = row["total"]
    return None if total is None else bool(total < 0)


topology = Topology(
    name="orders",
    source=Source(
        topic="shop.public.orders",
        columns={
            "id": "int",
            "customer_id": "int",
            "status": "string",  # pending | paid | shipped | cancelled | refunded | test
            "total": "decimal(12,2)",  # negative for refunds
            "currency": "string",
            "items": "json",  # [{"sku", "qty", "unit_price"}, ...]
            "shipping": "json",  # {"method", "address": {"line1", "city", ...}, ...}
            "placed_at": "timestamptz",
            "notes": "string",  # TOASTable text: may arrive as UNCHANGED on updates
        },
        # columns added at the source flow on to the output schema and the sink tables (no PII
        # here); customers keeps the default "ignore" so a new column is never carried unmasked
        new_columns="propagate",
    ),
    key=["id"],
    transforms=[
        t.filter_ops("c", "u", "d", "r"),
        t.filter(not_a_test_order),
        t.derive("item_count", item_count, type="int"),
        t.derive("is_refund", is_refund, type="bool"),
        t.flatten(
            "items",
            shape=[{"sku": "string", "qty": "int", "unit_price": "decimal(12,2)"}],
            max_items=3,
        ),
        t.flatten(
            "shipping",
            shape={
                "method": "string",
                "address": {
                    "line1": "string",
                    "city": "string",
                    "postal_code": "string",
                    "country": "string",
                },
            },
        ),
        t.metadata("__op", "__source_ts_ms", "__lsn", "__txid"),
    ],
    output=Output(topic="warehouse.orders", schema="orders.avsc"),
    sinks=[
        Sink.clickhouse("orders"),
        Sink.postgres("orders"),
        Sink.redis("order:{id}", ttl_seconds=7 * 86_400, format="hash"),
    ],
)
