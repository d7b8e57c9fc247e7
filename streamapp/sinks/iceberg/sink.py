"""Iceberg sink: version-guarded upserts with tombstones, group-committed at most once per interval.

A *deferred* sink (guarantee 5 of ``sinks/base.py``): the pipeline ``stage``s each batch (content
checks, records kept in the table's open group in memory) and marks the batch's offsets
processed when ``barrier`` resolves, i.e. when a snapshot holding its records is committed. All
batches staged for one table between two commits make one snapshot, and two commits of one
table start at least ``commit_interval`` seconds apart, so the lane is never held for an interval
and the table gets one snapshot per interval, whatever the batch size. A table's open group
holds at most ``max_pending`` records: a stage past it waits for the next commit (backpressure).
A failed commit is retried with backoff by the sink itself (its records stay staged; versions
make a repeat idempotent). ``write`` is stage, then barrier: durable on return.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from streamapp.errors import ConfigError, SinkError
from streamapp.records import OutputRecord
from streamapp.settings import redact_url
from streamapp.sinks.base import Rejected, Sink, TableSpec, check_keys, collapse
from streamapp.sinks.iceberg import merge
from streamapp.sinks.iceberg.catalog import failure_hint
from streamapp.sinks.iceberg.schema import cells, iceberg_type, table_schema
from streamapp.sinks.values import checker

log = logging.getLogger(__name__)

_PROPS: Final = {
    # one metadata.json per commit: keep the last 100, delete older ones at commit
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "100",
}


@dataclass(slots=True)
class _Group:
    """Records waiting for one commit, and the future resolved when it is committed."""

    done: asyncio.Future[merge.CommitStats]
    records: list[OutputRecord] = field(default_factory=list)


@dataclass(slots=True)
class _TableState:
    """One table's pyiceberg handle, its open group, its newest group and its commit clock."""

    spec: TableSpec
    handle: Any
    checks: dict[str, Any]
    convert: dict[str, Any]
    open: _Group | None = None  # taking records; its commit task waits for the interval
    latest: _Group | None = None  # the newest group made (open or committing)
    last: float = float("-inf")  # when the last commit started (monotonic)
    now: asyncio.Event = field(default_factory=asyncio.Event)  # flush: commit without waiting
    failed: BaseException | None = None  # a commit that cannot succeed: every later one fails
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


RETRY_FIRST: Final = 0.5  # seconds before a failed commit is retried; doubles up to RETRY_MOST
RETRY_MOST: Final = 30.0


def _utf8(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    """``check``, and refuse a string Parquet cannot hold (a lone surrogate is not UTF-8)."""

    def both(v: Any) -> str | None:
        reason = check(v)
        if reason is None and type(v) is str and not v.isascii():
            try:
                v.encode()
            except UnicodeEncodeError:
                return "holds a string that is not valid UTF-8 (a lone surrogate)"
        return reason

    return both


def split_target(table: TableSpec) -> tuple[str, str]:
    """``"ns.name"`` -> (namespace, name); ConfigError unless exactly one dot separates them."""
    parts = table.target.split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"{table.where}: name the Iceberg table as 'namespace.table'")
    return parts[0], parts[1]


