"""The local stack's SASL_SSL listener: a CA and a broker certificate clients can verify."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

STACK = Path(__file__).resolve().parents[2] / "infra" / "local" / "stack"


@pytest.fixture(scope="module")
def kafkasasl() -> Iterator[ModuleType]:
    """infra/local/stack/kafkasasl.py (its ``common`` lent for the import)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("common", "kafkasasl"):
            spec = importlib.util.spec_from_file_location(name, STACK / f"{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            mp.setitem(sys.modules, name, module)
            spec.loader.exec_module(module)
        yield module


def test_broker_certificate_verifies_against_the_ca_for_127_0_0_1(
    kafkasasl: ModuleType, tmp_path: Path
) -> None:
    keystore, password = kafkasasl.ensure_certificates(tmp_path / "sasl")
    folder = tmp_path / "sasl"
    assert keystore.exists() and (folder / "keystore.password").read_text().strip() == password
    assert oct((folder / "keystore.password").stat().st_mode & 0o777) == "0o600"
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(folder / "ca.pem"), "-verify_ip", "127.0.0.1",
         str(folder / "broker.pem")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout + verify.stderr
    wrong = subprocess.run(
        ["openssl", "verify", "-CAfile", str(folder / "ca.pem"), "-verify_hostname",
         "kafka.example.com", str(folder / "broker.pem")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert wrong.returncode != 0  # the certificate names only 127.0.0.1 and localhost
    listed = subprocess.run(
        ["openssl", "pkcs12", "-in", str(keystore), "-passin", f"pass:{password}", "-nokeys"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert listed.returncode == 0 and "BEGIN CERTIFICATE" in listed.stdout, listed.stderr
    # made once: a second call keeps the same keystore and password
    assert kafkasasl.ensure_certificates(folder) == (keystore, password)


def test_listener_properties_enable_scram_and_acls(
    kafkasasl: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMAPP_STACK_DIR", str(tmp_path))
    cfg = sys.modules["common"].Config.from_env()
    text = kafkasasl.listener_properties(cfg)
    assert "listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512" in text
    assert "StandardAuthorizer" in text and "super.users=User:ANONYMOUS" in text
    assert str(tmp_path / "kafka-sasl" / "broker.p12") in text
