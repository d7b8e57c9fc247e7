"""Iceberg sink through the stack's REST catalog (the ``iceberg-rest`` service): what only a REST
catalog exercises. Pre-flight and check name the REST catalog; two writers of one table (a
rebalance overlap) lose no row, the server refusing the stale commit; a commit cut from the
server is retried until it answers. The contract cases run through REST in test_sinks_contract
(harness kind ``iceberg_rest``). Each test's namespace is purged and dropped after it.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from pyiceberg.catalog import load_catalog
from sinks_harness import COLUMNS, closed_port, record, rest_catalog_url

from streamapp.errors import ConfigError
from streamapp.observability.health import sink_preflight, sink_probe
from streamapp.settings import Settings
from streamapp.sinks.base import TableSpec
from streamapp.sinks.iceberg import IcebergSink


class RestLake:
    """One test's namespace in the REST catalog, its catalog properties from Settings."""

    def __init__(self, settings: Settings, name: str) -> None:
        env = {"STREAMAPP_ICEBERG_CATALOG_URI": rest_catalog_url()}
        self.settings = Settings.from_env(env)
        self.props, _ = self.settings.iceberg_catalog()
        self.name = name
        self.spec = TableSpec("sinks", f"{name}.orders", ("id",), COLUMNS)

    def sink(self, interval: float = 0.1, **override: str) -> IcebergSink:
        return IcebergSink({**self.props, **override}, commit_interval=interval, name=self.name)

    def catalog(self) -> Any:
        return load_catalog(self.name, **self.props)

    def rows(self) -> dict[int, dict[str, Any]]:
        table = self.catalog().load_table((self.name, "orders"))
        return {r["id"]: r for r in table.scan().to_arrow().to_pylist() if not r["__deleted"]}

    def drop(self) -> None:
        catalog = self.catalog()
        if catalog.table_exists((self.name, "orders")):
            location = urlparse(catalog.load_table((self.name, "orders")).location())
            catalog.purge_table((self.name, "orders"))
            if location.scheme == "file" and location.path.endswith(f"/{self.name}/orders"):
                shutil.rmtree(Path(location.path).parent, ignore_errors=True)
        if (self.name,) in catalog.list_namespaces():
            catalog.drop_namespace(self.name)


@pytest.fixture
def lake(stack: Settings, unique: str) -> Iterator[RestLake]:
    lake = RestLake(stack, unique)
    yield lake
    lake.drop()


def test_preflight_and_probe_name_the_rest_catalog(lake: RestLake) -> None:
    probe = sink_probe("iceberg", lake.settings)
    assert probe is not None and "Iceberg rest catalog" in probe()
    env = {"STREAMAPP_ICEBERG_CATALOG_URI": f"http://127.0.0.1:{closed_port()}"}
    with pytest.raises(ConfigError) as err:
        sink_preflight(Settings.from_env(env), ["iceberg"])
    assert "STREAMAPP_ICEBERG_CATALOG_URI" in str(err.value)


def test_two_writers_of_one_table_lose_no_row(lake: RestLake) -> None:
    """Two sinks (two workers during a rebalance) commit to one table at once: the server
    refuses a commit made on a stale snapshot, the sink retries it on the new one."""

    async def body() -> None:
        sinks = [lake.sink(), lake.sink()]
        for sink in sinks:
            await sink.start()
        try:
            await sinks[0].ensure_table(lake.spec)
            await sinks[1].ensure_table(lake.spec)

            async def writer(sink: IcebergSink, first: int) -> None:
                for k in range(first, first + 12, 2):
                    await sink.write(lake.spec, [record(k, 1, name=f"n{k}")])

            await asyncio.wait_for(asyncio.gather(writer(sinks[0], 0), writer(sinks[1], 1)), 120)
        finally:
            for sink in sinks:
                await sink.close()

    asyncio.run(body())
    assert sorted(lake.rows()) == list(range(12))


def test_a_commit_cut_from_the_rest_server_is_retried_until_it_answers(lake: RestLake) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "chaos"))
    from chaos_proxy import TcpProxy

    server = urlparse(rest_catalog_url())
    proxy = TcpProxy("127.0.0.1", int(server.port or 80), name="rest-catalog")
    port = proxy.start()

    async def body() -> None:
        sink = lake.sink(1.0, uri=f"http://127.0.0.1:{port}")
        await sink.start()
        try:
            await sink.ensure_table(lake.spec)
            await sink.write(lake.spec, [record(1, 1, name="a")])  # commits, starts 1 s
            await sink.stage(lake.spec, [record(2, 1, name="b")])
            await asyncio.to_thread(proxy.cut, "refuse")
            barrier = sink.barrier(lake.spec)
            await asyncio.sleep(3.0)  # the commit is due after 1 s and fails while cut
            assert not barrier.done()
            await asyncio.to_thread(proxy.restore)
            await asyncio.wait_for(barrier, 60)
        finally:
            await sink.close()

    try:
        asyncio.run(body())
    finally:
        proxy.close()
    assert set(lake.rows()) == {1, 2}
