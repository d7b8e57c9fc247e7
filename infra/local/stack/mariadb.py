"""MariaDB 10.11 from Debian's mariadb-server: a project-owned server, ROW binlog, GTIDs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from common import (
    REPO,
    Config,
    SpawnedService,
    StackError,
    apt_install,
    ensure_port_free,
    is_root,
    run,
    say,
    spawn,
    wait_ready,
)

SAMPLE_SQL = REPO / "infra/local/source/mariadb_shop.sql"
SAMPLE_DB = "shop"

SETTINGS = """# written by infra/local/stack (streamapp local stack)
[mariadbd]
datadir = {datadir}
socket = {socket}
pid-file = {root}/mariadbd.pid
port = {port}
bind-address = 127.0.0.1
skip-name-resolve
log-error = {log}
server-id = 184054
log-bin = {root}/binlog/mariadb-bin
binlog_format = ROW
binlog_row_image = FULL
binlog_expire_logs_seconds = 604800
gtid_domain_id = 0
gtid_strict_mode = ON
character-set-server = utf8mb4
collation-server = utf8mb4_unicode_ci
default-time-zone = '+00:00'
innodb_buffer_pool_size = 64M
performance_schema = OFF
max_connections = 200

[client]
socket = {socket}
"""


class MariaDB(SpawnedService):
    """``mariadbd`` on ``STREAMAPP_MARIADB_PORT`` with ``log_bin``, ``binlog_format=ROW``,
    ``binlog_row_image=FULL`` and ``gtid_strict_mode``; ``wait`` (a real query) then creates
    the user ``STREAMAPP_MARIADB_USER`` (all privileges, replication included, from
    127.0.0.1/localhost) and applies infra/local/source/mariadb_shop.sql to database ``shop``.
    """

    name = "mariadb"
    stop_grace = 60.0

    def __init__(self, cfg: Config) -> None:
        super().__init__(cfg)
        self.root = cfg.data(self.name)
        self.datadir = self.root / "db"
        self.conf = self.root / "my.cnf"
        self.socket = self.root / "mariadbd.sock"

    @property
    def address(self) -> str:
        return f"mysql://{self.cfg.mariadb_user}@127.0.0.1:{self.cfg.mariadb_port}/{SAMPLE_DB}"

    def prepare(self) -> None:
        if shutil.which("mariadbd") is None and not Path("/usr/sbin/mariadbd").exists():
            apt_install("mariadb-server")
        (self.root / "binlog").mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            SETTINGS.format(
                datadir=self.datadir,
                socket=self.socket,
                root=self.root,
                port=self.cfg.mariadb_port,
                log=self.log,
            )
        )
        if (self.datadir / "mysql").is_dir():
            return
        say(f"initialising MariaDB data directory in {self.datadir}")
        self.datadir.mkdir(parents=True, exist_ok=True)
        run(
            [
                _tool("mariadb-install-db"),
                f"--defaults-file={self.conf}",
                *self._user(),
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ],
            what="mariadb-install-db",
        )

    def _user(self) -> list[str]:
        # mariadbd refuses to run as root unless told to; the data dir then stays root's.
        return ["--user=root"] if is_root() else []

    def start(self) -> None:
        ensure_port_free(self.cfg.mariadb_port, self.name, "STREAMAPP_MARIADB_PORT")
        server = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        spawn(
            [server, f"--defaults-file={self.conf}", *self._user()],
            log=self.cfg.state_dir / "logs" / "mariadb.stdout.log",
            pidfile=self.pidfile,
        )

    def admin(self, sql: str, db: str | None = None) -> str:
        """Run ``sql`` as the server's root over its socket; tab-separated output."""
        cmd = [_tool("mariadb"), f"--defaults-file={self.conf}", "-uroot", "-N", "-B", "-e", sql]
        return run([*cmd, db] if db else cmd, what=f"mariadb {sql[:40]!r}")

    def query(self, sql: str) -> str:
        """Run ``sql`` as the stack's user over TCP (what clients and Debezium do)."""
        env = dict(os.environ, MYSQL_PWD=self.cfg.mariadb_password)
        return run(
            [
                _tool("mariadb"),
                "--no-defaults",
                "--protocol=tcp",
                "-h127.0.0.1",
                f"-P{self.cfg.mariadb_port}",
                f"-u{self.cfg.mariadb_user}",
                "--connect-timeout=3",
                "-N",
                "-B",
                "-e",
                sql,
            ],
            what=f"mariadb {sql[:40]!r}",
            env_=env,
        )

    def healthy(self) -> bool:
        try:
            return self.query("SELECT @@log_bin, @@binlog_format").split() == ["1", "ROW"]
        except StackError:
            return False

    def _socket_answers(self) -> bool:
        return self.admin("SELECT 1").strip() == "1"

    def wait(self) -> float:
        took = wait_ready(
            self.name,
            self._socket_answers,
            timeout=self.cfg.ready_timeout,
            log=self.log,
            alive=lambda: self.pid() is not None,
        )
        self._ensure_user()
        self.admin(SAMPLE_SQL.read_text())
        if not self.healthy():
            raise StackError(
                f"mariadb answers on its socket but not as {self.cfg.mariadb_user} on "
                f"127.0.0.1:{self.cfg.mariadb_port} with a ROW binlog; see {self.log}"
            )
        return took

    def _ensure_user(self) -> None:
        user, password = self.cfg.mariadb_user, self.cfg.mariadb_password
        quoted = password.replace("\\", "\\\\").replace("'", "\\'")
        statements = []
        for host in ("127.0.0.1", "localhost"):
            account = f"'{user}'@'{host}'"
            statements += [
                f"CREATE USER IF NOT EXISTS {account} IDENTIFIED BY '{quoted}'",
                f"ALTER USER {account} IDENTIFIED BY '{quoted}'",
                # Debezium needs SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE and
                # BINLOG MONITOR; tests create and drop their own databases.
                f"GRANT ALL PRIVILEGES ON *.* TO {account}",
            ]
        self.admin("; ".join(statements))

    def stop(self) -> None:
        super().stop()
        (self.root / "mariadbd.pid").unlink(missing_ok=True)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"{name} not found on PATH; install: apt-get install -y mariadb-server")
    return path
