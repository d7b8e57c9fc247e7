"""Iceberg with its warehouse on object storage (the stack's S3 store, see s3_store): what only a
store exercises. The worker's pre-flight writes and deletes a probe object under the warehouse,
so a wrong key, a missing bucket, an unreachable endpoint or a store that refuses the SDK's
uploads is one line naming what to fix before the worker starts (at the first commit it would be
retried without end). The contract cases run on S3 in test_sinks_contract (kind ``iceberg_s3``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from s3_store import CHECKSUM_ENV, StackS3, delete_s3_prefix, objects, s3_settings, use_checksum_env
from sinks_harness import closed_port

from streamapp.errors import ConfigError
from streamapp.observability.health import sink_preflight, sink_probe
from streamapp.settings import Settings

WRONG = "not-the-secret-7f3a"


@pytest.fixture
def checksum_env(monkeypatch: pytest.MonkeyPatch, unique: str) -> Iterator[None]:
    use_checksum_env(monkeypatch)
    yield
    delete_s3_prefix(unique)


def test_preflight_writes_a_probe_object_and_check_shows_the_warehouse(
    stack: Settings, unique: str, checksum_env: None
) -> None:
    settings = s3_settings(stack, unique)
    probe = sink_probe("iceberg", settings)
    assert probe is not None
    s3 = StackS3.from_env()
    assert probe().endswith(f"warehouse s3://{s3.bucket}/tests/{unique} writable")
    sink_preflight(settings, ["iceberg"])  # no error
    assert objects(unique) == []  # the probe object is gone again


@pytest.mark.parametrize(
    ("override", "bucket", "expected"),
    [
        ({"s3.secret-access-key": WRONG}, None, "check s3.access-key-id and s3.secret-access-key"),
        ({}, "no-such-bucket", "create the bucket, or fix STREAMAPP_ICEBERG_WAREHOUSE"),
        ({"s3.endpoint": "CLOSED"}, None, "check s3.endpoint in STREAMAPP_ICEBERG_PROPERTIES"),
    ],
    ids=["wrong-secret", "missing-bucket", "unreachable-endpoint"],
)
def test_preflight_names_what_to_fix_when_the_store_refuses(
    stack: Settings,
    unique: str,
    checksum_env: None,
    override: dict[str, str],
    bucket: str | None,
    expected: str,
) -> None:
    if override.get("s3.endpoint") == "CLOSED":
        override = {"s3.endpoint": f"http://127.0.0.1:{closed_port()}"}
    settings = s3_settings(stack, unique, **override)
    if bucket is not None:
        settings = dataclasses.replace(settings, iceberg_warehouse=f"s3://{bucket}/x")
    with pytest.raises(ConfigError) as err:
        sink_preflight(settings, ["iceberg"])
    message = str(err.value)
    assert message.startswith("iceberg sink: warehouse s3://"), message
    assert expected in message and "\n" not in message, message
    assert WRONG not in message and StackS3.from_env().secret_key not in message


def test_a_store_that_refuses_trailing_checksums_is_named_with_the_fix(
    stack: Settings, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED pyarrow's SDK uploads in
    aws-chunked encoding with a trailing CRC, which S3Proxy (as older MinIO and Ceph) refuses."""
    for name in CHECKSUM_ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as err:
        sink_preflight(s3_settings(stack, unique), ["iceberg"])
    assert "set AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED" in str(err.value), err.value
    delete_s3_prefix(unique)


def test_a_rest_catalog_keeps_metadata_and_data_on_the_store(
    stack: Settings, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The common production shape: a REST catalog whose warehouse is on object storage. The
    server writes the table's metadata there (S3FileIO), the sink its data files with its own
    ``s3.*`` properties; a fresh catalog reads the rows back. The contract cases run on it in
    test_sinks_contract (kind ``iceberg_rest_s3``)."""
    import asyncio

    from pyiceberg.catalog import load_catalog
    from s3_store import REST_ROOT, rest_s3_settings
    from sinks_harness import record

    from streamapp.sinks.base import TableSpec
    from streamapp.sinks.iceberg import IcebergSink
    from streamapp.types import parse_type

    use_checksum_env(monkeypatch)
    settings = rest_s3_settings(stack)
    props, _ = settings.iceberg_catalog()
    spec = TableSpec("s3", f"{unique}.rows", ("id",), {"id": parse_type("int")})

    async def body() -> None:
        sink = IcebergSink(props, commit_interval=0.1, name=unique)
        await sink.start()
        try:
            await sink.write(spec, [record(1, 1), record(2, 1)])
            await sink.write(spec, [record(1, 2, deleted=True)])
        finally:
            await sink.close()

    catalog = load_catalog(unique, **props)
    try:
        sink_preflight(settings, ["iceberg"])
        asyncio.run(body())
        table = catalog.load_table((unique, "rows"))
        s3 = StackS3.from_env()
        assert table.location() == f"s3://{s3.bucket}/{REST_ROOT}/{unique}/rows"
        rows = table.scan().to_arrow().to_pylist()
        assert {r["id"]: r["__deleted"] for r in rows} == {1: True, 2: False}
        stored = objects(unique, REST_ROOT)
        assert any(p.endswith(".metadata.json") for p in stored)  # written by the server
        assert any(p.endswith(".parquet") for p in stored)  # written by the sink
    finally:
        if catalog.table_exists((unique, "rows")):
            catalog.purge_table((unique, "rows"))
        if (unique,) in catalog.list_namespaces():
            catalog.drop_namespace(unique)
        delete_s3_prefix(unique, REST_ROOT)
