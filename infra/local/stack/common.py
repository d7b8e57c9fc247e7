"""Shared plumbing for the local stack: configuration, processes, ports, readiness, errors."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


class StackError(Exception):
    """A one-line, actionable failure; the CLI prints it and exits 1."""


def env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Config:
    """Every knob of the local stack; each has an env var (same names as streamapp/settings.py)."""

    state_dir: Path
    cache_dir: Path
    kafka_port: int
    kafka_controller_port: int
    kafka_sasl_port: int
    kafka_mtls_port: int
    kafka_heap: str
    registry_port: int
    registry_heap: str
    pg_port: int
    pg_user: str
    pg_password: str
    pg_bin: Path
    redis_port: int
    mariadb_port: int
    mariadb_user: str
    mariadb_password: str
    connect_port: int
    connect_heap: str
    connectors: tuple[str, ...]
    registry_tls_port: int
    connect_tls_port: int
    iceberg_rest_port: int
    iceberg_rest_tls_port: int
    iceberg_rest_s3_port: int
    s3_port: int
    ready_timeout: float

    @classmethod
    def from_env(cls) -> Config:
        return cls(
            state_dir=Path(env("STREAMAPP_STACK_DIR", str(REPO / ".stack"))).resolve(),
            cache_dir=Path(env("STREAMAPP_CACHE_DIR", str(Path.home() / ".cache/streamapp"))),
            kafka_port=int(env("STREAMAPP_KAFKA_PORT", "19092")),
            kafka_controller_port=int(env("STREAMAPP_KAFKA_CONTROLLER_PORT", "19093")),
            kafka_sasl_port=int(env("STREAMAPP_KAFKA_SASL_PORT", "19094")),
            kafka_mtls_port=int(env("STREAMAPP_KAFKA_MTLS_PORT", "19095")),
            kafka_heap=env("STREAMAPP_KAFKA_HEAP", "768m"),
            registry_port=int(env("STREAMAPP_REGISTRY_PORT", "18081")),
            registry_heap=env("STREAMAPP_REGISTRY_HEAP", "384m"),
            pg_port=int(env("STREAMAPP_PG_PORT", "15432")),
            pg_user=env("STREAMAPP_PG_USER", "streamapp"),
            pg_password=env("STREAMAPP_PG_PASSWORD", "streamapp"),
            pg_bin=Path(env("STREAMAPP_PG_BIN", "/usr/lib/postgresql/15/bin")),
            redis_port=int(env("STREAMAPP_REDIS_PORT", "16379")),
            mariadb_port=int(env("STREAMAPP_MARIADB_PORT", "13306")),
            mariadb_user=env("STREAMAPP_MARIADB_USER", "streamapp"),
            mariadb_password=env("STREAMAPP_MARIADB_PASSWORD", "streamapp"),
            connect_port=int(env("STREAMAPP_CONNECT_PORT", "18083")),
            connect_heap=env("STREAMAPP_CONNECT_HEAP", "512m"),
            connectors=_names(env("STREAMAPP_CONNECT_CONNECTORS", "shop")),
            # The authenticating TLS proxy (authproxy.py); by default 363 above the port it
            # fronts (18444, 18446, 18544), so a stack moved to other ports moves its proxy along.
            registry_tls_port=_above(
                "STREAMAPP_REGISTRY_TLS_PORT", int(env("STREAMAPP_REGISTRY_PORT", "18081"))
            ),
            connect_tls_port=_above(
                "STREAMAPP_CONNECT_TLS_PORT", int(env("STREAMAPP_CONNECT_PORT", "18083"))
            ),
            iceberg_rest_port=int(env("STREAMAPP_ICEBERG_REST_PORT", "18181")),
            iceberg_rest_tls_port=_above(
                "STREAMAPP_ICEBERG_REST_TLS_PORT", int(env("STREAMAPP_ICEBERG_REST_PORT", "18181"))
            ),
            iceberg_rest_s3_port=int(
                env(
                    "STREAMAPP_ICEBERG_REST_S3_PORT",
                    str(int(env("STREAMAPP_ICEBERG_REST_PORT", "18181")) + 1),
                )
            ),
            s3_port=int(env("STREAMAPP_S3_PORT", "19000")),
            ready_timeout=float(env("STREAMAPP_READY_TIMEOUT", "180")),
        )

    def data(self, name: str) -> Path:
        return self.state_dir / "data" / name

    def log(self, name: str) -> Path:
        return self.state_dir / "logs" / f"{name}.log"

    def pidfile(self, name: str) -> Path:
        return self.state_dir / "run" / f"{name}.pid"


def _above(name: str, fronted: int) -> int:
    """The port env var ``name`` sets, by default 363 above the port it fronts."""
    return int(env(name, str(fronted + 363)))


def _names(value: str) -> tuple[str, ...]:
    """A comma-separated list of names; ``none`` is the empty list."""
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    return () if names == ("none",) else names


def say(message: str) -> None:
    print(f"stack: {message}", flush=True)


def require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise StackError(f"{name} not found on PATH; {hint}")
    return path


def is_root() -> bool:
    return os.geteuid() == 0


def apt_install(*packages: str) -> None:
    """Install Debian packages (root only); used for PostgreSQL, Redis, MariaDB when missing."""
    if not is_root():
        raise StackError(
            f"missing {' '.join(packages)}; install with: sudo apt-get install -y "
            + " ".join(packages)
        )
    say(f"installing {' '.join(packages)} from Debian packages")
    env_ = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", *packages]):
        done = subprocess.run(cmd, env=env_, capture_output=True, text=True)
        if done.returncode != 0:
            raise StackError(f"{' '.join(cmd)} failed: {done.stderr.strip().splitlines()[-1:]}")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); treat it as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def ensure_port_free(port: int, service: str, env_var: str) -> None:
    if port_open(port):
        raise StackError(
            f"port {port} for {service} is taken by another process (see `ss -ltnp "
            f"'sport = :{port}'`); stop it or set {env_var} to a free port"
        )


def spawn(
    cmd: list[str],
    *,
    log: Path,
    pidfile: Path,
    env_: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start a detached process in its own session (so `down` can end its whole group)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env_,
            cwd=cwd,
        )
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


def stop_pid(pid: int, name: str, grace: float = 30.0) -> None:
    """SIGTERM the process group, wait for it, SIGKILL what is left after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(pid, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            if not pid_alive(pid) and not group_alive(pid):
                return
            time.sleep(0.1)
        if sig == signal.SIGTERM:
            say(f"{name} did not stop in {grace:.0f}s; killing it")
    raise StackError(f"{name} (pid {pid}) survived SIGKILL")


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log yet)"
    return "\n".join("    " + line for line in text[-lines:])


