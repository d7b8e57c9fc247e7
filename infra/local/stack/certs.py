"""Certificates signed by the local stack's CA, for every TLS service and client of the stack.

The CA is the one the SASL_SSL listener made (``<stack>/kafka-sasl/ca.pem``, see kafkasasl.py),
so a test trusts one file for every service. ``issue(cfg, name)`` writes ``<name>.pem`` and
``<name>.key`` (PEM, key unencrypted, mode 0600) into ``<stack>/tls/``: a certificate for
127.0.0.1 and localhost, usable by a server and as a client certificate (mTLS). Made once.
"""

from __future__ import annotations

import re
from pathlib import Path

from common import Config, require_tool, run, say
from kafkasasl import ensure_certificates, sasl_dir


def ca_file(cfg: Config) -> Path:
    """The stack CA's certificate (made with the SASL_SSL listener's certificates if missing)."""
    ensure_certificates(sasl_dir(cfg))
    return sasl_dir(cfg) / "ca.pem"


def tls_dir(cfg: Config) -> Path:
    folder = cfg.state_dir / "tls"
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def issue(cfg: Config, name: str, common_name: str = "localhost") -> tuple[Path, Path]:
    """(certificate, key) named ``name`` signed by the stack CA, for 127.0.0.1 and localhost,
    with serverAuth and clientAuth usage; made once."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise ValueError(f"certificate name {name!r}: use lower-case letters, digits and '-'")
    ca = ca_file(cfg)
    folder = tls_dir(cfg)
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    if cert.exists() and key.exists():
        return cert, key
    openssl = require_tool("openssl", "install openssl (apt-get install -y openssl)")
    say(f"issuing the stack certificate {name!r} in {folder}")
    csr, ext = folder / f"{name}.csr", folder / f"{name}.ext"
    ext.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n"
    )
    run([openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
         "-subj", f"/CN={common_name}"], what="openssl req")  # fmt: skip
    run([openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca),
         "-CAkey", str(ca.with_name("ca.key")), "-CAcreateserial", "-out", str(cert),
         "-days", "3650", "-extfile", str(ext)], what="openssl x509")  # fmt: skip
    key.chmod(0o600)
    return cert, key
