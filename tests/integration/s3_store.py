"""The stack's S3 store (the ``s3`` service ``make up`` starts, S3Proxy) for the tests that put an
Iceberg warehouse on object storage: its address and key from the stack's knobs, Settings
pointing the SQL catalog's warehouse at ``s3://<bucket>/tests/<unique>``, and the clean-up.

S3Proxy takes no uploads in ``aws-chunked`` encoding with a trailing checksum, which pyarrow's AWS
SDK sends by default: a process writing to it needs AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED
(CHECKSUM_ENV), read when an S3 client is made.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

from streamapp.settings import Settings

CHECKSUM_ENV = {"AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_REQUIRED"}


@dataclass(frozen=True)
class StackS3:
    """The stack's S3 store (the ``s3`` service ``make up`` starts) and its key."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str

    @classmethod
    def from_env(cls) -> StackS3:
        port = os.environ.get("STREAMAPP_S3_PORT") or "19000"
        return cls(
            f"http://127.0.0.1:{port}",
            os.environ.get("STREAMAPP_S3_ACCESS_KEY") or "streamapp",
            os.environ.get("STREAMAPP_S3_SECRET_KEY") or "streamapp-secret",
            os.environ.get("STREAMAPP_S3_BUCKET") or "lake",
        )

    def properties(self, **override: str) -> str:
        """STREAMAPP_ICEBERG_PROPERTIES reaching this store (``override`` replaces keys)."""
        props = {
            "s3.endpoint": self.endpoint,
            "s3.access-key-id": self.access_key,
            "s3.secret-access-key": self.secret_key,
            "s3.region": "us-east-1",
            **override,
        }
        return ",".join(f"{k}={v}" for k, v in props.items())

    def filesystem(self) -> Any:
        """A pyarrow S3 filesystem on this store (needs AWS_REQUEST_CHECKSUM_CALCULATION, see
        infra/local/stack/s3.py)."""
        from pyarrow import fs

        return fs.S3FileSystem(
            access_key=self.access_key,
            secret_key=self.secret_key,
            endpoint_override=self.endpoint,
            region="us-east-1",
        )


def s3_settings(settings: Settings, unique: str, **override: str) -> Settings:
    """``settings`` with the SQL catalog's warehouse at s3://<bucket>/tests/<unique>."""
    s3 = StackS3.from_env()
    return dataclasses.replace(
        settings,
        iceberg_warehouse=f"s3://{s3.bucket}/tests/{unique}",
        iceberg_properties=s3.properties(**override),
    )


def rest_s3_settings(settings: Settings) -> Settings:
    """``settings`` with the stack's REST catalog whose warehouse is on the S3 store (its
    tables under s3://<bucket>/rest/<namespace>, REST_ROOT) and this store's key for the data
    files the client writes."""
    port = os.environ.get("STREAMAPP_ICEBERG_REST_S3_PORT") or str(
        int(os.environ.get("STREAMAPP_ICEBERG_REST_PORT") or "18181") + 1
    )
    return dataclasses.replace(
        settings,
        iceberg_catalog_uri=f"http://127.0.0.1:{port}",
        iceberg_properties=StackS3.from_env().properties(),
    )


REST_ROOT = "rest"  # the REST catalog's S3 warehouse (infra/local/stack/icebergrest.py)


def objects(unique: str, root: str = "tests") -> list[str]:
    """The paths of the objects under s3://<bucket>/<root>/<unique>."""
    from pyarrow import fs

    s3 = StackS3.from_env()
    found = s3.filesystem().get_file_info(
        fs.FileSelector(f"{s3.bucket}/{root}/{unique}", allow_not_found=True, recursive=True)
    )
    return [info.path for info in found if info.type == fs.FileType.File]


def delete_s3_prefix(unique: str, root: str = "tests") -> None:
    """Delete the objects a test wrote under s3://<bucket>/<root>/<unique>, one DELETE each:
    S3Proxy fails the batch DeleteObjects of recent AWS SDKs (which send a CRC checksum where it
    expects Content-MD5; the REST server's S3FileIO deletes in batches, so a purge there leaves
    the files behind)."""
    store = StackS3.from_env().filesystem()
    for path in objects(unique, root):
        store.delete_file(path)


def use_checksum_env(monkeypatch: Any) -> None:
    """Set CHECKSUM_ENV in this process (S3 clients made from now on read it)."""
    for name, value in CHECKSUM_ENV.items():
        monkeypatch.setenv(name, value)
