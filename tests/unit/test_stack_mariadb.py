"""The local stack's MariaDB: its server settings, and connector configs pointed at it."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

STACK = Path(__file__).resolve().parents[2] / "infra" / "local" / "stack"
CONNECT = STACK.parents[0] / "connect"


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[dict[str, ModuleType]]:
    """The stack's modules imported from infra/local/stack with a stack dir under tmp_path."""
    import importlib

    monkeypatch.syspath_prepend(str(STACK))
    names = ("common", "mariadb", "connect")
    for name in (*names, "kafka", "kafkasasl"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.setenv("STREAMAPP_STACK_DIR", str(tmp_path / "stack"))
    monkeypatch.setenv("STREAMAPP_MARIADB_PORT", "23306")
    monkeypatch.setenv("STREAMAPP_MARIADB_USER", "maria")
    monkeypatch.setenv("STREAMAPP_MARIADB_PASSWORD", "pw")
    monkeypatch.setenv("STREAMAPP_KAFKA_PORT", "29092")
    yield {name: importlib.import_module(name) for name in names}
    for name in (*names, "kafka", "kafkasasl"):
        sys.modules.pop(name, None)


def test_server_settings_are_what_debezium_needs(stack: dict[str, ModuleType]) -> None:
    server = stack["mariadb"].MariaDB(stack["common"].Config.from_env())
    (server.datadir / "mysql").mkdir(parents=True)  # initialised: prepare only writes my.cnf
    server.prepare()
    conf = server.conf.read_text()
    for line in (
        "port = 23306",
        "bind-address = 127.0.0.1",
        "binlog_format = ROW",
        "binlog_row_image = FULL",
        "gtid_strict_mode = ON",
        "server-id = 184054",
        "default-time-zone = '+00:00'",
    ):
        assert f"\n{line}\n" in conf, line
    assert f"log-bin = {server.root}/binlog/mariadb-bin" in conf
    assert server.address == "mysql://maria@127.0.0.1:23306/shop"


def test_connector_configs_point_at_their_own_database(stack: dict[str, ModuleType]) -> None:
    connect, cfg = stack["connect"], stack["common"].Config.from_env()
    maria = connect.localize(json.loads((CONNECT / "shop-mariadb.json").read_text()), cfg)
    assert maria["connector.class"] == connect.MARIADB_CONNECTOR
    assert (maria["database.port"], maria["database.user"], maria["database.password"]) == (
        "23306",
        "maria",
        "pw",
    )
    assert maria["schema.history.internal.kafka.bootstrap.servers"] == "127.0.0.1:29092"
    pg = connect.localize(json.loads((CONNECT / "shop-avro.json").read_text()), cfg)
    assert pg["database.port"] == str(cfg.pg_port) and pg["database.user"] == cfg.pg_user
    assert "mariadb" in connect.CONNECTOR_FILES
    assert connect.MARIADB_CONNECTOR in connect.REQUIRED
