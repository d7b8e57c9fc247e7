"""Redis from Debian's redis-server package, append-only so a restart keeps the cache."""

from __future__ import annotations

import shutil
import socket

from common import Config, SpawnedService, apt_install, ensure_port_free, spawn


class Redis(SpawnedService):
    name = "redis"

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.data = cfg.data(self.name)

    @property
    def address(self) -> str:
        return f"redis://127.0.0.1:{self.cfg.redis_port}/0"

    def prepare(self) -> None:
        if shutil.which("redis-server") is None:
            apt_install("redis-server")
        self.data.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        ensure_port_free(self.cfg.redis_port, self.name, "STREAMAPP_REDIS_PORT")
        server = shutil.which("redis-server") or "redis-server"
        spawn(
            [
                server,
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
            ],
            log=self.log,
            pidfile=self.pidfile,
        )

    def healthy(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.cfg.redis_port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False
