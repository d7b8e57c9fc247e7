"""The worker and the ops commands through the stack's mTLS listener (SSL, client certificate
required; principal User:CN=kafka-client), and one actionable line without a client certificate.

The listener is STREAMAPP_KAFKA_MTLS_PORT (default 19095); its client certificate is the stack's
``<stack>/tls/kafka-client.pem`` (infra/local/stack/kafka.py issues it, kafkasasl.py grants it
ACLs). Topics are provisioned over the PLAINTEXT listener, as for the SASL_SSL tests.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connectivity_env import REGISTRY_TLS_PORT, SASL_DIR
from ops_harness import OpsHarness, row
from worker_harness import consume_all, wait_until

from streamapp.settings import Settings

MTLS_PORT = int(os.environ.get("STREAMAPP_KAFKA_MTLS_PORT", "") or "19095")
TLS_DIR = SASL_DIR.parent / "tls"


def mtls_env() -> dict[str, str]:
    """The STREAMAPP_KAFKA_* settings of the stack's client certificate on the mTLS listener."""
    return {
        "STREAMAPP_KAFKA_BOOTSTRAP": f"127.0.0.1:{MTLS_PORT}",
        "STREAMAPP_KAFKA_SECURITY_PROTOCOL": "SSL",
        "STREAMAPP_KAFKA_SSL_CA_FILE": str(SASL_DIR / "ca.pem"),
        "STREAMAPP_KAFKA_SSL_CERT_FILE": str(TLS_DIR / "kafka-client.pem"),
        "STREAMAPP_KAFKA_SSL_KEY_FILE": str(TLS_DIR / "kafka-client.key"),
    }


class MtlsHarness(OpsHarness):
    """An OpsHarness whose worker and CLI reach Kafka only through the mTLS listener."""

    overrides: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **mtls_env(), **self.overrides}


@pytest.fixture(scope="session")
def mtls_listener(stack: Settings) -> Path:
    """The client certificate's folder; fails (never skips) without the listener."""
    from streamapp.observability.health import check_all

    needed = [SASL_DIR / "ca.pem", TLS_DIR / "kafka-client.pem", TLS_DIR / "kafka-client.key"]
    missing = [p for p in needed if not p.exists()]
    if missing:
        pytest.fail(f"no mTLS listener files ({missing[0]}): run `make up`", pytrace=False)
    settings = Settings.from_env({**os.environ, **mtls_env()})
    kafka = next(c for c in check_all(settings) if c.service == "kafka")
    if not kafka.ok:
        pytest.fail(f"mTLS listener at {kafka.address}: {kafka.detail}", pytrace=False)
    return TLS_DIR


@pytest.fixture
def mtls(mtls_listener: Path, provisioned: Callable[..., Any]) -> MtlsHarness:
    h: MtlsHarness = provisioned(MtlsHarness)
    h.overrides = {}
    return h


def test_worker_status_and_dlq_list_through_mtls(mtls: MtlsHarness, pg_warehouse: Any) -> None:
    for i in range(1, 11):
        mtls.send("c", after=row(i), lsn=i)
    mtls.send("c", after=row(11, qty="x"), lsn=11)  # one record for the DLQ
    mtls.flush()
    mtls.start()
    wait_until(lambda: len(mtls.pg_rows(pg_warehouse)) == 10, what="10 rows", harness=mtls)
    assert len(consume_all(mtls.settings, mtls.output, expect=10)) == 10
    assert len(consume_all(mtls.settings, mtls.dlq, expect=1)) == 1
    ends = mtls.ends()
    wait_until(lambda: mtls.committed() == ends, what="offsets committed", harness=mtls)

    check = mtls.cli("check")
    kafka = next(x for x in check.stdout.splitlines() if x.split()[1:2] == ["kafka"])
    assert kafka.startswith("ok ") and f"127.0.0.1:{MTLS_PORT}" in kafka, check.stdout

    status = mtls.cli("status", mtls.unique)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"group '{mtls.unique}-group': Stable, 1 member(s): " in status.stdout
    assert re.search(r"^  total +0$", status.stdout, re.M), status.stdout

    listing = mtls.cli("dlq", "list", mtls.unique)
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert "TransformError" in listing.stdout, listing.stdout
    assert mtls.stop() == 0


