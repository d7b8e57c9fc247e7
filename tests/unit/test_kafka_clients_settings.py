"""Every Kafka client streamapp creates is configured from the Settings its caller passes, never
from the process environment (a caller with its own Settings once got the env's security)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from streamapp.settings import Settings

SECRET = "S3ntinel-env-password"


class Refused(Exception):
    """Raised by a recorded client's first call: the test only wants its configuration."""


class Recorder:
    """Stands in for a confluent-kafka client class: records the config it was built with."""

    confs: list[dict[str, Any]]

    def __init__(self, conf: dict[str, Any]) -> None:
        type(self).confs.append(conf)

    def __getattr__(self, name: str) -> Any:
        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise Refused(name)

        return refuse


def _kafka(s: Settings) -> None:
    from streamapp.ops.kafka import Kafka

    kafka = Kafka(s)
    assert kafka.consumer is not None  # the lazily created metadata consumer too


def _reader(s: Settings) -> None:
    from streamapp.ops.reader import RangeReader

    RangeReader(s, {("t", 0): (0, 1)})


def _producer(s: Settings) -> None:
    from streamapp.producer import BatchProducer

    BatchProducer(s)


def _dlq_topics(s: Settings) -> None:
    from streamapp.dlq.topics import ensure_dlq_topics

    ensure_dlq_topics(s, ["t.dlq"])


def _preflight(s: Settings) -> None:
    from streamapp.kafkaconf import preflight

    preflight(s, group="g")


CLIENTS: dict[str, tuple[Callable[[Settings], None], list[str]]] = {
    "ops Kafka": (_kafka, ["streamapp.ops.kafka.AdminClient", "streamapp.ops.kafka.Consumer"]),
    "RangeReader": (_reader, ["streamapp.ops.reader.Consumer"]),
    "BatchProducer": (_producer, ["streamapp.producer.Producer"]),
    "DLQ topics": (_dlq_topics, ["streamapp.dlq.topics.AdminClient"]),
    "worker pre-flight": (_preflight, ["confluent_kafka.admin.AdminClient"]),
}


@pytest.mark.parametrize("client", sorted(CLIENTS))
def test_client_takes_the_callers_settings_not_the_environment(
    client: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMAPP_KAFKA_BOOTSTRAP", "env-broker:9094")
    monkeypatch.setenv("STREAMAPP_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("STREAMAPP_KAFKA_SASL_USERNAME", "env-user")
    monkeypatch.setenv("STREAMAPP_KAFKA_SASL_PASSWORD", SECRET)
    own = Settings.from_env({"STREAMAPP_KAFKA_BOOTSTRAP": "own-broker:9092"})
    make, targets = CLIENTS[client]
    recorder = type("Rec", (Recorder,), {"confs": []})
    for target in targets:
        monkeypatch.setattr(target, recorder)
    with contextlib.suppress(Refused):
        make(own)
    assert recorder.confs, f"{client} built no client"
    for conf in recorder.confs:
        assert conf["bootstrap.servers"] == "own-broker:9092"
        assert conf["security.protocol"] == "PLAINTEXT"
        assert "sasl.username" not in conf and SECRET not in repr(conf)
