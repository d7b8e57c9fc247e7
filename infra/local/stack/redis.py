"""Redis from Debian's redis-server package, append-only so a restart keeps the cache.

Next to the plaintext port, a TLS port (STREAMAPP_REDIS_TLS_PORT, default 16380) serves the stack
certificate (certs.py; client certificates optional, checked against the stack CA when sent),
and an ACL user ``streamapp_tls`` (password in ``<stack>/tls/redis-streamapp_tls.password``,
mode 0600) may do everything; the default user stays password-less on both ports. The TLS
settings and the user are in ``<stack>/tls/redis.conf`` (0600, so the password is in no process
list); a server started with other settings is ``outdated`` and restarted by ``make up``.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import certs
from common import Config, SpawnedService, apt_install, ensure_port_free, env, port_open, spawn
from kafkasasl import _secret

TLS_USER = "streamapp_tls"
TLS_CONF = """# written by infra/local/stack/redis.py
tls-port {port}
tls-cert-file {cert}
tls-key-file {key}
tls-ca-cert-file {ca}
tls-auth-clients optional
user {user} on >{password} ~* &* +@all
"""


class Redis(SpawnedService):
    name = "redis"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.data = cfg.data(self.name)
        self.tls_port = int(env("STREAMAPP_REDIS_TLS_PORT", "16380"))
        self.stamp = cfg.pidfile(self.name).with_suffix(".config")

    @property
    def address(self) -> str:
        return f"redis://127.0.0.1:{self.cfg.redis_port}/0"

    def prepare(self) -> None:
        if shutil.which("redis-server") is None:
            apt_install("redis-server")
        self.data.mkdir(parents=True, exist_ok=True)
        self._tls_conf()

    def _tls_conf(self) -> str:
        """``<stack>/tls/redis.conf`` (TLS port, certificate, ACL user), written when it changed;
        returns its path."""
        cert, key = certs.issue(self.cfg, "redis")
        folder = certs.tls_dir(self.cfg)
        password = _secret(folder / f"redis-{TLS_USER}.password")
        text = TLS_CONF.format(port=self.tls_port, cert=cert, key=key, ca=certs.ca_file(self.cfg),
                               user=TLS_USER, password=password)  # fmt: skip
        conf = folder / "redis.conf"
        if not conf.exists() or conf.read_text() != text:
            conf.touch(mode=0o600)
            conf.chmod(0o600)
            conf.write_text(text)
        return str(conf)

    def _command(self) -> list[str]:
        server = shutil.which("redis-server") or "redis-server"
        return [
            server,
            self._tls_conf(),  # a config file comes first; the options below override it
            "--port",
            str(self.cfg.redis_port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--daemonize",
            "no",
            "--protected-mode",
            "yes",
            "--maxmemory-policy",
            "noeviction",
        ]

    def _fingerprint(self) -> str:
        """What the server runs with: its command line and config file."""
        command = self._command()
        text = "\0".join(command) + "\0" + Path(command[1]).read_text()
        return hashlib.sha256(text.encode()).hexdigest()

    def outdated(self) -> str | None:
        """Why a running server must be restarted (started with other settings), or None."""
        if self.stamp.exists() and self.stamp.read_text().strip() == self._fingerprint():
            return None
        return "runs with older settings (TLS port, ACL user)"

    def start(self) -> None:
        ensure_port_free(self.cfg.redis_port, self.name, "STREAMAPP_REDIS_PORT")
        ensure_port_free(self.tls_port, self.name, "STREAMAPP_REDIS_TLS_PORT")
        self.stamp.parent.mkdir(parents=True, exist_ok=True)
        self.stamp.write_text(self._fingerprint() + "\n")
        spawn(self._command(), log=self.log, pidfile=self.pidfile)

    def details(self) -> list[tuple[str, bool]]:
        """`status` line of the TLS port."""
        up = port_open(self.tls_port)
        password = certs.tls_dir(self.cfg) / f"redis-{TLS_USER}.password"
        return [
            (f"  tls       rediss://{TLS_USER}@127.0.0.1:{self.tls_port}/0 "
             f"{'(password in ' + str(password) + ')' if up else 'NOT LISTENING'}", up),
        ]  # fmt: skip

    def healthy(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.cfg.redis_port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                pong = sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False
        return pong and port_open(self.tls_port)
