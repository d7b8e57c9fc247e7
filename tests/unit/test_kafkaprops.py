"""STREAMAPP_KAFKA_PROPERTIES reach the worker's Faust/aiokafka consumer (or one warning names
them), and every Kafka client takes its settings from the Settings its caller passes."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from streamapp.errors import ConfigError
from streamapp.kafkaconf import KafkaSecurity
from streamapp.kafkaprops import parse_properties, worker_consumer_conf
from streamapp.runtime.app import build_app
from streamapp.settings import Settings

SECRET = "S3ntinel-prop-Value"


def security(properties: str) -> KafkaSecurity:
    return KafkaSecurity.from_settings(
        Settings.from_env({"STREAMAPP_KAFKA_PROPERTIES": properties})
    )


@pytest.mark.parametrize(
    ("prop", "setting", "value"),
    [
        ("client.id=shop-cdc", "broker_client_id", "shop-cdc"),
        ("request.timeout.ms=120000", "broker_request_timeout", 120.0),
        ("heartbeat.interval.ms=2500", "broker_heartbeat_interval", 2.5),
        ("max.partition.fetch.bytes=4194304", "consumer_max_fetch_size", 4194304),
        ("metadata.max.age.ms=60000", "consumer_metadata_max_age_ms", 60000),
        ("topic.metadata.refresh.interval.ms=30000", "consumer_metadata_max_age_ms", 30000),
        ("connections.max.idle.ms=300000", "consumer_connections_max_idle_ms", 300000),
        ("check.crcs=false", "broker_check_crcs", False),
        ("auto.offset.reset=largest", "consumer_auto_offset_reset", "latest"),
    ],
)
def test_a_property_with_a_faust_equivalent_reaches_the_worker_consumer(
    prop: str, setting: str, value: Any
) -> None:
    conf, unsupported = worker_consumer_conf(parse_properties(prop))
    assert conf == {setting: value} and unsupported == ()
    app = build_app(
        app_id="props-unit", bootstrap="127.0.0.1:1", security=security(prop), routes=[]
    )
    assert getattr(app.conf, setting) == value


def test_properties_the_consumer_cannot_take_are_named_in_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    props = (
        "fetch.max.bytes=1048576,linger.ms=20,client.id=c,"
        f"sasl.oauthbearer.client.secret={SECRET},socket.keepalive.enable=true"
    )
    conf, unsupported = worker_consumer_conf(parse_properties(props))
    assert conf == {"broker_client_id": "c"}
    # linger.ms is the worker's producer's: no warning for it
    assert unsupported == ("fetch.max.bytes", "sasl.oauthbearer.client.secret",
                           "socket.keepalive.enable")  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="streamapp.worker"):
        build_app(app_id="props-unit", bootstrap="127.0.0.1:1", security=security(props), routes=[])
    (line,) = [r.getMessage() for r in caplog.records if "STREAMAPP_KAFKA_PROPERTIES" in r.message]
    assert "fetch.max.bytes, sasl.oauthbearer.client.secret, socket.keepalive.enable" in line
    assert "linger.ms" not in line and SECRET not in line and "1048576" not in line


def test_no_warning_without_such_properties(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="streamapp.worker"):
        build_app(
            app_id="props-unit",
            bootstrap="127.0.0.1:1",
            security=security("linger.ms=20,client.id=c"),
            routes=[],
        )
    assert not [r for r in caplog.records if "STREAMAPP_KAFKA_PROPERTIES" in r.message]


@pytest.mark.parametrize(
    ("prop", "names"),
    [
        ("group.id=other", "STREAMAPP_GROUP_ID"),
        ("group.instance.id=w1", "STREAMAPP_GROUP_INSTANCE_ID"),
        ("session.timeout.ms=45000", "STREAMAPP_SESSION_TIMEOUT"),
        ("max.poll.interval.ms=600000", "STREAMAPP_MAX_POLL_INTERVAL"),
        (f"request.timeout.ms={SECRET}", "request.timeout.ms takes a whole number"),
        (f"auto.offset.reset={SECRET}", "auto.offset.reset takes earliest or latest"),
        (f"check.crcs={SECRET}", "check.crcs takes true or false"),
    ],
)
def test_a_property_with_a_setting_of_its_own_or_a_bad_value_is_refused(
    prop: str, names: str
) -> None:
    with pytest.raises(ConfigError, match=names) as info:
        parse_properties(prop)
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    ("prop", "names"),
    [
        ("request.timeout.ms=5000", "request.timeout.ms=5000 is below STREAMAPP_SESSION_TIMEOUT"),
        ("heartbeat.interval.ms=10000", "heartbeat.interval.ms=10000 must be below"),
    ],
)
def test_timeouts_the_consumer_would_refuse_are_one_config_error(prop: str, names: str) -> None:
    with pytest.raises(ConfigError, match=names):
        build_app(
            app_id="props-unit",
            bootstrap="127.0.0.1:1",
            security=security(prop),
            routes=[],
            session_timeout=10.0,
        )
