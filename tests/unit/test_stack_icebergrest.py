"""The local stack's Iceberg REST catalog: its pom, launch environment and restart rule."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from stack_scripts import STACK, load


@pytest.fixture(scope="module")
def rest() -> Iterator[ModuleType]:
    """infra/local/stack/icebergrest.py with the script directory's modules lent for the import."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("common", "kafkasasl", "certs", "pgtls", "kafka", "postgres", "s3"):
            load(mp, name, STACK / f"{name}.py")
        yield load(mp, "stack_icebergrest", STACK / "icebergrest.py")


@pytest.fixture()
def server(rest: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in (
        "STREAMAPP_ICEBERG_REST_PORT",
        "STREAMAPP_ICEBERG_REST_S3_PORT",
        "STREAMAPP_ICEBERG_REST_HEAP",
        "STREAMAPP_PG_PORT",
        "STREAMAPP_S3_PORT",
        "STREAMAPP_S3_BUCKET",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMAPP_STACK_DIR", str(tmp_path / "stack"))
    monkeypatch.setenv("STREAMAPP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("STREAMAPP_PG_PASSWORD", "pg-secret-7")
    monkeypatch.setenv("STREAMAPP_S3_SECRET_KEY", "s3-secret-9")
    return rest.IcebergRest(sys.modules["common"].Config.from_env())


def launch(rest: ModuleType, server: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What ``start`` hands to ``spawn`` (no process, no port check, no database)."""
    seen: dict[str, Any] = {}
    monkeypatch.setattr(rest, "ensure_port_free", lambda *a: None)
    monkeypatch.setattr(rest, "require_tool", lambda name, hint: f"/usr/bin/{name}")
    monkeypatch.setattr(server, "ensure_database", lambda: None)
    monkeypatch.setattr(rest, "spawn", lambda cmd, **kw: seen.update(cmd=cmd, **kw))
    server.data.mkdir(parents=True)
    server.start()
    return seen


def test_the_pom_resolves_the_version_the_script_names(rest: ModuleType) -> None:
    version = re.search(r"<iceberg.version>(.+?)<", rest.POM.read_text())
    assert version is not None and version.group(1) == rest.ICEBERG_VERSION


def test_the_server_gets_every_variable_its_jetty_xml_reads_and_listens_on_loopback(
    rest: ModuleType, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = launch(rest, server, monkeypatch)
    wanted = {e.get("name") for e in ET.parse(rest.XML).iter("Env")}
    assert wanted and wanted <= set(seen["env_"])
    env = seen["env_"]
    assert env["ICEBERG_REST_HOST"] == "127.0.0.1"
    assert env["ICEBERG_REST_PORT"] == "18181"
    assert env["ICEBERG_REST_JDBC_URI"] == "jdbc:postgresql://127.0.0.1:15432/iceberg_rest"
    assert env["ICEBERG_REST_WAREHOUSE"].startswith("file:///")
    assert env["ICEBERG_REST_WAREHOUSE"].endswith("/stack/data/iceberg-rest/warehouse")
    assert seen["cmd"][-2:] == ["org.eclipse.jetty.xml.XmlConfiguration", str(rest.XML)]
    assert "pg-secret-7" not in " ".join(seen["cmd"])  # not on the command line `ps` shows
    assert "pg-secret-7" not in server.started.read_text()
    # the second catalog: its port, its warehouse on the stack's S3 store, the store's key
    assert env["ICEBERG_REST_S3_PORT"] == "18182"
    assert env["ICEBERG_REST_S3_WAREHOUSE"] == "s3://lake/rest"
    assert env["ICEBERG_REST_S3_ENDPOINT"] == "http://127.0.0.1:19000"
    assert env["ICEBERG_REST_S3_SECRET_KEY"] == "s3-secret-9"
    assert env["AWS_REQUEST_CHECKSUM_CALCULATION"] == "WHEN_REQUIRED"
    assert "s3-secret-9" not in " ".join(seen["cmd"])
    assert "s3-secret-9" not in server.started.read_text()


def test_a_running_server_is_outdated_when_its_port_or_jars_change(
    rest: ModuleType, server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server.outdated() is not None  # never started by this stack dir
    launch(rest, server, monkeypatch)
    assert server.outdated() is None
    monkeypatch.setattr(server, "port", 18182)
    assert server.outdated() == "runs with other jars, code or settings"
    monkeypatch.setattr(server, "port", 18181)
    libs = server.libs
    monkeypatch.setattr(server, "libs", libs.with_name("libs-other"))
    assert server.outdated() is not None
    monkeypatch.setattr(server, "libs", libs)
    assert server.outdated() is None
    monkeypatch.setattr(server.store, "secret_key", "rotated")  # the S3 catalog's key
    assert server.outdated() is not None


def test_up_starts_it_after_postgresql(rest: ModuleType) -> None:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("registry", "redis", "mariadb", "connect", "authproxy", "devkey"):
            load(mp, name, STACK / f"{name}.py")
        load(mp, "opensearch", STACK / "opensearch.py")
        load(mp, "s3", STACK / "s3.py")
        load(mp, "icebergrest", STACK / "icebergrest.py")
        main = load(mp, "stack_main", STACK / "__main__.py")
        assert "iceberg-rest" in main.ORDER
        assert main.NEEDS["iceberg-rest"] == ("postgres",)
