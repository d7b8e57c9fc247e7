"""What the chaos run measures while a case runs: consumer lag, worker memory, recovery time.

A ``Watch`` samples, every ``interval`` seconds in a daemon thread, the end offsets of the
case's change topics and the committed offsets of its consumer group (real round trips to
Kafka; a sample that fails while the broker is down is skipped), and the peak resident memory
(``VmHWM`` in /proc/<pid>/status, the kernel's own high-water mark) of every worker process it
is told about. It also runs the ``tick`` callback it is given (the worker supervisor).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from streamapp.ops import OpsError
from streamapp.ops.kafka import Kafka
from streamapp.settings import Settings

TP = tuple[str, int]

# librdkafka logs every refused reconnect while a broker restarts: not what the run prints
QUIET = logging.getLogger("streamapp.chaos.librdkafka")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


def quiet(config: dict[str, Any]) -> dict[str, Any]:
    """A confluent-kafka client config whose log lines go nowhere (errors still raise)."""
    return {**config, "logger": QUIET}


class QuietKafka(Kafka):
    """streamapp's ops Kafka helper with clients that do not log to stderr."""

    def __init__(self, settings: Settings, *, timeout: float = 15.0) -> None:
        from confluent_kafka.admin import AdminClient

        super().__init__(settings, timeout=timeout)
        self.admin = AdminClient(quiet({"bootstrap.servers": settings.kafka_bootstrap}))

    @property
    def consumer(self) -> Any:
        if self._consumer is None:
            from confluent_kafka import Consumer

            self._consumer = Consumer(
                quiet(
                    {
                        "bootstrap.servers": self.bootstrap,
                        "group.id": "streamapp-chaos-metadata",
                        "enable.auto.commit": False,
                    }
                )
            )
        return self._consumer


@dataclass(frozen=True, slots=True)
class Offsets:
    """One sample: per partition the end offset and the group's committed offset (0: none)."""

    at: float
    ends: dict[TP, int]
    committed: dict[TP, int]

    @property
    def lag(self) -> int:
        return sum(max(0, end - self.committed.get(tp, 0)) for tp, end in self.ends.items())

    def covers(self, targets: dict[TP, int]) -> bool:
        """True when the group has committed at least ``targets`` on every partition."""
        return all(self.committed.get(tp, 0) >= end for tp, end in targets.items())

    def flowing(self, at_end: dict[TP, int]) -> bool:
        """Recovered from a fault that ended when the ends were ``at_end``: everything up to
        then is committed, and every partition that got new records since has some of them
        committed too (so a partition still held by a dead member does not pass)."""
        for tp, end in at_end.items():
            done = self.committed.get(tp, 0)
            if done < end or (self.ends.get(tp, end) > end and done <= end):
                return False
        return True


def vm_hwm_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM) in KiB; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class Watch:
    """Samples lag and worker memory for one case (see the module docstring)."""

    def __init__(
        self,
        bootstrap: str,
        group: str,
        topics: Sequence[str],
        *,
        pids: Callable[[], list[int]],
        tick: Callable[[], None] = lambda: None,
        interval: float = 0.5,
    ) -> None:
        self.kafka = QuietKafka(
            Settings.from_env({**os.environ, "STREAMAPP_KAFKA_BOOTSTRAP": bootstrap}), timeout=3.0
        )
        self.group = group
        self.topics = list(topics)
        self.pids = pids
        self.tick = tick
        self.interval = interval
        self.peak_kib = 0
        self.last: Offsets | None = None
        self.errors = 0
        self._parts: list[TP] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"watch-{group}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)
        self.kafka.close()

    def sample_rss(self) -> None:
        """Read every worker's high-water mark now (also called right before a SIGKILL)."""
        for pid in self.pids():
            self.peak_kib = max(self.peak_kib, vm_hwm_kib(pid))

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024

    def offsets(self) -> Offsets:
        """A fresh sample (OpsError when Kafka does not answer)."""
        with self._lock:
            if not self._parts:
                self._parts = [(t, p) for t in self.topics for p in self.kafka.partitions(t)]
            ends = {tp: self.kafka.watermarks(*tp)[1] for tp in self._parts}
            found = self.kafka.committed(self.group, self._parts)
        committed = {tp: off or 0 for tp, (off, _meta) in found.items()}
        sample = Offsets(time.monotonic(), ends, committed)
        self.last = sample
        return sample

    def ends(self, timeout: float = 120.0) -> dict[TP, int]:
        """The end offsets now, retried while Kafka does not answer (a broker restarting)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return dict(self.offsets().ends)
            except OpsError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def wait_covered(
        self, targets: dict[TP, int], timeout: float, *, flowing: bool = False
    ) -> float | None:
        """Seconds until the group committed ``targets`` everywhere (and, with ``flowing``,
        moves on every partition that got more since: see Offsets.flowing); None after
        ``timeout``."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                sample = self.offsets()
                if sample.flowing(targets) if flowing else sample.covers(targets):
                    return time.monotonic() - started
            except OpsError:
                pass
            time.sleep(0.25)
        return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample_rss()
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the supervisor reports its own failures
                self.errors += 1
            try:
                self.offsets()
            except OpsError:
                self.errors += 1
