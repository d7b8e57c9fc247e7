"""Incremental snapshots of chosen keys only: signals with ``additional-conditions``, followed.

Used by ``streamapp reconcile --repair``: the keys that are missing from a sink or differ in it
are asked of Debezium as filters on the source table (``keyfilter``: integer runs as BETWEEN,
IN-lists otherwise), each signal's JSON sized to the signal table's ``data`` column. The
signals are written one after the other and each is followed to its end in the connector's
offsets (``snapshotrun.wait_for_snapshot``), so no two filtered snapshots of one table overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from streamapp.ops import OpsError
from streamapp.ops.connect import (
    POSTGRES_CONNECTOR,
    ConnectAuth,
    ConnectClient,
    ConnectorConfig,
    describe_state,
    running,
)
from streamapp.ops.snapshot import check_signalling, filtered_signal_data, split_table
from streamapp.ops.snapshotrun import wait_for_snapshot, write_signal
from streamapp.reconcile.keyfilter import pack
from streamapp.settings import Settings

DATA_CHARS: Final = 2048  # the data column of the signal table Debezium documents
UNBOUNDED_DATA: Final = 16_384  # a text column: keep one signal's SQL reasonable anyway
Out = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class KeySignal:
    """One filtered execute-snapshot signal: its JSON ``data`` and the keys its filter selects."""

    table: str
    filter: str
    keys: int
    data: str


class Connector:
    """A running PostgreSQL connector that reads a signal table, checked before any write."""

    def __init__(self, settings: Settings, name: str) -> None:
        self.settings = settings
        self.client = ConnectClient(settings.connect_url, auth=ConnectAuth.from_settings(settings))
        self.config: ConnectorConfig = self.client.config(name)
        if self.config.connector_class != POSTGRES_CONNECTOR:
            raise OpsError(
                f"connector {name!r} is a {self.config.connector_class or 'connector'}; "
                "reconcile --repair signals PostgreSQL sources only"
            )
        state, tasks = self.client.states().get(self.config.name, ("UNASSIGNED", []))
        if not running(state, tasks):
            raise OpsError(
                f"connector {name!r} is {describe_state(state, tasks)}; a signal is only read "
                "while it runs: resume or restart it, then retry"
            )
        self.signal_table = check_signalling(self.config)

    def check_table(self, table: str) -> None:
        """OpsError when the connector does not capture ``table`` (no snapshot could read it)."""
        if not self.config.captures(table):
            raise OpsError(
                f"table {table} is not captured by connector {self.config.name!r}; pass the "
                "connector that captures it with --connector"
            )

    def data_chars(self, conn: Any) -> int:
        """The signal table's ``data`` column length (varchar(n)), else a generous bound."""
        schema, name = split_table(self.signal_table)
        row = conn.execute(
            "SELECT character_maximum_length FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position "
            "OFFSET 2 LIMIT 1",
            (schema, name),
        ).fetchone()
        if row is None:
            return DATA_CHARS
        return int(row[0]) if row[0] is not None else UNBOUNDED_DATA


def key_signals(
    table: str, columns: Sequence[str], keys: Iterable[tuple[Any, ...]], data_chars: int
) -> Iterator[KeySignal]:
    """The signals that together re-read exactly ``keys`` (ascending, distinct) of ``table``,
    each one's data at most ``data_chars`` characters."""

    def fits(filter_sql: str) -> bool:
        return len(filtered_signal_data(table, filter_sql)) <= data_chars

    for filter_sql, count in pack(columns, keys, fits):
        yield KeySignal(table, filter_sql, count, filtered_signal_data(table, filter_sql))


def send_and_follow(
    connector: Connector,
    signals: Iterable[KeySignal],
    *,
    timeout: float,
    out: Out,
) -> tuple[int, int]:
    """Write each signal and follow its snapshot to the end before the next one; returns
    (signals sent, rows re-delivered). OpsError from the source, or when a snapshot does not
    finish within ``timeout`` seconds (it goes on in the connector)."""
    import psycopg

    from streamapp.ops.snapshotrows import SnapshotRows

    config = connector.config
    prefix = config.topic_prefix or config.name
    sent = rows_total = 0
    try:
        with psycopg.connect(
            connector.settings.source_dsn, dbname=config.dbname, autocommit=True
        ) as conn:
            for signal in signals:
                rows = SnapshotRows(connector.settings, {signal.table: f"{prefix}.{signal.table}"})
                try:
                    signal_id, lsn = write_signal(
                        conn, connector.signal_table, "execute-snapshot", signal.data
                    )
                    sent += 1
                    out(
                        f"  signal {signal_id}: {signal.table} where {_short(signal.filter)} "
                        f"({signal.keys:,} key(s))"
                    )
                    wait_for_snapshot(
                        connector.client, config, [signal.table], lsn, rows, timeout, _indent(out)
                    )
                    rows_total += sum(rows.counts.values())
                finally:
                    rows.close()
    except psycopg.Error as exc:
        raise OpsError(
            f"source PostgreSQL (STREAMAPP_SOURCE_DSN, database {config.dbname!r}): "
            f"{type(exc).__name__}; check the DSN and that its user may write "
            f"{connector.signal_table}"
        ) from None
    return sent, rows_total


def _short(text: str, most: int = 120) -> str:
    return text if len(text) <= most else text[: most - 3] + "..."


def _indent(out: Out) -> Out:
    return lambda line: out("  " + line.lstrip())
