"""Customers: PII masked, nested address flattened; one row per customer in every sink."""

from __future__ import annotations

from typing import Any

from streamapp.topology import Output, Sink, Source, Topology, t


def email_domain(row: dict[str, Any]) -> str | None:
    """The part after the last '@' of the (masked) e-mail, or None."""
    email = row["email"]
    if not email or "@" not in email:
        return None
    return str(email).rpartition("@")[2].lower()


topology = Topology(
    name="customers",
    source=Source(
        topic="shop.public.customers",
        columns={
            "id": "int",
            "email": "string",
            "full_name": "string",
            "phone": "string",
            "ssn": "string",
            "birth_date": "date",
            "credit_limit": "decimal(12,2)",
            "vip": "bool",
            "address": {
                "street": "string",
                "city": "string",
                "geo": {"lat": "float", "lon": "float"},
            },
            "created_at": "timestamptz",
            "updated_at": "timestamp",
            "notes": "string",
        },
    ),
    key=["id"],
    transforms=[
        t.filter_ops("c", "u", "d", "r"),
        t.drop("notes"),
        t.rename(full_name="name"),
        t.cast(vip="int"),
        t.mask("email", t.email_keep_domain()),
        t.mask("phone", t.keep_last(4)),
        t.mask("ssn", t.hmac_sha256()),  # keyed; the secret comes from STREAMAPP_MASK_SECRET
        t.flatten("address", sep="_", max_depth=3),
        t.derive("email_domain", email_domain, type="string"),
        t.metadata("__op", "__source_ts_ms", "__lsn", "__deleted"),
    ],
    output=Output(topic="warehouse.customers", schema="customers.avsc"),
    sinks=[Sink.clickhouse("customers"), Sink.postgres("customers"), Sink.redis("customer:{id}")],
    dlq=None,  # "shop.public.customers.dlq"
    on_error="dlq",
)
