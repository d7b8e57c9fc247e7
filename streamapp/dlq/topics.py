"""Create the topologies' DLQ topics with a bounded retention before any record fails.

A DLQ record holds the original, unmasked bytes (sealed only with a DLQ key), so its topic is
created by streamapp, not by the broker's auto-creation with the cluster's default retention:
``retention.ms`` comes from STREAMAPP_DLQ_RETENTION_MS; partitions and replication are the
broker's defaults. An existing topic is left as it is, with a warning when its retention differs.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourceType,
)

from streamapp.errors import StreamappError
from streamapp.kafkaconf import kafka_conf, security_of
from streamapp.kafkaerrors import client_error

if TYPE_CHECKING:
    from streamapp.kafkaconf import KafkaSecurity
    from streamapp.settings import Settings

log = logging.getLogger("streamapp.dlq")


class DlqTopicError(StreamappError):
    """A DLQ topic could not be created or inspected."""


def _text(exc: KafkaException) -> str:
    err = exc.args[0] if exc.args else exc
    return err.str() if hasattr(err, "str") else str(err)


def ensure_dlq_topics(
    settings: Settings, topics: Sequence[str], *, timeout: float = 15.0
) -> list[str]:
    """Create the missing ``topics`` with ``retention.ms``; returns the ones created.

    Raises DlqTopicError (one line: which topic, why, what to do) when Kafka refuses.
    """
    bootstrap, retention_ms = settings.kafka_bootstrap, settings.dlq_retention_ms
    security = security_of(settings)
    admin = AdminClient(kafka_conf(settings))
    wanted = list(dict.fromkeys(topics))
    try:
        # all topics: asking for one by name auto-creates it on brokers that allow that
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        text, hint = client_error(exc, admin, security)
        hint = hint or "check STREAMAPP_KAFKA_BOOTSTRAP (`streamapp check`)"
        raise DlqTopicError(
            f"Kafka at {bootstrap}: listing topics to create the DLQ topics failed ({text}); {hint}"
        ) from None
    missing = [t for t in wanted if t not in existing]
    created = []
    if missing:
        config = {"retention.ms": retention_ms}
        futures = admin.create_topics(
            [NewTopic(t, num_partitions=-1, replication_factor=-1, config=config) for t in missing]
        )
        for topic, future in futures.items():
            try:
                future.result(timeout)
                created.append(topic)
            except KafkaException as exc:
                if exc.args and exc.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    continue  # another worker was first
                raise DlqTopicError(
                    f"creating DLQ topic {topic!r} with retention.ms={retention_ms} failed "
                    f"({_text(exc)}); create it yourself or grant {security.principal()} "
                    f"Create on it{_grant(security, topic)}"
                ) from None
        if created:
            shown = ", ".join(created)
            log.info("created DLQ topic(s) %s with retention.ms=%s", shown, retention_ms)
    _warn_on_other_retention(admin, [t for t in wanted if t in existing], retention_ms, timeout)
    return created


def _grant(security: KafkaSecurity, topic: str) -> str:
    principal = security.acl_principal()
    if not principal:
        return ""
    return (
        f" (kafka-acls --bootstrap-server <broker> --add --allow-principal '{principal}' "
        f"--operation Create --topic '{topic}')"
    )


def _warn_on_other_retention(
    admin: AdminClient, topics: Sequence[str], retention_ms: str, timeout: float
) -> None:
    if not topics:
        return
    resources = [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    for resource, future in admin.describe_configs(resources).items():
        try:
            entry = future.result(timeout).get("retention.ms")
        except KafkaException:
            continue  # only a warning: not being allowed to describe is fine
        if entry is not None and entry.value != retention_ms:
            log.warning(
                "DLQ topic %s keeps records for retention.ms=%s, not STREAMAPP_DLQ_RETENTION_MS=%s "
                "(it existed before); it holds original, unmasked bytes: align it with "
                "`kafka-configs --alter --entity-type topics --entity-name %s "
                "--add-config retention.ms=%s`",
                resource.name,
                entry.value,
                retention_ms,
                resource.name,
                retention_ms,
            )
