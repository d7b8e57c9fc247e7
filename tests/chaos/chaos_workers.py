"""Worker and generator processes of a chaos case, with a supervisor that restarts crashed workers.

A ``Workers`` set runs ``streamapp worker`` subprocesses (one log file each, appended across
restarts). The suite stops (SIGTERM) or kills (SIGKILL) them on purpose; a worker that exits
on its own is a *crash*: the supervisor (``supervise``, called by the Watch every half second)
records its exit code and last error line and restarts it after a back-off (1, 2, 4 .. 10 s),
as an orchestrator would. Crashes end up in the case's notes; they do not fail a case by
themselves, what they leave behind does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ERROR_MARKS = ("Traceback", "ERROR", "CRITICAL", "Error:", "error:")


def last_error(log: Path, since: int = 0) -> str:
    """The last line of ``log`` after byte ``since`` that looks like an error ('' if none)."""
    try:
        with open(log, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if any(mark in lines[i] for mark in ERROR_MARKS):
            return lines[i][:300]
    return ""


def tail(log: Path, lines: int = 30) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


@dataclass
class Worker:
    """One replica slot: its current process, its log and what happened to it."""

    index: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0
    log_offset: int = 0  # where the current process's log output begins
    crashes: list[str] = field(default_factory=list)
    wanted: bool = False  # should be running (False after stop/kill by the suite)
    restart_at: float | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None


class Workers:
    """The case's worker processes; thread-safe (the Watch thread supervises them)."""

    def __init__(self, env: Callable[[], dict[str, str]], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.slots: list[Worker] = []
        self._lock = threading.RLock()
        self.before_kill: Callable[[], None] = lambda: None
        self.mark: Callable[[str], None] = lambda what: None

    def pids(self) -> list[int]:
        with self._lock:
            return [w.pid for w in self.slots if w.pid is not None]

    def start(self, index: int | None = None) -> Worker:
        """Start the worker of slot ``index`` (a new slot when None)."""
        with self._lock:
            if index is None:
                index = len(self.slots)
                self.slots.append(Worker(index, self.folder / f"worker-{index}.log"))
            w = self.slots[index]
            self.mark(f"worker {index}: start #{w.starts + 1}")
            w.starts += 1
            w.wanted = True
            w.restart_at = None
            with open(w.log, "ab") as out:
                out.write(f"=== chaos: start #{w.starts} at {time.strftime('%H:%M:%S')}\n".encode())
                w.log_offset = out.tell()
                w.proc = subprocess.Popen(
                    [sys.executable, "-m", "streamapp", "worker", "--batch-max-wait", "0.05"],
                    env=self.env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            return w

    def kill(self, index: int) -> None:
        """SIGKILL: no flush, no commit, no leaving the group."""
        self.before_kill()
        with self._lock:
            w = self.slots[index]
            w.wanted = False
            if w.proc is not None and w.proc.poll() is None:
                self.mark(f"worker {index}: SIGKILL")
                w.proc.send_signal(signal.SIGKILL)
                w.proc.wait(30)

    def stop(self, index: int, timeout: float = 90.0) -> str:
        """SIGTERM and wait; '' on a clean stop, else what went wrong (then it is killed)."""
        with self._lock:
            w = self.slots[index]
            w.wanted = False
            proc = w.proc
        if proc is None or proc.poll() is not None:
            return ""
        self.mark(f"worker {index}: SIGTERM")
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
            return f"worker {index} ignored SIGTERM for {timeout:.0f}s and was killed"
        return "" if code == 0 else f"worker {index} stopped with exit code {code}"

    def stop_all(self) -> list[str]:
        return [p for p in (self.stop(w.index) for w in list(self.slots)) if p]

    def supervise(self) -> None:
        """Record and restart workers that exited on their own (called periodically)."""
        now = time.monotonic()
        with self._lock:
            for w in self.slots:
                if not w.wanted or w.proc is None:
                    continue
                code = w.proc.poll()
                if code is not None and w.restart_at is None:
                    reason = last_error(w.log, w.log_offset) or "no error line in its log"
                    w.crashes.append(f"exit {code}: {reason}")
                    self.mark(f"worker {w.index}: exited on its own, {w.crashes[-1][:200]}")
                    w.restart_at = now + min(10.0, 2.0 ** (len(w.crashes) - 1))
                elif code is not None and w.restart_at is not None and now >= w.restart_at:
                    self.start(w.index)

    def crash_notes(self) -> list[str]:
        notes = []
        for w in self.slots:
            if w.crashes:
                first = w.crashes[0]
                notes.append(
                    f"worker {w.index} exited {len(w.crashes)}x on its own; first: {first}"
                )
        return notes


class Generator:
    """`streamapp generate --rate N --schema S --seed N` as a subprocess."""

    def __init__(self, schema: str, rate: float, seed: int, log: Path) -> None:
        self.schema, self.rate, self.seed, self.log = schema, rate, seed, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streamapp",
                    "generate",
                    "--rate",
                    str(self.rate),
                    "--schema",
                    self.schema,
                    "--seed",
                    str(self.seed),
                ],
                env=dict(os.environ),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> str:
        """SIGTERM (the transaction in flight commits); '' when it stopped cleanly."""
        if self.proc is None:
            return ""
        if self.proc.poll() is not None:
            return f"the generator had exited with {self.proc.returncode}: {last_error(self.log)}"
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return "the generator ignored SIGTERM"
        return "" if code == 0 else f"the generator exited with {code}: {last_error(self.log)}"
