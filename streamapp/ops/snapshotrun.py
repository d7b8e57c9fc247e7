"""`streamapp snapshot`: validate, write the signal row, and optionally follow the snapshot."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from streamapp.ops import OpsError
from streamapp.ops.connect import (
    POSTGRES_CONNECTOR,
    ConnectAuth,
    ConnectClient,
    ConnectorConfig,
    describe_state,
    running,
)
from streamapp.ops.snapshot import (
    check_signalling,
    new_signal_id,
    resolve_tables,
    signal_data,
    snapshot_state,
    split_table,
)
from streamapp.settings import Settings

Out = Callable[[str], None]
NO_WAIT_HINT = (
    "Debezium re-reads the rows in chunks while streaming goes on; "
    "`streamapp snapshot ... --wait` follows it to the end"
)


@dataclass(frozen=True, slots=True)
class SnapshotRequest:
    """What the user asked: tables or topology names, the connector, and how to follow it."""

    names: tuple[str, ...]
    connector: str
    wait: bool = False
    timeout: float = 600.0
    stop: bool = False


class RowCount(Protocol):
    """Counts incremental-snapshot rows the connector wrote since the count began."""

    def poll(self) -> Mapping[str, int]: ...
    def drain(self) -> Mapping[str, int]: ...
    def close(self) -> None: ...


def run_snapshot(
    settings: Settings,
    request: SnapshotRequest,
    topic_of: Callable[[str], str],
    out: Out = print,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Signal an incremental snapshot (or its stop) of the requested tables; with ``wait``
    follow it to the end (``sleep`` between looks: a caller may make it raise to stop).
    Every refusal is an OpsError of one line, raised before anything is written: Connect
    unreachable, unknown connector, connector not RUNNING or not PostgreSQL,
    no signal table, a table that does not exist or that the connector does not capture."""
    client = ConnectClient(settings.connect_url, auth=ConnectAuth.from_settings(settings))
    config = client.config(request.connector)
    if config.connector_class != POSTGRES_CONNECTOR:
        raise OpsError(
            f"connector {config.name!r} is a {config.connector_class or 'connector'}; "
            "streamapp snapshot writes signals to PostgreSQL sources only"
        )
    state, tasks = client.states().get(config.name, ("UNASSIGNED", []))
    if not running(state, tasks):
        raise OpsError(
            f"connector {config.name!r} is {describe_state(state, tasks)}; a signal is only "
            f"read while it runs: resume or restart it (`curl -X POST {settings.connect_url}"
            f"/connectors/{config.name}/restart?includeTasks=true`), then retry"
        )
    signal_table = check_signalling(config)
    tables = resolve_tables(request.names, config, topic_of)
    rows, (signal_id, lsn) = _signal(settings, config, signal_table, tables, request)
    kind = "stop-snapshot" if request.stop else "execute-snapshot"
    out(
        f"{kind} signal {signal_id} written to {config.dbname}.{signal_table} for "
        f"{', '.join(tables)} (connector {config.name})"
    )
    if rows is None:
        if not request.stop:
            out(NO_WAIT_HINT)
        return 0
    try:
        return wait_for_snapshot(
            client, config, tables, lsn, rows, request.timeout, out, sleep=sleep
        )
    finally:
        rows.close()


def _signal(
    settings: Settings,
    config: ConnectorConfig,
    signal_table: str,
    tables: Sequence[str],
    request: SnapshotRequest,
) -> tuple[RowCount | None, tuple[str, int]]:
    """Check the tables, start counting rows (with ``wait``), then write the signal."""
    import psycopg

    kind = "stop-snapshot" if request.stop else "execute-snapshot"
    rows = None
    try:
        with psycopg.connect(settings.source_dsn, dbname=config.dbname, autocommit=True) as conn:
            for table in tables:
                _check_table(conn, config, table)
            rows = _topic_rows(settings, config, tables) if request.wait else None
            return rows, write_signal(conn, signal_table, kind, signal_data(tables))
    except psycopg.Error as exc:
        if rows is not None:
            rows.close()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise OpsError(
            f"source PostgreSQL (STREAMAPP_SOURCE_DSN, database {config.dbname!r}): "
            f"{type(exc).__name__}: {first[:200]}; check the DSN and that its user may write "
            f"{signal_table}"
        ) from None
    except BaseException:
        if rows is not None:
            rows.close()
        raise


