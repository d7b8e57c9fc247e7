"""The local stack's S3 store (S3Proxy): its pom, launch and the secret key's whereabouts."""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from stack_scripts import STACK, load

SECRET = "s3-secret-5b1d"


@pytest.fixture(scope="module")
def s3mod() -> Iterator[ModuleType]:
    """infra/local/stack/s3.py with the script directory's modules lent for the import."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("common", "kafkasasl", "certs", "pgtls", "kafka"):
            load(mp, name, STACK / f"{name}.py")
        yield load(mp, "stack_s3", STACK / "s3.py")


@pytest.fixture()
def store(s3mod: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    for name in ("STREAMAPP_S3_PORT", "STREAMAPP_S3_HEAP", "STREAMAPP_S3_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STREAMAPP_STACK_DIR", str(tmp_path / "stack"))
    monkeypatch.setenv("STREAMAPP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("STREAMAPP_S3_SECRET_KEY", SECRET)
    return s3mod.S3(sys.modules["common"].Config.from_env())


def test_the_pom_resolves_the_version_the_script_names(s3mod: ModuleType) -> None:
    version = re.search(
        r"<artifactId>s3proxy</artifactId>\s*<version>(.+?)<", s3mod.POM.read_text()
    )
    assert version is not None and version.group(1) == s3mod.S3PROXY_VERSION


def test_the_secret_key_is_only_in_an_owner_only_file(
    s3mod: ModuleType, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(s3mod, "ensure_port_free", lambda *a: None)
    monkeypatch.setattr(s3mod, "require_tool", lambda name, hint: f"/usr/bin/{name}")
    monkeypatch.setattr(s3mod, "spawn", lambda cmd, **kw: seen.update(cmd=cmd, **kw))
    store.data.mkdir(parents=True)
    store.start()
    assert store.port == 19000 and "s3proxy.endpoint=http://127.0.0.1:19000" in store.properties()
    assert SECRET not in " ".join(seen["cmd"])  # `ps` shows the command line
    assert SECRET not in store.started.read_text()  # the restart fingerprint holds a digest
    assert f"s3proxy.credential={SECRET}" in store.conf.read_text()
    assert stat.S_IMODE(os.stat(store.conf).st_mode) == 0o600


def test_a_new_key_restarts_the_running_store(
    s3mod: ModuleType, store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.data.mkdir(parents=True)
    store.started.write_text(store.fingerprint())
    assert store.outdated() is None
    monkeypatch.setattr(store, "secret_key", "rotated")
    assert store.outdated() == "runs with other jars, code or settings"


def test_requests_are_signed_with_signature_v4(s3mod: ModuleType) -> None:
    headers = s3mod.sigv4_headers("GET", "http://127.0.0.1:19000/lake?list-type=2", b"", "AK", "SK")
    auth = headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AK/")
    assert (
        "/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, " in auth
    )
    assert re.search(r"Signature=[0-9a-f]{64}$", auth)
    assert headers["x-amz-content-sha256"] == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # sha256 of b""
    )


def test_up_starts_it_with_the_other_services_and_first(s3mod: ModuleType) -> None:
    with pytest.MonkeyPatch.context() as mp:
        for name in ("postgres", "registry", "redis", "mariadb", "connect", "authproxy", "devkey"):
            load(mp, name, STACK / f"{name}.py")
        for name in ("opensearch", "s3", "icebergrest"):
            load(mp, name, STACK / f"{name}.py")
        main = load(mp, "stack_main", STACK / "__main__.py")
        assert "s3" in main.ORDER and "s3" not in main.NEEDS  # needs no other service