def wait_ready(
    name: str,
    check: Callable[[], bool],
    *,
    timeout: float,
    log: Path,
    alive: Callable[[], bool] | None = None,
) -> float:
    """Poll ``check`` (a real round trip) until it passes; fail with the log tail otherwise."""
    start = time.monotonic()
    delay = 0.1
    while True:
        try:
            if check():
                return time.monotonic() - start
        except Exception:  # noqa: BLE001 - any failure of a probe means "not ready yet"
            pass
        if alive is not None and not alive():
            raise StackError(f"{name} exited during start-up; last lines of {log}:\n{tail(log)}")
        if time.monotonic() - start > timeout:
            raise StackError(
                f"{name} did not become ready within {timeout:.0f}s (raise "
                f"STREAMAPP_READY_TIMEOUT if the machine is slow); "
                f"last lines of {log}:\n{tail(log)}"
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)


def run(
    cmd: list[str],
    *,
    what: str,
    env_: dict[str, str] | None = None,
    cwd: Path | None = None,
    quiet: bool = True,
) -> str:
    done = subprocess.run(cmd, capture_output=quiet, text=True, env=env_, cwd=cwd)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout or "").strip().splitlines()[-5:] if quiet else []
        raise StackError(f"{what} failed (exit {done.returncode}): {' | '.join(detail)}")
    return done.stdout if quiet else ""


def fail(message: str) -> None:
    print(f"stack: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


class SpawnedService:
    """A service this stack runs as its own detached process, tracked by a pid file.

    Subclasses set ``name``, implement ``start`` (spawn into ``self.log``/``self.pidfile``) and
    ``healthy`` (a real round trip); ``wait`` and ``stop`` are shared.
    """

    name = "service"
    stop_grace = 30.0

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.log = cfg.log(self.name)
        self.pidfile = cfg.pidfile(self.name)

    def healthy(self) -> bool:
        raise NotImplementedError

    def pid(self) -> int | None:
        return read_pid(self.pidfile)

    def wait(self) -> float:
        return wait_ready(
            self.name,
            self.healthy,
            timeout=self.cfg.ready_timeout,
            log=self.log,
            alive=lambda: self.pid() is not None,
        )

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, self.name, grace=self.stop_grace)
        self.pidfile.unlink(missing_ok=True)


class FingerprintedService(SpawnedService):
    """A spawned service restarted by ``up`` when what it would start with changed: subclasses
    return it (jars, settings, secrets as digests) from ``fingerprint``; ``start`` calls
    ``record_start`` before it spawns."""

    def fingerprint(self) -> str:
        raise NotImplementedError

    @property
    def started(self) -> Path:
        """What the running process was started with."""
        return self.cfg.data(self.name) / "started"

    def record_start(self) -> None:
        self.started.parent.mkdir(parents=True, exist_ok=True)
        self.started.write_text(self.fingerprint())

    def outdated(self) -> str | None:
        """Why the running process must be restarted: other jars, code or settings than now, else
        None."""
        started = self.started.read_text() if self.started.exists() else ""
        if started != self.fingerprint():
            return "runs with other jars, code or settings"
        return None
