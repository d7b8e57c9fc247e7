"""PostgreSQL 15 from Debian's binaries: a project-owned cluster with wal_level=logical and TLS.

TLS (``ssl = on``, the stack certificate from certs.py) is offered to every client and required
from two roles of its own (``hostssl`` only, see pgtls.py); plaintext stays open for the others.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from common import (
    Config,
    StackError,
    apt_install,
    ensure_port_free,
    is_root,
    read_pid,
    run,
    say,
    tail,
    wait_ready,
)
from pgtls import TlsSetup

DATABASES = ("source", "warehouse", "registry")

SETTINGS = """
# written by infra/local/stack (streamapp local stack)
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sockdir}'
wal_level = logical
max_wal_senders = 10
max_replication_slots = 10
max_connections = 200
shared_buffers = 128MB
log_min_messages = warning
"""


class Postgres:
    name = "postgres"

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.bin = cfg.pg_bin
        self.data = self._data_dir()
        self.sockdir = self.data.parent / "postgres-socket"
        self.tls = TlsSetup(cfg, self.data)
        # The server writes its own log, so it lives where the postgres user can write; when the
        # cluster was relocated (see _data_dir), .stack/logs/postgres.log links to it.
        self.log = (
            cfg.log(self.name)
            if self.data == cfg.data(self.name)
            else (self.data.parent / "postgres.log")
        )

    def _data_dir(self) -> Path:
        """The cluster lives under the stack dir; when we run as root and the server's user
        cannot reach that path (e.g. a clone under a 0700 temp dir), it lives under /var/tmp
        and the stack dir holds a symlink to it."""
        wanted = self.cfg.data(self.name)
        if not is_root() or _reachable_by_postgres(wanted.parent):
            return wanted
        digest = hashlib.sha1(str(wanted).encode()).hexdigest()[:10]
        return Path("/var/tmp/streamapp-postgres") / digest / "cluster"

    @property
    def address(self) -> str:
        return f"postgresql://{self.cfg.pg_user}@127.0.0.1:{self.cfg.pg_port}"

    def _as_server_user(self, cmd: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *cmd] if is_root() else cmd

    def prepare(self) -> None:
        if not (self.bin / "initdb").exists():
            apt_install("postgresql-15")
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        self.tls.configure()

    def _initdb(self) -> None:
        say(f"initialising PostgreSQL cluster in {self.data}")
        self.data.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if is_root():
            run(
                ["chown", "-R", "postgres:postgres", str(self.data), str(self.sockdir)],
                what="chown postgres data dir",
            )
        pwfile = self.data.parent / ".pw"
        pwfile.write_text(self.cfg.pg_password + "\n")
        if is_root():
            run(["chown", "postgres", str(pwfile)], what="chown pwfile")
        try:
            run(
                self._as_server_user(
                    [
                        str(self.bin / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        self.cfg.pg_user,
                        f"--pwfile={pwfile}",
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                what="initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        conf = SETTINGS.format(port=self.cfg.pg_port, sockdir=self.sockdir)
        with open(self.data / "postgresql.conf", "a") as fh:
            fh.write(conf)
        with open(self.data / "pg_hba.conf", "a") as fh:
            fh.write("host replication all 127.0.0.1/32 scram-sha-256\n")
        if self.cfg.data(self.name) != self.data:
            for link, target in (
                (self.cfg.data(self.name), self.data),
                (self.cfg.log(self.name), self.log),
            ):
                link.parent.mkdir(parents=True, exist_ok=True)
                if not link.is_symlink():
                    link.symlink_to(target)

    def pid(self) -> int | None:
        return read_pid(self.data / "postmaster.pid")

    def start(self) -> None:
        ensure_port_free(self.cfg.pg_port, self.name, "STREAMAPP_PG_PORT")
        self.sockdir.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        if is_root():
            run(["chown", "postgres", str(self.sockdir)], what="chown socket dir")
            self.log.touch()
            run(["chown", "postgres", str(self.log)], what="chown log")
        # pg_ctl -w waits until the server accepts connections, or says why it did not;
        # readiness is then confirmed by a real query in wait().
        cmd = [
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            str(int(self.cfg.ready_timeout)),
            "-o",
            f"-p {self.cfg.pg_port} -c port={self.cfg.pg_port}",
            "start",
        ]
        try:
            run(self._as_server_user(cmd), what="pg_ctl start")
        except StackError as exc:
            raise StackError(f"{exc}; last lines of {self.log}:\n{tail(self.log)}") from None

    def query(self, sql: str, db: str = "postgres") -> str:
        env = dict(os.environ, PGPASSWORD=self.cfg.pg_password, PGCONNECT_TIMEOUT="3")
        return run(
            [
                str(self.bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.cfg.pg_port),
                "-U",
                self.cfg.pg_user,
                "-d",
                db,
                "-XAtqc",
                sql,
            ],
            what=f"psql {sql[:40]!r}",
            env_=env,
        )

    def healthy(self) -> bool:
        try:
            return self.query("select 1").strip() == "1"
        except StackError:
            return False

    def wait(self) -> float:
        took = wait_ready(self.name, self.healthy, timeout=self.cfg.ready_timeout, log=self.log)
        self._ensure_databases()
        self.tls.apply(self.log)
        return took

    def details(self) -> list[tuple[str, bool]]:
        """`status` lines: whether TLS is on, and the TLS-only roles."""
        return self.tls.details()

    def _ensure_databases(self) -> None:
        have = set(self.query("select datname from pg_database").split())
        for db in DATABASES:
            if db not in have:
                self.query(f'create database "{db}"')

    def stop(self) -> None:
        if self.pid() is None:
            return
        run(
            self._as_server_user(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "fast",
                    "-w",
                    "-t",
                    "60",
                    "stop",
                ]
            ),
            what="pg_ctl stop",
        )


def _reachable_by_postgres(path: Path) -> bool:
    """True when the postgres user can traverse every directory down to ``path``."""
    probe = path
    while not probe.exists():
        probe = probe.parent
    return all(
        subprocess.run(
            ["runuser", "-u", "postgres", "--", "test", "-x", str(p)], capture_output=True
        ).returncode
        == 0
        for p in [probe, *probe.parents]
    )
