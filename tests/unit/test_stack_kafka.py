"""The local stack's Kafka: cluster ids StorageTool accepts, and jars cached per pom content."""

from __future__ import annotations

import base64
import string
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from stack_scripts import STACK, load

URLSAFE = set(string.ascii_letters + string.digits + "-_")


@pytest.fixture(scope="module")
def kafka() -> Iterator[ModuleType]:
    """infra/local/stack/kafka.py (a script directory: its ``common`` is lent for the import)."""
    with pytest.MonkeyPatch.context() as mp:
        load(mp, "common", STACK / "common.py")
        load(mp, "kafkasasl", STACK / "kafkasasl.py")
        load(mp, "certs", STACK / "certs.py")
        yield load(mp, "stack_kafka", STACK / "kafka.py")


def test_cluster_ids_never_start_with_a_dash_over_many_draws(kafka: ModuleType) -> None:
    ids = [kafka.kafka_cluster_id() for _ in range(100_000)]
    assert not [i for i in ids if i.startswith("-")]  # 1 in 64 did before: ~1,560 here
    assert all(len(i) == 22 and set(i) <= URLSAFE for i in ids)
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids[:1000])
    assert {i[0] for i in ids} == URLSAFE - {"-"}  # every other first character still occurs
    assert len(set(ids)) == len(ids)


def test_a_draw_that_starts_with_a_dash_is_drawn_again(kafka: ModuleType) -> None:
    draws = [b"\xf8" + bytes(15), b"\xfb" + b"\xff" * 15, bytes(16)]
    assert all(base64.urlsafe_b64encode(d).startswith(b"-") for d in draws[:2])
    left = iter(draws)
    assert kafka.kafka_cluster_id(lambda: next(left)) == "A" * 22
    assert next(left, None) is None  # all three drawn


def test_the_jar_cache_is_keyed_on_the_pom(
    kafka: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed pom (e.g. kafka-tools added) resolves into a new directory on a machine that
    already holds the old cache; a running broker keeps the directory it started from."""
    monkeypatch.setenv("STREAMAPP_CACHE_DIR", str(tmp_path))
    libs = kafka.Kafka(sys.modules["common"].Config.from_env()).libs
    assert libs == tmp_path / f"kafka-{kafka.KAFKA_VERSION}" / f"libs-{kafka.pom_digest(kafka.POM)}"
    edited = tmp_path / "pom.xml"
    edited.write_text(kafka.POM.read_text().replace("</dependencies>", "<!-- x --></dependencies>"))
    assert kafka.pom_digest(edited) != kafka.pom_digest(kafka.POM)
    assert "<artifactId>kafka-tools</artifactId>" in kafka.POM.read_text()


def test_server_properties_have_an_mtls_listener_that_requires_a_client_certificate(
    kafka: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMAPP_STACK_DIR", str(tmp_path))
    monkeypatch.setenv("STREAMAPP_KAFKA_MTLS_PORT", "29095")
    cfg = sys.modules["common"].Config.from_env()
    text = kafka.SERVER_PROPERTIES.format(
        port=1, controller_port=2, sasl_port=3, mtls_port=cfg.kafka_mtls_port, log_dir="/x"
    ) + sys.modules["kafkasasl"].listener_properties(cfg)
    props = dict(
        line.split("=", 1)
        for line in text.replace("\\\n", "").splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert "SSL://127.0.0.1:29095" in props["listeners"].split(",")
    assert "SSL://127.0.0.1:29095" in props["advertised.listeners"].split(",")
    assert "SSL:SSL" in props["listener.security.protocol.map"].split(",")
    assert props["listener.name.ssl.ssl.client.auth"] == "required"
    assert props["listener.name.ssl.ssl.truststore.type"] == "PEM"
    assert props["listener.name.ssl.ssl.truststore.location"] == str(
        tmp_path / "kafka-sasl" / "ca.pem"
    )
    assert (tmp_path / "kafka-sasl" / "ca.pem").is_file()


def test_a_broker_started_with_other_properties_is_outdated(
    kafka: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`up` restarts a running broker whose listeners changed (it asks ``outdated()``)."""
    monkeypatch.setenv("STREAMAPP_STACK_DIR", str(tmp_path))
    broker = kafka.Kafka(sys.modules["common"].Config.from_env())
    broker.data.mkdir(parents=True)
    broker.props.write_text("listeners=PLAINTEXT://127.0.0.1:1,SSL://127.0.0.1:2\n")
    assert broker.outdated()  # started before the start copy existed
    broker.started_props.write_text("listeners=PLAINTEXT://127.0.0.1:1\n")
    assert "mTLS" in broker.outdated()
    broker.started_props.write_text(broker.props.read_text())
    assert broker.outdated() is None
