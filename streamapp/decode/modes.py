"""Debezium handling modes: how the connector wrote values, declared per source, checked live."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Final

# Debezium property -> (allowed values, the PostgreSQL connector's default, the field below).
# The values are Debezium 3.0's (io.debezium.jdbc.TemporalPrecisionMode and the connectors'
# config definitions); a connector that has no such property ignores it.
PROPERTIES: Final[dict[str, tuple[tuple[str, ...], str, str]]] = {
    "decimal.handling.mode": (("precise", "double", "string"), "precise", "decimal"),
    "time.precision.mode": (
        (
            "adaptive",
            "adaptive_time_microseconds",
            "connect",
            "isostring",
            "microseconds",
            "nanoseconds",
        ),
        "adaptive",
        "time_precision",
    ),
    "binary.handling.mode": (("bytes", "base64", "base64-url-safe", "hex"), "bytes", "binary"),
    "interval.handling.mode": (("numeric", "string"), "numeric", "interval"),
    "hstore.handling.mode": (("json", "map"), "json", "hstore"),
    "bigint.unsigned.handling.mode": (("long", "precise"), "long", "bigint_unsigned"),
}
# Where a connector's own default differs from the PostgreSQL connector's.
CONNECTOR_DEFAULTS: Final[dict[str, dict[str, str]]] = {
    "io.debezium.connector.mysql.MySqlConnector": {
        "time.precision.mode": "adaptive_time_microseconds"
    },
    "io.debezium.connector.mariadb.MariaDbConnector": {
        "time.precision.mode": "adaptive_time_microseconds"
    },
}
# Properties each connector class has (others are not compared with a running connector).
_POSTGRES = "io.debezium.connector.postgresql.PostgresConnector"
CONNECTOR_PROPERTIES: Final[dict[str, frozenset[str]]] = {
    _POSTGRES: frozenset(PROPERTIES) - {"bigint.unsigned.handling.mode"},
    "io.debezium.connector.mysql.MySqlConnector": frozenset(
        {
            "decimal.handling.mode",
            "time.precision.mode",
            "binary.handling.mode",
            "bigint.unsigned.handling.mode",
        }
    ),
    "io.debezium.connector.mongodb.MongoDbConnector": frozenset(),
}
CONNECTOR_PROPERTIES["io.debezium.connector.mariadb.MariaDbConnector"] = CONNECTOR_PROPERTIES[
    "io.debezium.connector.mysql.MySqlConnector"
]


@dataclass(frozen=True, slots=True)
class HandlingModes:
    """The handling modes one source's connector runs with (Debezium's defaults when omitted).

    They decide how values without a schema (schemaless JSON, MongoDB documents) are read,
    and how a value whose schema type differs from the declared column type is converted:
    ``decimal.handling.mode`` (precise: base64 unscaled bytes; double; string),
    ``time.precision.mode`` (the unit of temporal integers), ``binary.handling.mode`` (bytes as
    base64 text, URL-safe base64 or hex), ``interval.handling.mode`` (numeric: microseconds;
    string: ISO-8601), ``hstore.handling.mode`` (json text or a map) and MySQL's
    ``bigint.unsigned.handling.mode`` (long, or precise: a decimal of scale 0).
    Guarantees: every field holds one of its property's allowed values.
    """

    decimal: str = "precise"
    time_precision: str = "adaptive"
    binary: str = "bytes"
    interval: str = "numeric"
    hstore: str = "json"
    bigint_unsigned: str = "long"

    @classmethod
    def parse(cls, config: Mapping[str, str] | None) -> HandlingModes:
        """Modes from Debezium property names -> values; ValueError names each bad entry."""
        values: dict[str, str] = {}
        problems = []
        for prop, raw in (config or {}).items():
            spec = PROPERTIES.get(prop)
            if spec is None:
                problems.append(
                    f"{prop!r} is not a handling mode streamapp reads (known: "
                    f"{', '.join(PROPERTIES)})"
                )
                continue
            allowed, _, attr = spec
            value = str(raw).strip().lower()
            if value not in allowed:
                problems.append(f"{prop}={raw!r} is not one of {', '.join(allowed)}")
                continue
            values[attr] = value
        if problems:
            raise ValueError("; ".join(problems))
        return cls(**values)

    def as_config(self) -> dict[str, str]:
        """Debezium property name -> value, for every mode."""
        by_attr = {attr: prop for prop, (_, _, attr) in PROPERTIES.items()}
        return {by_attr[f.name]: getattr(self, f.name) for f in fields(self)}

    def mismatches(self, connector_class: str, config: Mapping[str, str]) -> list[str]:
        """``prop: declared X, connector runs Y`` for each mode of ``connector_class`` that
        differs from the connector's ``config`` (a property it omits has its default)."""
        props = CONNECTOR_PROPERTIES.get(connector_class, frozenset(PROPERTIES))
        defaults = CONNECTOR_DEFAULTS.get(connector_class, {})
        out = []
        for prop, declared in self.as_config().items():
            if prop not in props:
                continue
            running = config.get(prop) or defaults.get(prop) or PROPERTIES[prop][1]
            if running.strip().lower() != declared:
                out.append(f"{prop}: the topology reads {declared}, the connector writes {running}")
        return out