class IcebergSink(Sink):
    """Apache Iceberg tables through a pyiceberg catalog (SQL or REST); blocking calls run in
    threads. ``commit_interval``: least seconds between two snapshot commits of one table."""

    kind = "iceberg"
    deferred = True

    def __init__(
        self,
        properties: dict[str, str],
        *,
        commit_interval: float,
        max_pending: int = 200_000,
        name: str = "streamapp",
    ) -> None:
        self.properties = dict(properties)
        self.commit_interval = commit_interval
        self.max_pending = max_pending
        self.name = name
        self._catalog: Any = None
        self._tables: dict[str, _TableState] = {}  # by target: one interval per table
        self.last_stats: merge.CommitStats | None = None
        self._commits: set[asyncio.Task[None]] = set()  # the groups' _commit_later tasks

    def _where(self) -> str:
        return f"iceberg sink (catalog {redact_url(self.properties.get('uri', ''))})"

    async def start(self) -> None:
        if self._catalog is not None:
            return
        from pyiceberg.catalog import load_catalog

        try:
            self._catalog = await asyncio.to_thread(load_catalog, self.name, **self.properties)
        except Exception as exc:
            hint, retriable = failure_hint(exc)
            raise SinkError(
                f"{self._where()}: cannot open the catalog ({type(exc).__name__}); {hint}",
                retriable=retriable,
            ) from exc

    async def healthy(self) -> bool:
        try:
            await self.start()
            await asyncio.to_thread(self._catalog.list_namespaces)
            return True
        except Exception:  # noqa: BLE001 - healthy never raises
            return False

    async def close(self) -> None:
        for state in self._tables.values():
            group, state.open = state.latest, None
            if group is not None and not group.done.done():
                group.done.set_exception(SinkError(f"{self._where()}: closed before the commit"))
                group.done.exception()  # retrieved: nobody may be waiting any more
        for task in list(self._commits):
            task.cancel()  # a commit already in its thread still finishes there
        self._catalog = None
        self._tables.clear()

    # -- tables --------------------------------------------------------------------------------

    async def ensure_table(self, table: TableSpec) -> None:
        """Create namespace and table if missing; add new output columns (optional); idempotent."""
        await self.start()
        namespace, name = split_target(table)
        schema = table_schema(table)
        try:
            handle = await asyncio.to_thread(self._ensure, table, namespace, name, schema)
        except ConfigError:
            raise
        except Exception as exc:
            raise SinkError(
                f"{table.where}: creating or evolving the Iceberg table failed "
                f"({type(exc).__name__}: {str(exc)[:200]}); check the catalog and warehouse",
                retriable=True,
            ) from exc
        checks = {n: _utf8(checker(t)) for n, t in table.columns.items()}
        state = self._tables.get(table.target)
        if state is None:
            self._tables[table.target] = _TableState(table, handle, checks, cells(table.columns))
        else:  # a wider output schema: keep the table's open group and commit clock
            state.spec, state.handle, state.checks = table, handle, checks
            state.convert = cells(table.columns)

    def _ensure(self, table: TableSpec, namespace: str, name: str, schema: Any) -> Any:
        catalog = self._catalog
        catalog.create_namespace_if_not_exists(namespace)
        handle = catalog.create_table_if_not_exists((namespace, name), schema, properties=_PROPS)
        existing = {f.name for f in handle.schema().fields}
        missing_keys = [k for k in table.key_columns if k not in existing]
        if missing_keys:
            raise ConfigError(
                f"{table.where}: Iceberg table exists without key column(s) {missing_keys}; "
                "a key cannot be added, migrate the table by hand"
            )
        new = [n for n in table.columns if n not in existing]
        if new:
            with handle.update_schema() as update:
                for n in new:
                    update.add_column(n, iceberg_type(table, n, table.columns[n]))
            handle.refresh()
        return handle

    # -- writes --------------------------------------------------------------------------------

    def _state(self, table: TableSpec) -> _TableState | None:
        """The ensured state of ``table``; None when it was not ensured with these columns."""
        state = self._tables.get(table.target)
        if state is None or (state.spec is not table and state.spec != table):
            return None
        return state

    def precheck(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        """Records with a value their column cannot hold (wrong type, decimal too wide)."""
        state = self._state(table)
        if state is None:
            return []
        return self._split(state, records)[1]

    def _split(
        self, state: _TableState, records: Sequence[OutputRecord]
    ) -> tuple[list[OutputRecord], list[Rejected]]:
        valid, positions, rejected = check_keys(state.spec, records)
        good: list[OutputRecord] = []
        # checked after merging the batch per key, as the other sinks do: a refused merged row
        # is refused at every position merged into it, so no part of it is stored
        for r, p in zip(*collapse(valid, positions), strict=True):
            bad = None
            if not r.deleted:
                for n, v in r.value.items():
                    check = state.checks.get(n)
                    if check is not None and v is not None and n not in r.unchanged:
                        reason = check(v)
                        if reason is not None:
                            bad = (n, reason)
                            break
            if bad is None:
                good.append(r)
                continue
            msg = f"{state.spec.where}: column {bad[0]!r} {bad[1]}; fix the topology or the source"
            rejected.append(Rejected(p, SinkError(msg, field=bad[0])))
        return good, rejected

    async def write(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        """Stage ``records`` and wait for the snapshot holding them: durable on return."""
        rejected = await self.stage(table, records)
        self.last_stats = await self.barrier(table)
        return rejected

    async def stage(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        state = self._state(table)
        if state is None:
            await self.ensure_table(table)
            state = self._tables[table.target]
        good, rejected = self._split(state, records)
        if not good:
            return rejected
        while state.open is not None and len(state.open.records) >= self.max_pending:
            await asyncio.shield(state.open.done)  # full: wait for its commit (backpressure)
        if state.failed is not None:
            raise self._failure(state, state.failed)
        group = state.open
        if group is None:
            loop = asyncio.get_running_loop()
            group = state.open = state.latest = _Group(loop.create_future())
            task = loop.create_task(self._commit_later(state, group))
            self._commits.add(task)
            task.add_done_callback(self._commits.discard)
        group.records.extend(good)
        if self.metrics is not None:
            self.metrics.sink_pending.labels(*self.labels(state.spec)).inc(len(good))
        return rejected

    def barrier(self, table: TableSpec) -> asyncio.Future[merge.CommitStats]:
        """Done when the newest group of ``table`` (so every group before it: commits of one
        table run one at a time, in order, and stop at the first that cannot succeed) is
        committed; already done when nothing was ever staged for it."""
        state = self._tables.get(table.target)
        if state is None or state.latest is None:
            done: asyncio.Future[merge.CommitStats] = asyncio.get_running_loop().create_future()
            done.set_result(merge.CommitStats(0, 0, 0, None))
            return done
        return asyncio.ensure_future(asyncio.shield(state.latest.done))

    async def flush(self) -> None:
        """Commit every table's open group now and wait for it (revocation, stop)."""
        waits = []
        for state in self._tables.values():
            if state.latest is not None and not state.latest.done.done():
                state.now.set()
                waits.append(asyncio.shield(state.latest.done))
        for fut in asyncio.as_completed(waits):
            self.last_stats = await fut

    def _failure(self, state: _TableState, exc: BaseException) -> SinkError:
        return SinkError(
            f"{state.spec.where}: the Iceberg commit failed ({type(exc).__name__}: "
            f"{str(exc)[:200]}); the batches since the last commit are re-delivered",
            retriable=False,
        )

    async def _commit_later(self, state: _TableState, group: _Group) -> None:
        """Commit ``group`` once ``commit_interval`` has passed since the previous commit (or
        at once after ``flush``); a failed commit is retried with backoff until it lands, the
        sink closes, or it fails with a ConfigError (nothing later of the table commits then)."""
        try:
            await self._commit_in_turn(state, group)
        finally:
            if self.metrics is not None:  # committed, or given up (re-delivered after a restart)
                self.metrics.sink_pending.labels(*self.labels(state.spec)).dec(len(group.records))

    async def _commit_in_turn(self, state: _TableState, group: _Group) -> None:
        """``_commit_later`` under the table's lock: one commit of a table at a time, in order."""
        done = group.done
        async with state.lock:
            wait = state.last + self.commit_interval - time.monotonic()
            if wait > 0 and not state.now.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(state.now.wait(), wait)
            if state.open is group:
                state.open = None  # later stages open the next group
            if state.open is None:
                state.now.clear()
            state.last = time.monotonic()
            merged, _ = collapse(group.records)
            delay, warned = RETRY_FIRST, False
            while not done.done():
                if state.failed is not None:
                    done.set_exception(self._failure(state, state.failed))
                    break
                started = time.perf_counter()
                try:
                    stats = await asyncio.to_thread(
                        merge.commit, state.handle, state.spec.key_columns, merged, state.convert
                    )
                except ConfigError as exc:
                    self._count(state, started, ok=False)
                    state.failed = exc
                    continue
                except Exception as exc:  # noqa: BLE001 - retried: the records stay staged
                    self._count(state, started, ok=False)
                    if not warned:
                        log.warning(
                            "%s: Iceberg commit failed, retrying (the batches wait): %s: %s",
                            state.spec.where,
                            type(exc).__name__,
                            str(exc)[:200],
                        )
                        warned = True
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MOST)
                    with contextlib.suppress(Exception):
                        state.handle = await asyncio.to_thread(self._reload, state)
                    continue
                self._count(state, started, ok=True)
                if warned:
                    log.info("%s: Iceberg commit succeeded after retries", state.spec.where)
                done.set_result(stats)
        if done.done() and not done.cancelled():
            done.exception()  # retrieved here: a barrier that nobody awaits must not warn

    def _count(self, state: _TableState, started: float, *, ok: bool) -> None:
        """Report one commit attempt of ``state``'s table to the worker's metrics."""
        m = self.metrics
        if m is None:
            return
        labels = self.labels(state.spec)
        m.sink_commits.labels(*labels, "ok" if ok else "failed").inc()
        m.sink_commit_seconds.labels(*labels).observe(time.perf_counter() - started)
        if ok:
            m.sink_last_commit.labels(*labels).set(time.time())

    def _reload(self, state: _TableState) -> Any:
        namespace, name = split_target(state.spec)
        return self._catalog.load_table((namespace, name))
