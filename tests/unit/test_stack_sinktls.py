"""The local stack's TLS sinks: PostgreSQL's ssl settings and TLS-only roles, Redis's TLS port."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

STACK = Path(__file__).resolve().parents[2] / "infra" / "local" / "stack"
INITDB_HBA = "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n"


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, ModuleType]]:
    """infra/local/stack's modules that the TLS parts need (lent to sys.modules for the import)."""
    modules = {}
    with pytest.MonkeyPatch.context() as mp:
        for name in ("common", "kafkasasl", "certs", "pgtls", "redis"):
            spec = importlib.util.spec_from_file_location(name, STACK / f"{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            mp.setitem(sys.modules, name, module)
            spec.loader.exec_module(module)
            modules[name] = module
        yield modules


@pytest.fixture
def cfg(stack: dict[str, ModuleType], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> object:
    monkeypatch.setattr(stack["pgtls"], "is_root", lambda: False)
    # the default ports, whatever the environment says (a CI run on other ports sets them)
    for name in ("STREAMAPP_REDIS_TLS_PORT", "STREAMAPP_REDIS_PORT", "STREAMAPP_PG_PORT"):
        monkeypatch.delenv(name, raising=False)
    return replace(stack["common"].Config.from_env(), state_dir=tmp_path / "stack")


def test_postgres_tls_is_configured_once_with_the_roles_first(
    stack: dict[str, ModuleType], cfg: object, tmp_path: Path
) -> None:
    data = tmp_path / "cluster"
    data.mkdir()
    (data / "postgresql.conf").write_text("port = 15432\n")
    (data / "pg_hba.conf").write_text(INITDB_HBA)
    setup = stack["pgtls"].TlsSetup(cfg, data)
    setup.configure()
    assert setup.changed
    hba = (data / "pg_hba.conf").read_text().splitlines()
    rules = [line.split() for line in hba if line and not line.startswith("#")]
    # first match wins: the TLS-only roles' lines come before initdb's `host all all`
    assert rules[0] == ["hostssl", "all", "streamapp_tls", "127.0.0.1/32", "scram-sha-256"]
    assert ["hostnossl", "all", "streamapp_tls,streamapp_mtls", "all", "reject"] in rules
    assert rules.index(["host", "all", "all", "127.0.0.1/32", "scram-sha-256"]) == len(rules) - 1
    assert "ssl = on" in (data / "postgresql.conf").read_text()
    for name in ("server.crt", "server.key", "root.crt"):
        assert oct((data / name).stat().st_mode & 0o777) == "0o600"
    again = stack["pgtls"].TlsSetup(cfg, data)
    again.configure()
    assert not again.changed  # a second `make up` neither rewrites nor reloads
    assert (data / "pg_hba.conf").read_text().count("streamapp_tls  127.0.0.1/32") == 1
    password = stack["pgtls"].password_file(cfg)
    assert oct(password.stat().st_mode & 0o777) == "0o600" and password.read_text().strip()


def test_redis_restarts_only_when_its_tls_settings_changed(
    stack: dict[str, ModuleType], cfg: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = stack["redis"].Redis(cfg)
    conf = Path(redis._tls_conf())
    assert oct(conf.stat().st_mode & 0o777) == "0o600"
    text = conf.read_text()
    assert "tls-port 16380" in text and "user streamapp_tls on >" in text
    password = conf.parent / "redis-streamapp_tls.password"
    assert password.read_text().strip() in text  # the password is in no process list
    assert password.read_text().strip() not in " ".join(redis._command())
    assert redis.outdated()  # a server started before this stamp existed
    redis.stamp.parent.mkdir(parents=True, exist_ok=True)
    redis.stamp.write_text(redis._fingerprint() + "\n")
    assert redis.outdated() is None
    monkeypatch.setenv("STREAMAPP_REDIS_TLS_PORT", "26380")
    assert stack["redis"].Redis(cfg).outdated()  # another TLS port: restart to take it
