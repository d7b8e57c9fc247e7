"""TLS for the stack's PostgreSQL: the server certificate, ``ssl = on`` and two TLS-only roles.

``configure`` (before a start, and on a running cluster too) copies the stack certificate
(``certs.issue(cfg, "postgres")``) and CA into the data dir, appends the ssl settings to
postgresql.conf and puts the roles' lines at the top of pg_hba.conf; ``apply`` (once the server
answers) creates the roles and reloads the configuration when it changed: a running server takes
both without a restart. Every other role keeps connecting with or without TLS (libpq's default
``sslmode=prefer`` now gets TLS).

The roles, for tests and as examples (files in ``<stack>/tls/``, mode 0600):
- ``streamapp_tls``: password in ``postgres-streamapp_tls.password``, ``hostssl`` only;
- ``streamapp_mtls``: a client certificate only (``postgres-streamapp-mtls.pem``/``.key``, whose
  CN is the role), ``hostssl ... cert``: the server checks the chain and that the CN names the role.
Both may create tables in the ``warehouse`` database's public schema.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import certs
from common import Config, StackError, is_root, tail
from kafkasasl import _secret

TLS_USER = "streamapp_tls"
MTLS_USER = "streamapp_mtls"
MARK = "# TLS roles: infra/local/stack/pgtls.py"
CONF = f"""
{MARK}
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
ssl_ca_file = 'root.crt'
ssl_min_protocol_version = 'TLSv1.2'
"""
# pg_hba.conf: first match wins, so these lines go above initdb's `host all all ...` lines.
HBA = f"""{MARK}
hostssl   all {TLS_USER}  127.0.0.1/32 scram-sha-256
hostssl   all {MTLS_USER} 127.0.0.1/32 cert
hostnossl all {TLS_USER},{MTLS_USER} all reject
local     all {TLS_USER},{MTLS_USER} reject
"""


def password_file(cfg: Config) -> Path:
    """The password of ``streamapp_tls`` (made once)."""
    path = certs.tls_dir(cfg) / f"postgres-{TLS_USER}.password"
    _secret(path)
    return path


class TlsSetup:
    """The TLS part of one cluster (``data``: its data dir)."""

    def __init__(self, cfg: Config, data: Path) -> None:
        self.cfg = cfg
        self.data = data
        self.changed = False

    def configure(self) -> None:
        """Certificates into the data dir, ssl settings, pg_hba lines; notes what changed."""
        cert, key = certs.issue(self.cfg, "postgres")
        certs.issue(self.cfg, f"postgres-{MTLS_USER.replace('_', '-')}", common_name=MTLS_USER)
        password_file(self.cfg)
        ca = certs.ca_file(self.cfg)
        for source, name in ((cert, "server.crt"), (key, "server.key"), (ca, "root.crt")):
            self._install(source, self.data / name)
        conf = self.data / "postgresql.conf"
        if MARK not in conf.read_text():
            with open(conf, "a") as fh:
                fh.write(CONF)
            self.changed = True
        hba = self.data / "pg_hba.conf"
        text = hba.read_text()
        if MARK not in text:
            hba.write_text(HBA + text)
            self.changed = True

    def _install(self, source: Path, target: Path) -> None:
        data = source.read_bytes()
        if target.exists() and target.read_bytes() == data:
            return
        target.write_bytes(data)
        target.chmod(0o600)
        if is_root():
            shutil.chown(target, "postgres", "postgres")
        self.changed = True

    def psql(self, script: str, db: str = "postgres") -> str:
        """Run ``script`` through psql's stdin (a password in it stays out of the process list)."""
        env = dict(os.environ, PGPASSWORD=self.cfg.pg_password, PGCONNECT_TIMEOUT="5")
        cmd = [str(self.cfg.pg_bin / "psql"), "-h", "127.0.0.1", "-p", str(self.cfg.pg_port),
               "-U", self.cfg.pg_user, "-d", db, "-XAtq", "-v", "ON_ERROR_STOP=1"]  # fmt: skip
        done = subprocess.run(cmd, input=script, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
            raise StackError(f"psql (TLS roles) failed: {last[0]}")
        return done.stdout

    def apply(self, log: Path) -> None:
        """Create or update the roles; reload when the configuration changed or TLS is off."""
        password = password_file(self.cfg).read_text().strip()
        roles = "".join(
            f"DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {role} LOGIN; END IF; END$$;\n"
            for role in (TLS_USER, MTLS_USER)
        )
        self.psql(
            f"{roles}ALTER ROLE {TLS_USER} PASSWORD '{password}';\n"
            "\\connect warehouse\n"
            f"GRANT USAGE, CREATE ON SCHEMA public TO {TLS_USER}, {MTLS_USER};\n"
        )
        if not self.changed and self.ssl_on():
            return
        self.psql("SELECT pg_reload_conf();")
        deadline = time.monotonic() + 10
        while not self.ssl_on():
            if time.monotonic() > deadline:
                raise StackError(
                    f"postgres did not turn TLS on after a reload (ssl_cert_file/ssl_key_file in "
                    f"{self.data}); last lines of {log}:\n{tail(log)}"
                )
            time.sleep(0.2)
        self.changed = False

    def ssl_on(self) -> bool:
        return self.psql("SHOW ssl;").strip() == "on"

    def details(self) -> list[tuple[str, bool]]:
        """`status` lines: TLS on, and how the TLS-only roles connect."""
        on = self.ssl_on()
        ca = certs.ca_file(self.cfg)
        return [
            (f"  tls       {'on' if on else 'OFF'} (CA {ca})", on),
            (f"  roles     {TLS_USER} (hostssl, password in {password_file(self.cfg)}), "
             f"{MTLS_USER} (client certificate)", True),
        ]  # fmt: skip
