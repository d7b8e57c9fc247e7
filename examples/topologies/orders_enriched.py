"""Orders enriched with their customer (as_of="current"): a customer's change reaches its orders."""

from __future__ import annotations

from typing import Any

from streamapp.topology import ChangeEvent, Output, Sink, Source, Topology, t


def not_a_test_order(event: ChangeEvent) -> bool:
    """Drop orders the shop marks as tests (as topologies/orders.py does)."""
    row = event.after if event.after is not None else event.before
    return not (row is not None and row.get("status") == "test")


def is_refund(row: dict[str, Any]) -> bool | None:
    """Refunds are orders with a negative total."""
    total = row["total"]
    return None if total is None else bool(total < 0)


topology = Topology(
    name="orders_enriched",
    source=Source(
        topic="shop.public.orders",
        columns={
            "id": "int",
            "customer_id": "int",
            "status": "string",
            "total": "decimal(12,2)",
            "currency": "string",
            "placed_at": "timestamptz",
        },
    ),
    key=["id"],
    transforms=[
        t.filter_ops("c", "u", "d", "r"),
        t.filter(not_a_test_order),
        t.derive("is_refund", is_refund, type="bool"),
        # the customers topology's output rows: email is masked there, so only its domain is
        # here; a customer's rename, VIP change, re-key or delete re-emits their orders
        t.lookup(
            "customers",
            on="customer_id",
            columns={
                "name": "customer_name",
                "email_domain": "customer_email_domain",
                "vip": "customer_vip",
            },
            as_of="current",
        ),
        t.metadata("__op", "__source_ts_ms", "__lsn"),
    ],
    output=Output(topic="warehouse.orders_enriched"),
    sinks=[
        Sink.clickhouse("orders_enriched"),
        Sink.postgres("orders_enriched"),
        Sink.redis("order_enriched:{id}"),
    ],
)
