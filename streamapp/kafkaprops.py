"""STREAMAPP_KAFKA_PROPERTIES: librdkafka pass-through properties and their Faust equivalents.

The properties go as they are to every confluent-kafka client (producer, admin, ops commands).
The worker's consumer is aiokafka under Faust: :func:`worker_consumer_conf` maps the properties
that have a Faust setting (``client.id`` -> ``broker_client_id``, ``request.timeout.ms`` ->
``broker_request_timeout``, ...) and names the ones it cannot take, for one warning line at
start-up. A property that has a STREAMAPP_* setting of its own is refused, so no knob has two
places that could disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from streamapp.errors import ConfigError
from streamapp.propertylist import pairs

# librdkafka properties that have a STREAMAPP_* setting of their own
DEDICATED: Final = {
    "bootstrap.servers": "STREAMAPP_KAFKA_BOOTSTRAP",
    "security.protocol": "STREAMAPP_KAFKA_SECURITY_PROTOCOL",
    "sasl.mechanism": "STREAMAPP_KAFKA_SASL_MECHANISM",
    "sasl.mechanisms": "STREAMAPP_KAFKA_SASL_MECHANISM",
    "sasl.username": "STREAMAPP_KAFKA_SASL_USERNAME",
    "sasl.password": "STREAMAPP_KAFKA_SASL_PASSWORD",
    "ssl.ca.location": "STREAMAPP_KAFKA_SSL_CA_FILE",
    "ssl.certificate.location": "STREAMAPP_KAFKA_SSL_CERT_FILE",
    "ssl.key.location": "STREAMAPP_KAFKA_SSL_KEY_FILE",
    "ssl.key.password": "STREAMAPP_KAFKA_SSL_KEY_PASSWORD",
    "ssl.endpoint.identification.algorithm": "STREAMAPP_KAFKA_SSL_CHECK_HOSTNAME",
    # the worker's group: the ops commands' own consumers must keep their group ids
    "group.id": "STREAMAPP_GROUP_ID",
    "group.instance.id": "STREAMAPP_GROUP_INSTANCE_ID",
    "session.timeout.ms": "STREAMAPP_SESSION_TIMEOUT (in seconds)",
    "max.poll.interval.ms": "STREAMAPP_MAX_POLL_INTERVAL (in seconds)",
}


def _seconds(value: str) -> float:
    return int(value) / 1000.0


def _offset_reset(value: str) -> str:
    text = value.lower()
    if text in ("earliest", "smallest", "beginning"):
        return "earliest"
    if text in ("latest", "largest", "end"):
        return "latest"
    raise ValueError(value)


def _flag(value: str) -> bool:
    if value.lower() not in ("true", "false"):
        raise ValueError(value)
    return value.lower() == "true"


# librdkafka property -> (Faust setting of the worker's aiokafka consumer, value converter)
FAUST: Final[dict[str, tuple[str, Callable[[str], Any]]]] = {
    "client.id": ("broker_client_id", str),
    "request.timeout.ms": ("broker_request_timeout", _seconds),
    "heartbeat.interval.ms": ("broker_heartbeat_interval", _seconds),
    "max.partition.fetch.bytes": ("consumer_max_fetch_size", int),
    "metadata.max.age.ms": ("consumer_metadata_max_age_ms", int),
    "topic.metadata.refresh.interval.ms": ("consumer_metadata_max_age_ms", int),
    "connections.max.idle.ms": ("consumer_connections_max_idle_ms", int),
    "check.crcs": ("broker_check_crcs", _flag),
    "auto.offset.reset": ("consumer_auto_offset_reset", _offset_reset),
}
EXPECTS: Final = {"check.crcs": "true or false", "auto.offset.reset": "earliest or latest"}

# producer properties: the worker's (confluent-kafka) producer takes them, its consumer has no use
PRODUCER_ONLY: Final = frozenset(
    {
        "acks",
        "request.required.acks",
        "linger.ms",
        "queue.buffering.max.ms",
        "batch.size",
        "batch.num.messages",
        "compression.type",
        "compression.codec",
        "compression.level",
        "enable.idempotence",
        "queue.buffering.max.messages",
        "queue.buffering.max.kbytes",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "retries",
        "message.send.max.retries",
        "max.in.flight",
        "max.in.flight.requests.per.connection",
        "partitioner",
        "sticky.partitioning.linger.ms",
    }
)


def parse_properties(text: str) -> tuple[tuple[str, str], ...]:
    """``key=value`` pairs separated by commas or newlines (newlines only when the text has any,
    so values may hold commas); ConfigError for a malformed pair or a dedicated property."""
    out = []
    for key, value in pairs(text, "STREAMAPP_KAFKA_PROPERTIES", "librdkafka properties"):
        if key in DEDICATED:
            raise ConfigError(
                f"STREAMAPP_KAFKA_PROPERTIES: set {key} with {DEDICATED[key]} instead"
            )
        if key in FAUST:
            try:
                FAUST[key][1](value)
            except ValueError:  # the value is not quoted: a property's value may be a secret
                expects = EXPECTS.get(key, "a whole number")
                raise ConfigError(f"STREAMAPP_KAFKA_PROPERTIES: {key} takes {expects}") from None
        out.append((key, value))
    return tuple(out)


def worker_consumer_conf(
    properties: Sequence[tuple[str, str]],
) -> tuple[dict[str, Any], tuple[str, ...]]:
    """(Faust settings for the worker's consumer, names of the consumer properties it cannot
    take) for ``properties`` (parsed by :func:`parse_properties`); producer-only properties are
    in neither: the worker's producer takes them."""
    conf: dict[str, Any] = {}
    unsupported = []
    for key, value in properties:
        if key in FAUST:
            name, convert = FAUST[key]
            conf[name] = convert(value)
        elif key not in PRODUCER_ONLY:
            unsupported.append(key)
    return conf, tuple(unsupported)


def unsupported_warning(names: Sequence[str]) -> str:
    """The start-up warning for consumer properties the worker's consumer cannot take ('' for
    none); it names the properties, never their values."""
    if not names:
        return ""
    return (
        f"STREAMAPP_KAFKA_PROPERTIES: the worker's consumer (aiokafka under Faust) has no "
        f"equivalent of {', '.join(names)}; they apply to the output/DLQ producer and the ops "
        "commands' clients only"
    )