def _check_table(conn: Any, config: ConnectorConfig, table: str) -> None:
    schema, name = split_table(table)
    found = conn.execute(
        "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text)) IS NOT NULL", (schema, name)
    ).fetchone()
    if not found or not found[0]:
        raise OpsError(
            f"table {table} does not exist in database {config.dbname!r} "
            "(STREAMAPP_SOURCE_DSN); name an existing schema.table"
        )
    if not config.captures(table):
        shown = config.values.get("table.include.list") or config.values.get(
            "schema.include.list", ""
        )
        raise OpsError(
            f"table {table} is not captured by connector {config.name!r} (include list: "
            f"{shown[:200]}); add it to the connector's table.include.list first"
        )


def write_signal(conn: Any, signal_table: str, kind: str, data: str) -> tuple[str, int]:
    """Insert one signal row (columns by position: id, type, data) in its own transaction;
    (signal id, a WAL position at or past the commit) for following the snapshot."""
    from psycopg import sql

    schema, name = split_table(signal_table)
    signal_id = new_signal_id()
    conn.execute(
        sql.SQL("INSERT INTO {}.{} VALUES (%s, %s, %s)").format(
            sql.Identifier(schema), sql.Identifier(name)
        ),
        (signal_id, kind, data),
    )
    row = conn.execute("SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint").fetchone()
    return signal_id, int(row[0])


def _topic_rows(settings: Settings, config: ConnectorConfig, tables: Sequence[str]) -> RowCount:
    from streamapp.ops.snapshotrows import SnapshotRows

    prefix = config.topic_prefix or config.name
    return SnapshotRows(settings, {t: f"{prefix}.{t}" for t in tables})


def wait_for_snapshot(
    client: ConnectClient,
    config: ConnectorConfig,
    tables: Sequence[str],
    signal_lsn: int,
    rows: RowCount,
    timeout: float,
    out: Out,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Print a line whenever the snapshot's progress changes until the connector's offsets
    say it is done, then the rows re-delivered per table and the elapsed time; 0 then.
    OpsError when the connector stops running or ``timeout`` seconds pass first."""
    start = clock()
    last = ""
    while True:
        state = snapshot_state(client.offsets(config.name), config.topic_prefix, tables, signal_lsn)
        counts = rows.poll()
        if state.phase == "done":
            break
        where = ""
        if state.key is not None and state.max_key is not None:
            where = f", at key {state.key:,} of {state.max_key:,}"
        # Offsets are committed every offset.flush.interval.ms: rows may come before them.
        waiting = state.phase == "pending" and not sum(counts.values())
        label = "waiting for the connector to reach the signal" if waiting else "running"
        line = f"  {label}: {_counts(counts)} re-delivered so far{where}"
        if line != last:
            out(f"{line} ({clock() - start:.1f} s)")
            last = line
        if clock() - start > timeout:
            raise OpsError(
                f"the snapshot of {', '.join(tables)} is still {state.phase} after "
                f"{timeout:.0f} s; it goes on in connector {config.name!r} (watch "
                f"`curl {client.url}/connectors/{config.name}/offsets`) or use a longer --timeout"
            )
        c_state, c_tasks = client.states().get(config.name, ("UNASSIGNED", []))
        if not running(c_state, c_tasks):
            raise OpsError(
                f"connector {config.name!r} became {describe_state(c_state, c_tasks)} during "
                f"the snapshot; see `curl {client.url}/connectors/{config.name}/status`"
            )
        sleep(1.0)
    counts = rows.drain()
    out(f"snapshot done: {_counts(counts)} re-delivered in {clock() - start:.1f} s")
    return 0


def _counts(counts: Mapping[str, int]) -> str:
    """``1,024 rows (public.orders 1,000, public.customers 24)``."""
    total = sum(counts.values())
    if len(counts) <= 1:
        return f"{total:,} rows"
    return f"{total:,} rows ({', '.join(f'{t} {n:,}' for t, n in counts.items())})"
