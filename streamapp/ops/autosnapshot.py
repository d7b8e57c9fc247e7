"""Heal a gap: an incremental snapshot of the topic's table, run and followed by the worker.

``on_gap="snapshot"`` lands here. The table is the one of Debezium's topic name
``<topic.prefix>.<schema>.<table>``; the connector is the one in Kafka Connect whose topic
prefix and include lists give that table. The snapshot itself is `streamapp snapshot
--wait`'s machinery (``ops/snapshotrun.py``): the signal row, then the connector's offsets
followed to the end, the re-delivered rows counted. It runs in a thread beside the worker's
event loop (nothing of it blocks the loop), one snapshot per table at a time: a gap found
after the running snapshot's signal was written queues a single re-run after it, since rows
whose changes were lost after the running snapshot passed them would stay stale (gaps found
before the signal, e.g. in several partitions at one assignment, share the one snapshot).
A failed attempt is retried with backoff, ``attempts`` times in all; then it gives up with
one ERROR line that says what to run. A completed snapshot is handed to ``on_done`` (the
worker's stray sweep, ``runtime/sweep.py``: rows deleted during the gap are in no snapshot)
before a queued re-run starts.
PostgreSQL connectors only: snapshotrun refuses MySQL/MariaDB connectors (their signal table
would work the same way in Debezium; streamapp does not write to it yet).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence

from streamapp.ops import OpsError
from streamapp.ops.connect import POSTGRES_CONNECTOR, ConnectAuth, ConnectClient, ConnectorConfig
from streamapp.ops.snapshot import table_of_topic
from streamapp.settings import Settings

log = logging.getLogger("streamapp.heal")
Note = Callable[[str, str], object]  # (topology, one line) -> the healing log
Done = Callable[[str, str], Awaitable[object]]  # (topology, topic) after a completed snapshot


class Refused(OpsError):
    """No retry helps: no connector, several, or one streamapp cannot signal."""


class Stopped(Exception):
    """The worker is stopping: the snapshot goes on in the connector, unfollowed."""


def connector_for(configs: Sequence[ConnectorConfig], topic: str) -> tuple[ConnectorConfig, str]:
    """(connector, ``schema.table``) of the one connector that writes ``topic``; OpsError
    (one line) when none or several do, or when it is not a PostgreSQL connector."""
    found = []
    for config in configs:
        table = table_of_topic(topic, config.topic_prefix or config.name)
        if table is not None and config.captures(table):
            found.append((config, table))
    if not found:
        names = ", ".join(c.name for c in configs) or "none"
        raise Refused(
            f"no connector in Kafka Connect writes topic {topic!r} as "
            f"<topic.prefix>.<schema>.<table> (connectors: {names}); re-read the table with "
            "`streamapp snapshot schema.table --connector NAME`"
        )
    if len(found) > 1:
        names = ", ".join(c.name for c, _ in found)
        raise Refused(f"several connectors write topic {topic!r} ({names}); snapshot it by hand")
    config, table = found[0]
    if config.connector_class != POSTGRES_CONNECTOR:
        raise Refused(
            f"connector {config.name!r} ({config.connector_class or '?'}) writes {topic!r}: "
            "streamapp writes snapshot signals to PostgreSQL sources only; insert an "
            f"execute-snapshot signal for {table} into its signal table yourself"
        )
    return config, table


class AutoSnapshot:
    """Runs gap-healing snapshots in the background (see the module docstring).

    Guarantees: ``request`` never blocks and never raises; at most one snapshot per topic
    runs, plus at most one queued re-run; ``close`` stops following (the snapshot itself
    goes on in the connector) and waits for the background tasks to end.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        note: Note | None = None,
        timeout: float = 3600.0,
        attempts: int = 3,
        backoff: float = 15.0,
        on_done: Done | None = None,
    ) -> None:
        self.settings = settings
        self.note = note
        self.on_done = on_done
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._signalled: set[str] = set()  # topics whose running snapshot's signal is written
        self._stop = threading.Event()

    @property
    def running(self) -> list[str]:
        """Topics whose table is being snapshotted now."""
        return sorted(self._tasks)

    def request(self, topology: str, topic: str) -> None:
        """Snapshot ``topic``'s table for ``topology`` (or once more after the running one)."""
        if topic in self._tasks:
            if topic not in self._signalled:
                return  # its signal is not written yet: the snapshot to come covers this gap
            if topic not in self._again:
                self._again.add(topic)
                log.info(
                    "auto-snapshot for topology %s: one of %s is running; another follows it",
                    topology,
                    topic,
                )
            return
        task = asyncio.ensure_future(self._run(topology, topic))
        self._tasks[topic] = task

    async def _run(self, topology: str, topic: str) -> None:
        try:
            while not self._stop.is_set():
                await self._attempts(topology, topic)
                if topic not in self._again:
                    break
                self._again.discard(topic)
        finally:
            self._tasks.pop(topic, None)

    async def _attempts(self, topology: str, topic: str) -> None:
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            try:
                await asyncio.to_thread(self._snapshot, topology, topic)
            except Stopped:
                return
            except Refused as exc:
                log.error("auto-snapshot of %s for topology %s: %s", topic, topology, exc)
                self._note(topology, f"snapshot of {topic} refused: {exc}")
                return
            except (OpsError, OSError) as exc:
                last = attempt == self.attempts
                text = (
                    f"auto-snapshot of {topic} for topology {topology} failed "
                    f"(attempt {attempt} of {self.attempts}): {exc}"
                )
                if last:
                    log.error("%s; giving up: run `streamapp snapshot` for it by hand", text)
                    self._note(topology, f"snapshot of {topic} gave up: {exc}")
                    return
                log.warning("%s; retrying in %.0fs", text, delay)
            else:
                if self.on_done is not None and not self._stop.is_set():
                    await self.on_done(topology, topic)  # must not raise: the sweep logs
                return
            await asyncio.sleep(delay)
            delay *= 2

    def _snapshot(self, topology: str, topic: str) -> None:
        """One attempt, in a worker thread: find the connector, signal, follow to the end."""
        self._signalled.discard(topic)
        from streamapp.ops.snapshotrun import SnapshotRequest, run_snapshot

        client = ConnectClient(
            self.settings.connect_url, auth=ConnectAuth.from_settings(self.settings)
        )
        configs = [client.config(name) for name in client.connectors()]
        config, table = connector_for(configs, topic)
        lines: list[str] = []

        def out(line: str) -> None:
            lines.append(line)
            if line.startswith("execute-snapshot"):
                self._signalled.add(topic)
            if line.startswith(("execute-snapshot", "snapshot done")):
                return
            log.debug("auto-snapshot of %s: %s", table, line.strip())

        def sleep(seconds: float) -> None:
            if self._stop.wait(seconds):
                raise Stopped

        log.info(
            "auto-snapshot of %s for topology %s started (connector %s)",
            table,
            topology,
            config.name,
        )
        self._note(topology, f"snapshot of {table} started (connector {config.name})")
        request = SnapshotRequest((table,), config.name, wait=True, timeout=self.timeout)
        run_snapshot(self.settings, request, lambda name: name, out, sleep=sleep)
        done = next((ln for ln in lines if ln.startswith("snapshot done")), "snapshot done")
        done = done.replace("snapshot done: ", "")
        log.info("auto-snapshot of %s for topology %s completed: %s", table, topology, done)
        self._note(topology, f"snapshot of {table} completed: {done}")

    def _note(self, topology: str, text: str) -> None:
        if self.note is not None:
            self.note(topology, text)

    async def close(self) -> None:
        """Stop following the running snapshots (their threads end at their next look)."""
        self._stop.set()
        tasks = list(self._tasks.values())
        if tasks:
            await asyncio.wait(tasks, timeout=10)
