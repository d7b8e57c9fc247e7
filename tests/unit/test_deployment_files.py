"""docker-compose.yml cannot run here (no Docker engine): check its structure instead."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamapp.settings import Settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert isinstance(data, dict)
    return data


def _host_port(service: dict[str, Any]) -> set[int]:
    return {int(str(p).split(":")[0]) for p in service.get("ports", [])}


def test_every_stack_service_is_declared(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {
        "kafka",
        "postgres",
        "registry",
        "redis",
        "clickhouse",
        "connect",
        "worker",
    }
    for name, service in compose["services"].items():
        assert "image" in service or "build" in service, name


@pytest.mark.parametrize(
    ("service", "setting"),
    [
        ("kafka", "kafka_bootstrap"),
        ("postgres", "source_dsn"),
        ("postgres", "warehouse_dsn"),
        ("registry", "registry_url"),
        ("redis", "redis_url"),
    ],
)
def test_host_ports_match_native_defaults(
    compose: dict[str, Any], service: str, setting: str
) -> None:
    default = getattr(Settings(), setting)
    port = int(default.rsplit(":", 1)[1].split("/")[0])
    assert port in _host_port(compose["services"][service])


def test_postgres_has_logical_wal_and_databases(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    assert "wal_level=logical" in pg["command"]
    initdb = (REPO / "infra/docker/initdb.sql").read_text()
    for db in ("source", "warehouse", "registry"):
        assert f"CREATE DATABASE {db};" in initdb


def test_worker_replicas_and_settings(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert worker["deploy"]["replicas"] >= 2
    known = {f.metadata["env"] for f in fields(Settings)}
    assert set(worker["environment"]) <= known
    # Several replicas cannot share one embedded chDB: the worker must use a server.
    assert worker["environment"]["STREAMAPP_CLICKHOUSE_DSN"].startswith("http://")
    Settings.from_env(worker["environment"])  # valid settings


def test_registry_storage_is_persistent(compose: dict[str, Any]) -> None:
    env = compose["services"]["registry"]["environment"]
    assert env["APICURIO_STORAGE_KIND"] == "sql"
    assert "postgres:5432/registry" in env["APICURIO_DATASOURCE_URL"]