@pytest.mark.parametrize("command", [("status",), ("dlq", "list"), ("worker",)])
def test_no_client_certificate_is_one_line_naming_the_setting(
    mtls: MtlsHarness, command: tuple[str, ...]
) -> None:
    mtls.overrides = {"STREAMAPP_KAFKA_SSL_CERT_FILE": "", "STREAMAPP_KAFKA_SSL_KEY_FILE": ""}
    args = (*command, mtls.unique) if command != ("worker",) else command
    done = mtls.cli(*args, timeout=120)
    assert done.returncode != 0
    errors = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, done.stderr[-2000:]
    assert "STREAMAPP_KAFKA_SSL_CERT_FILE" in errors[0], errors[0]
    assert "client certificate" in errors[0], errors[0]
    assert "Traceback" not in done.stderr


def test_key_password_and_bearer_token_sentinels_appear_nowhere(
    mtls: MtlsHarness, pg_warehouse: Any, tmp_path: Path
) -> None:
    """The two secret settings the SASL sentinel test cannot carry: an encrypted client key's
    password (the worker and commands connect with it over mTLS) and a registry bearer token
    (refused by the stack's proxy: the one-line error names the setting, never the token)."""
    import subprocess

    sentinel = "Sentinel-KeyPw-7f3a9c-" + mtls.unique[-6:]
    encrypted = tmp_path / "client-encrypted.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(TLS_DIR / "kafka-client.key"), "-aes256",
         "-passout", f"pass:{sentinel}", "-out", str(encrypted)],
        check=True, capture_output=True,
    )  # fmt: skip
    mtls.overrides = {
        "STREAMAPP_KAFKA_SSL_KEY_FILE": str(encrypted),
        "STREAMAPP_KAFKA_SSL_KEY_PASSWORD": sentinel,
        "STREAMAPP_LOG_LEVEL": "DEBUG",
    }
    for i in range(1, 6):
        mtls.send("c", after=row(i), lsn=i)
    mtls.flush()
    mtls.start()
    wait_until(lambda: len(mtls.pg_rows(pg_warehouse)) == 5, what="5 rows", harness=mtls)
    outputs = {name: mtls.cli(*args) for name, args in (
        ("settings", ("settings",)), ("check", ("check",)), ("status", ("status", mtls.unique)),
    )}  # fmt: skip
    assert mtls.stop() == 0
    kafka = next(x for x in outputs["check"].stdout.splitlines() if x.split()[1:2] == ["kafka"])
    assert kafka.startswith("ok "), outputs["check"].stdout
    mtls.overrides = {
        "STREAMAPP_REGISTRY_URL": f"https://127.0.0.1:{REGISTRY_TLS_PORT}/apis/ccompat/v7",
        "STREAMAPP_REGISTRY_CA_FILE": str(SASL_DIR / "ca.pem"),
        "STREAMAPP_REGISTRY_BEARER_TOKEN": sentinel,
    }
    refused = mtls.cli("check")
    line = next(x for x in refused.stdout.splitlines() if x.split()[1:2] == ["registry"])
    assert "STREAMAPP_REGISTRY_BEARER_TOKEN" in line, refused.stdout
    outputs["check (bearer refused)"] = refused
    outputs["settings (bearer)"] = mtls.cli("settings")
    texts = {name: done.stdout + done.stderr for name, done in outputs.items()}
    texts["worker log"] = mtls.log.read_text(errors="replace")
    for name, text in texts.items():
        assert sentinel not in text, f"the sentinel appears in {name}"
