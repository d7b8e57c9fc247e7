"""Per customer: orders, money spent and the last order, kept incrementally with retractions."""

from __future__ import annotations

from typing import Any

from streamapp.topology import Aggregate, Sink, agg


def not_refunded(row: dict[str, Any]) -> bool:
    """Refunds are not spending."""
    return bool(row["status"] != "refunded")


topology = Aggregate(
    name="customer_order_stats",
    table="orders_enriched",
    group_by="customer_id",
    columns={
        "order_count": agg.count(),
        "total_spent": agg.sum("total"),
        "last_order_at": agg.max("placed_at"),
    },
    where=not_refunded,
    sinks=[
        Sink.clickhouse("customer_order_stats"),
        Sink.postgres("customer_order_stats"),
        Sink.redis("customer_stats:{customer_id}"),
    ],
)
