"""Iceberg sink: version-guarded upserts with tombstones, group-committed at most once per interval.

Durability against the pipeline's contract (``Sink.write`` returns once its records are stored):
a write is stored only when a snapshot holding it is committed, so ``write`` waits for that
snapshot. Writes of one table arriving while a commit is pending join it (group commit), and two
commits of one table are at least ``commit_interval`` seconds apart. A lane that writes
sequentially therefore waits up to one interval per batch (at most ``--batch-size`` records per
interval): backpressure, never offsets committed for rows not yet in a snapshot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from streamapp.errors import ConfigError, SinkError
from streamapp.records import OutputRecord
from streamapp.settings import redact_url
from streamapp.sinks.base import Rejected, Sink, TableSpec, check_keys, collapse
from streamapp.sinks.iceberg import merge
from streamapp.sinks.iceberg.schema import cells, iceberg_type, table_schema
from streamapp.sinks.values import checker

_PROPS: Final = {
    # one metadata.json per commit: keep the last 100, delete older ones at commit
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "100",
}


@dataclass(slots=True)
class _Group:
    """Records waiting for one commit, and the future their writers await."""

    records: list[OutputRecord] = field(default_factory=list)
    done: asyncio.Future[merge.CommitStats] | None = None


@dataclass(slots=True)
class _TableState:
    """One table's pyiceberg handle, its open group and when its last commit started."""

    spec: TableSpec
    handle: Any
    checks: dict[str, Any]
    convert: dict[str, Any]
    open: _Group | None = None
    last: float = float("-inf")
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


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

    def __init__(
        self, properties: dict[str, str], *, commit_interval: float, name: str = "streamapp"
    ) -> None:
        self.properties = dict(properties)
        self.commit_interval = commit_interval
        self.name = name
        self._catalog: Any = None
        self._tables: dict[str, _TableState] = {}  # by target: one interval per table
        self.last_stats: merge.CommitStats | None = None

    def _where(self) -> str:
        return f"iceberg sink (catalog {redact_url(self.properties.get('uri', ''))})"

    async def start(self) -> None:
        if self._catalog is not None:
            return
        from pyiceberg.catalog import load_catalog

        try:
            self._catalog = await asyncio.to_thread(load_catalog, self.name, **self.properties)
        except Exception as exc:
            raise SinkError(
                f"{self._where()}: cannot open the catalog ({type(exc).__name__}); check "
                "STREAMAPP_ICEBERG_CATALOG_URI and that its server answers",
                retriable=True,
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
            group, state.open = state.open, None
            if group is not None and group.done is not None and not group.done.done():
                group.done.set_exception(SinkError(f"{self._where()}: closed before the commit"))
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
        state = self._state(table)
        if state is None:
            await self.ensure_table(table)
            state = self._tables[table.target]
        good, rejected = self._split(state, records)
        if not good:
            return rejected
        group = state.open
        if group is None:
            group = state.open = _Group(done=asyncio.get_running_loop().create_future())
            asyncio.get_running_loop().create_task(self._commit_later(state, group))
        group.records.extend(good)
        assert group.done is not None
        self.last_stats = await asyncio.shield(group.done)
        return rejected

    async def _commit_later(self, state: _TableState, group: _Group) -> None:
        """Commit ``group`` once ``commit_interval`` has passed since the previous commit."""
        done = group.done
        assert done is not None
        try:
            async with state.lock:
                await asyncio.sleep(max(0.0, state.last + self.commit_interval - time.monotonic()))
                if state.open is group:
                    state.open = None  # later writes open the next group
                state.last = time.monotonic()
                merged, _ = collapse(group.records)
                keys = state.spec.key_columns
                stats = await asyncio.to_thread(
                    merge.commit, state.handle, keys, merged, state.convert
                )
        except Exception as exc:  # noqa: BLE001 - every waiting writer gets it
            if not done.done():
                done.set_exception(
                    SinkError(
                        f"{state.spec.where}: the Iceberg commit failed ({type(exc).__name__}: "
                        f"{str(exc)[:200]}); the batch is retried",
                        retriable=True,
                    )
                )
            return
        if not done.done():
            done.set_result(stats)
