"""The Iceberg sink through a REST catalog that asks for a bearer token over TLS: the stack's
``iceberg-rest`` behind its authenticating HTTPS proxy (certificate of the stack CA). The token
comes from a file as Kubernetes mounts it, the CA file is kept although the environment names
another bundle (REQUESTS_CA_BUNDLE), and a wrong token or a missing CA is one line naming the
setting, never the token."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import certifi
import pytest
from connectivity_env import AUTH_DIR, ICEBERG_TLS_PORT, STACK_CA
from pyiceberg.catalog import load_catalog

from streamapp.errors import ConfigError, SinkError
from streamapp.observability.health import check_all, sink_preflight
from streamapp.records import Op, OutputRecord
from streamapp.settings import Settings
from streamapp.sinks.base import TableSpec
from streamapp.sinks.iceberg import IcebergSink
from streamapp.types import parse_type

URL = f"https://127.0.0.1:{ICEBERG_TLS_PORT}"
TOKEN_FILE = AUTH_DIR / "bearer.token"


def env(**extra: str) -> dict[str, str]:
    return {
        "STREAMAPP_ICEBERG_CATALOG_URI": URL,
        "STREAMAPP_ICEBERG_CATALOG_TOKEN_FILE": str(TOKEN_FILE),
        "STREAMAPP_ICEBERG_CATALOG_CA_FILE": str(STACK_CA),
        **extra,
    }


@pytest.fixture
def ns(auth_proxy: Path, unique: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # the bundle requests would otherwise take over the catalog's CA file (it lacks the stack CA)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    yield unique
    props, _ = Settings.from_env(env()).iceberg_catalog()
    catalog = load_catalog("cleanup", **props)
    if catalog.table_exists((unique, "orders")):
        location = urlparse(catalog.load_table((unique, "orders")).location())
        catalog.purge_table((unique, "orders"))
        if location.scheme == "file" and location.path.endswith(f"/{unique}/orders"):
            shutil.rmtree(Path(location.path).parent, ignore_errors=True)
    if (unique,) in catalog.list_namespaces():
        catalog.drop_namespace(unique)


def row(i: int) -> OutputRecord:
    return OutputRecord("auth", (i,), {"id": i}, i, Op.CREATE, False, frozenset(), None)


def write_through(settings: Settings, ns: str, i: int) -> list[int]:
    """A worker's start (the pre-flight passes), a write of row ``i`` into ``<ns>.orders``, and
    the ids a fresh catalog reads back."""
    props, _ = settings.iceberg_catalog()
    spec = TableSpec("auth", f"{ns}.orders", ("id",), {"id": parse_type("int")})

    async def body() -> None:
        sink = IcebergSink(props, commit_interval=0.1, name=ns)
        await sink.start()
        try:
            await sink.write(spec, [row(i)])
        finally:
            await sink.close()

    sink_preflight(settings, ["iceberg"])
    asyncio.run(body())
    table = load_catalog(ns, **props).load_table((ns, "orders"))
    return [r["id"] for r in table.scan().to_arrow().to_pylist()]


def test_the_sink_writes_through_the_token_and_the_pinned_ca(ns: str) -> None:
    settings = Settings.from_env(env())
    assert write_through(settings, ns, 7) == [7]
    line = next(c for c in check_all(settings, {"iceberg"}) if c.service == "iceberg")
    assert line.ok and line.protocol.startswith("https TLSv1.")


def test_a_wrong_token_is_one_line_naming_the_setting(ns: str, tmp_path: Path) -> None:
    sentinel = "sentinel-token-2d9f"
    wrong = tmp_path / "token"
    wrong.write_text(sentinel + "\n")
    settings = Settings.from_env(env(STREAMAPP_ICEBERG_CATALOG_TOKEN_FILE=str(wrong)))
    with pytest.raises(ConfigError) as err:
        sink_preflight(settings, ["iceberg"])
    line = str(err.value)
    assert "STREAMAPP_ICEBERG_CATALOG_TOKEN" in line and "\n" not in line
    assert sentinel not in line
    props, _ = settings.iceberg_catalog()
    with pytest.raises(SinkError) as started:
        asyncio.run(IcebergSink(props, commit_interval=1, name=ns).start())
    assert not started.value.retriable and sentinel not in str(started.value)
    described = " ".join(value for _, value, _ in settings.describe())
    assert sentinel not in described


def test_a_missing_ca_is_one_line_naming_the_ca_setting(ns: str) -> None:
    settings = Settings.from_env(env(STREAMAPP_ICEBERG_CATALOG_CA_FILE=""))
    with pytest.raises(ConfigError) as err:
        sink_preflight(settings, ["iceberg"])
    assert "STREAMAPP_ICEBERG_CATALOG_CA_FILE" in str(err.value)


def test_rest_only_settings_are_refused_for_a_sql_catalog() -> None:
    settings = Settings.from_env({"STREAMAPP_ICEBERG_CATALOG_TOKEN": "x"})
    with pytest.raises(ConfigError, match="STREAMAPP_ICEBERG_CATALOG_TOKEN is for a REST"):
        settings.iceberg_catalog()


# -- OAuth2 client credentials (STREAMAPP_ICEBERG_PROPERTIES=credential=<id>:<secret>) -----------


@pytest.fixture
def client(auth_proxy: Path, unique: str) -> Iterator[tuple[str, Path]]:
    """An OAuth2 client of the proxy, ``(id, folder)``: its secret in ``<id>.password``, its
    tokens' lifetime (seconds) in ``<id>.ttl`` when a test writes one; removed afterwards."""
    name = f"c{unique[:20]}"
    (AUTH_DIR / f"{name}.password").write_text("oauth-secret-5d1c\n")
    yield name, AUTH_DIR
    for suffix in ("password", "ttl"):
        (AUTH_DIR / f"{name}.{suffix}").unlink(missing_ok=True)


