"""docker-compose.yml cannot run here (no Docker engine): check its structure instead."""

from __future__ import annotations

import ast
import json
import re
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
        "mariadb",
        "clickhouse",
        "connect",
        "connect-setup",
        "opensearch",
        "iceberg-rest",
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
        ("connect", "connect_url"),
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


def _native_worker_properties() -> dict[str, str]:
    """WORKER_PROPERTIES of infra/local/stack/connect.py (read, not imported: it is a script)."""
    tree = ast.parse((REPO / "infra/local/stack/connect.py").read_text())
    text = next(
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and getattr(node.targets[0], "id", "") == "WORKER_PROPERTIES"
        and isinstance(node.value, ast.Constant)
    )
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def test_connect_is_the_native_stacks_connect(compose: dict[str, Any]) -> None:
    connect = compose["services"]["connect"]
    dockerfile = connect["build"]["dockerfile_inline"]
    # The Kafka image of the kafka service (same Connect runtime version), plus the plugins
    # resolved from the native stack's POMs: Debezium PostgreSQL and Apicurio's converter.
    assert f"FROM {compose['services']['kafka']['image']}" in dockerfile
    assert "COPY infra/local/connect/plugins" in dockerfile
    for plugin in ("debezium-postgres", "debezium-mariadb", "apicurio-converter"):
        assert plugin in dockerfile
        assert (REPO / "infra/local/connect/plugins" / plugin / "pom.xml").exists()
    # The worker's properties match the native stack's, apart from addresses and paths.
    props = dict(re.findall(r"^\s+([a-z.]+)=(\S+) \\$", dockerfile, flags=re.M))
    native = _native_worker_properties()
    where = {"bootstrap.servers", "listeners", "plugin.path", "rest.advertised.port"}
    where.add("rest.advertised.host.name")
    assert set(props) == set(native)
    assert {k: v for k, v in props.items() if k not in where} == {
        k: v for k, v in native.items() if k not in where
    }
    assert props["bootstrap.servers"] == compose["x-worker-env"]["STREAMAPP_KAFKA_BOOTSTRAP"]
    assert props["listeners"].endswith(":8083")
    assert "CMD-SHELL" in connect["healthcheck"]["test"]


def test_connect_setup_registers_the_avro_connector(compose: dict[str, Any]) -> None:
    setup = compose["services"]["connect-setup"]
    script = setup["command"][0]
    compile(script, "connect-setup", "exec")  # valid Python
    assert "./infra/local:/setup:ro" in setup["volumes"]
    for path in ("source/shop.sql", "connect/shop-avro.json"):
        assert f"/setup/{path}" in script
        assert (REPO / "infra/local" / path).exists()
    assert json.loads((REPO / "infra/local/connect/shop-avro.json").read_text())["name"] == "shop"
    assert "http://connect:8083/connectors/shop/config" in script
    assert setup["depends_on"]["connect"]["condition"] == "service_healthy"
    worker_env = compose["x-worker-env"]
    assert worker_env["STREAMAPP_CONNECT_URL"] == "http://connect:8083"
    registry = worker_env["STREAMAPP_REGISTRY_URL"].split("/apis/")[0]
    assert f"{registry}/apis/registry/v2" in script  # the registry the worker reads


def test_no_registry_host_or_download_url() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    services = set(yaml.safe_load(text)["services"]) | {"0.0.0.0", "127.0.0.1"}
    for host in re.findall(r"[a-z]+://(?:[^@/\s]*@)?([^:/\s\"']+)", text):
        assert host in services, host
    for image in re.findall(r"^\s*(?:image:|FROM)\s+(\S+)", text, flags=re.M):
        assert "." not in image.split("/")[0] or "/" not in image, image  # no registry host


def test_worker_image_builds_the_native_reader_and_ships_only_the_wheel() -> None:
    """Every file the package build needs is copied into the build stage (setup.py declares the
    C extension), a compiler is installed there, and the runtime stage installs the wheel."""
    text = (REPO / "Dockerfile").read_text()
    _, build, runtime = text.split("\nFROM ")  # comments, build stage, runtime stage
    copied = " ".join(re.findall(r"^COPY (?!--from)(.+?) \S+$", build, re.M))
    for needed in ("pyproject.toml", "setup.py", "README.md", "streamapp"):
        assert needed in copied.split(), f"the build stage does not copy {needed}"
    assert "gcc" in build and "pip wheel" in build
    assert "COPY --from=build /wheels" in runtime and "gcc" not in runtime
    sources = ast.parse((REPO / "setup.py").read_text())
    named = {n.value for n in ast.walk(sources) if isinstance(n, ast.Constant)}
    for source in ("streamapp/decode/_avrorows.c", "streamapp/encode/_avrowrite.c"):
        assert source in named and (REPO / source).exists(), f"setup.py does not build {source}"


def test_compose_workers_get_a_mask_key_from_the_environment_not_the_repository() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("STREAMAPP_MASK_SECRET:"))
    assert "${STREAMAPP_MASK_SECRET:?" in line  # compose refuses to start without one


def test_mariadb_is_the_native_stacks_mariadb(compose: dict[str, Any]) -> None:
    maria = compose["services"]["mariadb"]
    assert 13306 in _host_port(maria)
    flags = set(maria["command"])
    for flag in ("--binlog-format=ROW", "--binlog-row-image=FULL", "--gtid-strict-mode=ON"):
        assert flag in flags
    mounts = " ".join(maria["volumes"])
    for path in ("infra/local/source/mariadb_shop.sql", "infra/docker/mariadb-grants.sql"):
        assert path in mounts and (REPO / path).exists()
    assert compose["services"]["connect"]["depends_on"]["mariadb"]["condition"] == (
        "service_healthy"
    )
