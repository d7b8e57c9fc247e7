"""The sink test harness: one per sink, it writes through the sink and reads the state back.

A harness builds the sink (not started: asyncio connections belong to the loop that opens
them, so each test body runs in ``harness.run``), names the test's table after ``unique``, and
reads the stored state back with the session's synchronous clients, normalised to
``{key tuple: {column: Python value, "__version": int}}`` with deleted keys left out.

OpenSearch (kind ``opensearch``) runs every case on an index named ``unique`` (deleted after
the test); documents are read with their ``_version`` after a refresh. A versioned delete
leaves no document, only a tombstone the node keeps ``gc_deletes`` and never returns by GET or
search, so ``raw_version`` of a deleted key probes it with a delete at version 0 (refused with
the stored version; see ``_opensearch_tombstone``).

Iceberg runs twice: kind ``iceberg`` through the SQL catalog in the warehouse PostgreSQL, kind
``iceberg_rest`` through the stack's REST catalog (``STREAMAPP_ICEBERG_CATALOG_URI=http://...``,
the ``iceberg-rest`` service), both in namespace ``unique``. The REST server places tables in its
own warehouse (the client's ``warehouse`` does not move them), so the test's table there is purged
and its directory removed after the test. A third, kind ``iceberg_s3``, is the SQL catalog with its
warehouse on object storage: ``s3://<bucket>/tests/<unique>`` on the stack's S3 store (the ``s3``
service, S3Proxy), its key as ``s3.*`` properties in STREAMAPP_ICEBERG_PROPERTIES; the test's
objects are deleted after it. A fourth, kind ``iceberg_rest_s3``, is the stack's REST catalog
whose warehouse is on that store (the server writes metadata with S3FileIO, the client its data
files with the same ``s3.*`` properties): the common production shape.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from opensearchpy.exceptions import ConflictError, NotFoundError
from s3_store import REST_ROOT, delete_s3_prefix, rest_s3_settings, s3_settings

from streamapp.records import UNCHANGED, Op, OutputRecord
from streamapp.settings import Settings
from streamapp.sinks.base import Sink, TableSpec
from streamapp.sinks.clickhouse.sink import ClickHouseSink
from streamapp.sinks.iceberg import IcebergSink
from streamapp.sinks.opensearch.sink import OpenSearchSink
from streamapp.sinks.postgres.sink import PostgresSink
from streamapp.sinks.redis.sink import VERSION_SUFFIX, RedisSink
from streamapp.types import FieldType, Kind, parse_type

SINKS = (
    "postgres",
    "clickhouse",
    "redis",
    "redis_hash",
    "iceberg",
    "iceberg_rest",
    "iceberg_s3",
    "iceberg_rest_s3",
    "opensearch",
)
ICEBERG = ("iceberg", "iceberg_rest", "iceberg_s3", "iceberg_rest_s3")
REST = ("iceberg_rest", "iceberg_rest_s3")  # the server places the tables
COLUMNS: dict[str, FieldType] = {
    "id": parse_type("int"),
    "name": parse_type("string"),
    "amount": parse_type("decimal(10,2)"),
    "note": parse_type("string"),
}


def record(key: int, version: int, *, deleted: bool = False, **values: Any) -> OutputRecord:
    """An output record of the standard table; a value of UNCHANGED marks the column unchanged."""
    unchanged = frozenset(c for c, v in values.items() if v is UNCHANGED)
    op = Op.DELETE if deleted else Op.UPDATE
    return OutputRecord(
        "sinks", (key,), {"id": key, **values}, version, op, deleted, unchanged, None
    )


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@dataclass
class Harness:
    """One sink under test plus a way to read back what it stored."""

    kind: str
    settings: Settings
    unique: str
    pg: Any
    redis: Any
    clickhouse: Any
    opensearch: Any = None  # a synchronous OpenSearch client (kind "opensearch" only)

    def iceberg_props(self) -> dict[str, str]:
        """The stack's SQL catalog with a warehouse of this test (catalog named ``unique``), or
        for kind ``iceberg_rest`` its REST catalog, as Settings.iceberg_catalog builds them."""
        settings = self.settings
        if self.kind == "iceberg_s3":
            return s3_settings(settings, self.unique).iceberg_catalog()[0]
        if self.kind == "iceberg_rest_s3":
            return rest_s3_settings(settings).iceberg_catalog()[0]
        if self.kind == "iceberg_rest":
            settings = dataclasses.replace(settings, iceberg_catalog_uri=rest_catalog_url())
        props, _ = settings.iceberg_catalog()
        return {**props, "warehouse": self.iceberg_warehouse().as_uri()}

    def iceberg_warehouse(self) -> Path:
        return self.iceberg_warehouse_of(self.unique)

    @staticmethod
    def iceberg_warehouse_of(unique: str) -> Path:
        """The test's warehouse directory (removed after the test by the harness fixture)."""
        return Path(tempfile.gettempdir()) / "streamapp-iceberg-tests" / unique

    def make_sink(self) -> Sink:
        if self.kind == "opensearch":
            return OpenSearchSink(
                self.settings.opensearch_url,
                replicas=int(self.settings.opensearch_replicas),
                gc_deletes=self.settings.opensearch_gc_deletes,
            )
        if self.kind in ICEBERG:
            return IcebergSink(self.iceberg_props(), commit_interval=0.1, name=self.unique)
        if self.kind == "postgres":
            return PostgresSink(self.settings.warehouse_dsn)
        if self.kind == "clickhouse":
            return ClickHouseSink(self.settings.clickhouse_client_dsn())
        return RedisSink(self.settings.redis_url)

    def unreachable_sink(self) -> Sink:
        port = closed_port()
        if self.kind == "opensearch":
            return OpenSearchSink(f"http://streamapp:streamapp@127.0.0.1:{port}", timeout=2.0)
        if self.kind in ("iceberg", "iceberg_s3"):
            props = {**self.iceberg_props(), "uri": f"postgresql+psycopg://u:p@127.0.0.1:{port}/w"}
            return IcebergSink(props, commit_interval=0.1, name=self.unique)
        if self.kind in REST:
            props = {**self.iceberg_props(), "uri": f"http://127.0.0.1:{port}"}
            return IcebergSink(props, commit_interval=0.1, name=self.unique)
        if self.kind == "postgres":
            return PostgresSink(f"postgresql://streamapp:streamapp@127.0.0.1:{port}/warehouse")
        if self.kind == "clickhouse":
            return ClickHouseSink(f"http://default:@127.0.0.1:{port}/default")
        return RedisSink(f"redis://127.0.0.1:{port}/0", timeout=2.0)

    def table(self, columns: dict[str, FieldType] | None = None, **options: Any) -> TableSpec:
        cols = COLUMNS if columns is None else columns
        if self.kind == "clickhouse":
            return TableSpec("sinks", "rows", ("id",), cols, {"database": self.unique, **options})
        if self.kind in ICEBERG:
            return TableSpec("sinks", f"{self.unique}.rows", ("id",), cols, options)
        if self.kind == "opensearch":
            return TableSpec("sinks", self.unique.lower(), ("id",), cols, options)
        if self.kind.startswith("redis"):
            fmt = "hash" if self.kind == "redis_hash" else "json"
            return TableSpec(
                "sinks", f"{self.unique}:{{id}}", ("id",), cols, {"format": fmt, **options}
            )
        return TableSpec("sinks", self.unique, ("id",), cols, options)

    def run(self, body: Callable[[Sink], Awaitable[Any]], sink: Sink | None = None) -> Any:
        """Start a sink, run ``body(sink)`` in a fresh event loop, close the sink."""

        async def main() -> Any:
            s = sink or self.make_sink()
            await s.start()
            try:
                return await body(s)
            finally:
                await s.close()

        return asyncio.run(main())

    def write(self, table: TableSpec, *batches: list[OutputRecord]) -> list[Any]:
        """ensure_table, then one write per batch; the Rejected of every batch, in order."""

        async def body(sink: Sink) -> list[Any]:
            await sink.ensure_table(table)
            rejected = []
            for batch in batches:
                rejected += await sink.write(table, batch)
            return rejected

        result: list[Any] = self.run(body)
        return result

    # -- reading back ----------------------------------------------------------------------------

    def read(self, table: TableSpec) -> dict[tuple[Any, ...], dict[str, Any]]:
        names = list(table.columns)
        if self.kind == "opensearch":
            return {
                (doc["id"],): {
                    **{n: _from_text(table.columns[n], doc.get(n)) for n in names},
                    "__version": version,
                }
                for version, doc in self._opensearch_docs(table.target)
            }
        if self.kind in ICEBERG:
            return {
                (r["id"],): {n: r.get(n) for n in [*names, "__version"]}
                for r in self._iceberg_rows()
                if not r["__deleted"]
            }
        if self.kind == "postgres":
            cols = ", ".join(f'"{n}"' for n in [*names, "__version"])
            rows = self.pg.execute(f'SELECT {cols} FROM "{self.unique}_current"').fetchall()
            return {(r[0],): dict(zip([*names, "__version"], r, strict=True)) for r in rows}
        if self.kind == "clickhouse":
            cols = ", ".join(f"`{n}`" for n in [*names, "__version"])
            result = self.clickhouse.query(f"SELECT {cols} FROM `{self.unique}`.`rows` FINAL")
            return {
                (r[0],): dict(zip([*names, "__version"], r, strict=True))
                for r in result.result_rows
            }
        out: dict[tuple[Any, ...], dict[str, Any]] = {}
        for raw in self.redis.scan_iter(match=f"{self.unique}:*", count=1000):
            key = raw.decode()
            if key.endswith(VERSION_SUFFIX):
                continue
            if self.kind == "redis_hash":
                fields = {k.decode(): v.decode() for k, v in self.redis.hgetall(key).items()}
            else:
                fields = json.loads(self.redis.get(key))
            row = {n: _from_text(table.columns[n], fields.get(n)) for n in names}
            row["__version"] = int(self.redis.get(key + VERSION_SUFFIX))
            out[(row["id"],)] = row
        return out

    def raw_version(self, table: TableSpec, key: int) -> tuple[int, bool] | None:
        """(stored version, is tombstone) of ``key`` including deletes; None if never stored."""
        if self.kind == "opensearch":
            found = self.opensearch.get(index=table.target, id=str(key), ignore=404)
            if found.get("found"):
                return int(found["_version"]), False
            return self._opensearch_tombstone(table.target, str(key))
        if self.kind in ICEBERG:
            found = [r for r in self._iceberg_rows() if r["id"] == key]
            return None if not found else (found[0]["__version"], found[0]["__deleted"])
        if self.kind == "postgres":
            row = self.pg.execute(
                f'SELECT __version, __deleted FROM "{self.unique}" WHERE id = %s', [key]
            ).fetchone()
            return None if row is None else (row[0], row[1])
        if self.kind == "clickhouse":
            rows = self.clickhouse.query(
                f"SELECT __version, __is_deleted FROM `{self.unique}`.`rows` "
                f"WHERE id = {int(key)} ORDER BY __version DESC LIMIT 1"
            ).result_rows
            return None if not rows else (rows[0][0], bool(rows[0][1]))
        version = self.redis.get(f"{self.unique}:{key}{VERSION_SUFFIX}")
        if version is None:
            return None
        return int(version), not self.redis.exists(f"{self.unique}:{key}")

    def drop_iceberg_table(self) -> None:
        """Drop the test's Iceberg table from its catalog when it exists; through the REST
        catalog purge it (the server deletes its files) and remove its directory."""
        from pyiceberg.catalog import load_catalog

        catalog = load_catalog(self.unique, **self.iceberg_props())
        if not catalog.table_exists((self.unique, "rows")):
            return
        if self.kind not in REST:
            catalog.drop_table((self.unique, "rows"))
            if self.kind == "iceberg_s3":
                delete_s3_prefix(self.unique)
            return
        location = urlparse(catalog.load_table((self.unique, "rows")).location())
        catalog.purge_table((self.unique, "rows"))
        if location.scheme == "file" and location.path.endswith(f"/{self.unique}/rows"):
            shutil.rmtree(Path(location.path).parent, ignore_errors=True)
        if location.scheme == "s3":
            delete_s3_prefix(self.unique, REST_ROOT)

    def drop_iceberg_namespace(self) -> None:
        """Drop the test's table and namespace from the REST catalog (kinds in REST)."""
        from pyiceberg.catalog import load_catalog

        self.drop_iceberg_table()
        catalog = load_catalog(self.unique, **self.iceberg_props())
        if (self.unique,) in catalog.list_namespaces():
            catalog.drop_namespace(self.unique)

    def drop_opensearch_index(self) -> None:
        """Delete the test's index when it exists (its documents and tombstones with it)."""
        self.opensearch.indices.delete(index=self.unique.lower(), ignore_unavailable=True)

    def _opensearch_docs(self, index: str) -> list[tuple[int, dict[str, Any]]]:
        """``(_version, _source)`` of every document of ``index``, after a refresh."""
        self.opensearch.indices.refresh(index=index)
        body = {"size": 10_000, "version": True, "query": {"match_all": {}}}
        hits = self.opensearch.search(index=index, body=body)["hits"]["hits"]
        return [(int(h["_version"]), h["_source"]) for h in hits]

    def _opensearch_tombstone(self, index: str, doc_id: str) -> tuple[int, bool] | None:
        """The version of ``doc_id``'s delete tombstone, or None when the node has none.

        A delete with ``version_type=external`` at version 0 is refused (409) by any stored
        version and the refusal names it; with no tombstone the probe itself leaves one at
        version 0 (older than every version a test writes, so it changes no outcome)."""
        try:
            self.opensearch.delete(
                index=index, id=doc_id, params={"version": 0, "version_type": "external"}
            )
        except ConflictError as exc:
            found = re.search(r"current version \[(\d+)\]", str(exc.info))
            assert found is not None, exc.info
            return int(found.group(1)), True
        except NotFoundError:
            return None
        return None

    def _iceberg_rows(self) -> list[dict[str, Any]]:
        """Every row of the test's Iceberg table, tombstones included, via a fresh catalog."""
        from pyiceberg.catalog import load_catalog

        catalog = load_catalog(self.unique, **self.iceberg_props())
        table = catalog.load_table((self.unique, "rows"))
        rows: list[dict[str, Any]] = table.scan().to_arrow().to_pylist()
        return rows


def rest_catalog_url() -> str:
    """The stack's Iceberg REST catalog (the ``iceberg-rest`` service ``make up`` starts)."""
    return f"http://127.0.0.1:{os.environ.get('STREAMAPP_ICEBERG_REST_PORT') or 18181}"


def _from_text(ft: FieldType, value: Any) -> Any:
    """A Redis JSON/hash value back to the Python kind of the standard columns."""
    if value is None:
        return None
    if ft.kind is Kind.INT:
        return int(value)
    if ft.kind is Kind.DECIMAL:
        return Decimal(value)
    return value