def oauth_env(client_id: str, secret: str) -> dict[str, str]:
    return {
        "STREAMAPP_ICEBERG_CATALOG_URI": URL,
        "STREAMAPP_ICEBERG_CATALOG_CA_FILE": str(STACK_CA),
        "STREAMAPP_ICEBERG_PROPERTIES": f"credential={client_id}:{secret}",
    }


def test_the_sink_logs_in_with_oauth2_client_credentials(ns: str, client: tuple[str, Path]) -> None:
    settings = Settings.from_env(oauth_env(client[0], "oauth-secret-5d1c"))
    assert write_through(settings, ns, 1) == [1]
    assert settings.iceberg_catalog()[0]["oauth2-server-uri"] == f"{URL}/v1/oauth/tokens"
    line = next(c for c in check_all(settings, {"iceberg"}) if c.service == "iceberg")
    assert line.ok, line


def test_a_wrong_client_secret_is_one_line_naming_the_credential(
    ns: str, client: tuple[str, Path]
) -> None:
    sentinel = "wrong-secret-7f3a"
    settings = Settings.from_env(oauth_env(client[0], sentinel))
    with pytest.raises(ConfigError) as err:
        sink_preflight(settings, ["iceberg"])
    line = str(err.value)
    assert "credential in STREAMAPP_ICEBERG_PROPERTIES" in line and "\n" not in line
    assert sentinel not in line
    described = " ".join(value for _, value, _ in settings.describe())
    assert sentinel not in described


def test_commits_go_on_after_the_oauth2_token_expires(ns: str, client: tuple[str, Path]) -> None:
    """A credential's token expires (real servers: typically after an hour; here after 2 s):
    pyiceberg 0.12 fetches a new one when a commit, load or create is refused with 401 (its
    legacy OAuth2 manager, one retry), so commits and table updates go on. A pyiceberg that
    stops renewing (its 1.0 drops that manager) fails here, not after a worker's first hour."""
    name, folder = client
    (folder / f"{name}.ttl").write_text("2\n")
    props, _ = Settings.from_env(oauth_env(name, "oauth-secret-5d1c")).iceberg_catalog()
    spec = TableSpec("auth", f"{ns}.orders", ("id",), {"id": parse_type("int")})
    wider = TableSpec("auth", spec.target, ("id",), {**spec.columns, "note": parse_type("string")})

    async def body() -> None:
        sink = IcebergSink(props, commit_interval=0.1, name=ns)
        await sink.start()
        try:
            await sink.write(spec, [row(1)])
            await asyncio.sleep(2.5)  # the token has expired
            await asyncio.wait_for(sink.write(spec, [row(2)]), 30)
            await asyncio.sleep(2.5)  # the second token too: a new column, then a commit
            await sink.ensure_table(wider)
            await asyncio.wait_for(sink.write(wider, [row(3)]), 30)
        finally:
            await sink.close()

    asyncio.run(body())
    table = load_catalog(ns, **props).load_table((ns, "orders"))
    assert sorted(r["id"] for r in table.scan().to_arrow().to_pylist()) == [1, 2, 3]
    assert "note" in {f.name for f in table.schema().fields}
