"""The freshness contract end to end, and real dbt (its own venv) against the local warehouse.

A worker runs a topology into PostgreSQL while changes stamped with the current time keep
arriving: `/freshness`, `streamapp freshness` (worker and warehouse) and `dbt source freshness`
say fresh, the source tests pass and a model over the `_current` view builds. Idle with
heartbeats, the contract still advances. Once the worker stops, `streamapp freshness` says
stale (warehouse) or unknown (worker), and `dbt source freshness` fails past error_after.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from fresh_harness import FreshHarness
from worker_harness import free_port, http_get, wait_until

from streamapp.settings import Settings

PROFILE = """
streamapp_it:
  target: it
  outputs:
    it:
      type: postgres
      host: "{host}"
      port: {port}
      user: "{user}"
      password: "{password}"
      dbname: "{dbname}"
      schema: "{schema}"
      threads: 1
"""
PROJECT = """
name: streamapp_it
version: "1.0"
profile: streamapp_it
model-paths: ["models"]
"""
MODEL = "select count(*) as live_rows from {{{{ source('streamapp', '{table}_current') }}}}\n"


def streamapp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamapp", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def dbt_project(tmp: Path, settings: Settings, schema: str, table: str) -> Path:
    from psycopg.conninfo import conninfo_to_dict

    info = conninfo_to_dict(settings.warehouse_dsn)
    project = tmp / "dbt"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text(PROJECT)
    (project / "profiles.yml").write_text(
        PROFILE.format(
            host=info.get("host", "127.0.0.1"),
            port=info.get("port", 5432),
            user=info.get("user", ""),
            password=info.get("password", ""),
            dbname=info.get("dbname", ""),
            schema=schema,
        )
    )
    (project / "models" / "live.sql").write_text(MODEL.format(table=table))
    return project


def run_dbt(dbt: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(dbt), *args, "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=project,
    )


class Feeder:
    """Keeps changes stamped with the current time flowing (ids 1..12, every partition)."""

    def __init__(self, harness: FreshHarness) -> None:
        self.harness = harness
        self.stop = threading.Event()
        self.last_ts = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            self.last_ts = self.harness.send_now(n % 12 + 1)
            self.harness.flush()
            n += 1
            self.stop.wait(0.3)


def view_row(pg: Any, topology: str) -> tuple[Any, ...] | None:
    if not pg.execute("SELECT to_regclass('streamapp_freshness')").fetchone()[0]:
        return None
    row: tuple[Any, ...] | None = pg.execute(
        "SELECT complete_through_ts, source_position, extract(epoch FROM complete_through_ts) "
        "FROM streamapp_freshness WHERE topology = %s",
        [topology],
    ).fetchone()
    return row


def ch_view(harness: FreshHarness) -> list[list[Any]]:
    """The ClickHouse sink's streamapp_freshness rows of the topology (worker stopped: chDB
    belongs to one process): topology, sink, whether complete_through_ts is set."""
    script = (
        "import json, clickhouse_connect\n"
        f"c = clickhouse_connect.get_client(dsn='chdb://{harness.chdb}')\n"
        "rows = c.query('SELECT topology, sink, toUInt8(isNotNull(complete_through_ts)) "
        f"FROM streamapp_freshness WHERE topology = \\'{harness.unique}\\'').result_rows\n"
        "print(json.dumps([list(r) for r in rows]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows: list[list[Any]] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


def test_fresh_while_running_stale_after_stop_and_dbt_agrees(
    harness: FreshHarness, stack: Settings, pg_warehouse: Any, kafka_admin: Any, dbt: Path
) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import NewTopic

    beat_topic = f"__debezium-heartbeat.{harness.unique}"
    kafka_admin.create_topics([NewTopic(beat_topic, 1, 1)])[beat_topic].result(30)
    harness.web_port = free_port()
    harness.extra["STREAMAPP_FRESHNESS_HEARTBEAT_TOPIC"] = beat_topic
    name, url = harness.unique, f"http://127.0.0.1:{harness.web_port}"
    feeder = Feeder(harness)
    dbt_schema = f"dbt_{name}"
    try:
        harness.start()
        feeder.thread.start()

        # -- running: the worker, the warehouse table and the CLI say fresh ------------------
        def fresh_at_worker() -> bool:
            status, body = http_get(harness.web_port, "/freshness")
            if status != 200:
                return False
            entry = json.loads(body)["topologies"][name]
            return entry["lag_seconds"] is not None and entry["lag_seconds"] < 10

        wait_until(fresh_at_worker, what="/freshness lag under 10 s", harness=harness)
        entry = json.loads(http_get(harness.web_port, "/freshness")[1])["topologies"][name]
        assert entry["partitions_owned"] == entry["partitions_total"] == 3
        assert entry["sinks"] == [f"clickhouse:{name}", f"postgres:{name}", f"redis:{name}:{{id}}"]
        done = streamapp(harness.env, "freshness", name, "--url", url, "--max-lag", "30s")
        assert (done.returncode, done.stdout.count("\n")) == (0, 1), done.stdout + done.stderr
        assert done.stdout.startswith(f"{name}: fresh: complete through ")
        wait_until(
            lambda: (row := view_row(pg_warehouse, name)) is not None and row[0] is not None,
            what="a streamapp_freshness row",
            harness=harness,
        )
        row = view_row(pg_warehouse, name)
        assert row is not None and row[1].count("@") == 3  # one position per partition
        dsn_check = streamapp(
            harness.env, "freshness", name, "--dsn", stack.warehouse_dsn, "--max-lag", "30s"
        )
        assert dsn_check.returncode == 0, dsn_check.stdout + dsn_check.stderr

        # -- dbt: sources.yml from the topology, freshness passes, tests pass, a model builds -
        project = dbt_project(harness.tmp, stack, dbt_schema, harness.table)
        out = project / "models" / "sources.yml"
        made = streamapp(
            harness.env,
            "dbt",
            "sources",
            "--out",
            str(out),
            "--warn-after",
            "1m",
            "--error-after",
            "1m",
        )
        assert made.returncode == 0, made.stderr
        fresh = run_dbt(dbt, project, "source", "freshness")
        assert fresh.returncode == 0, fresh.stdout[-3000:]
        assert "PASS freshness of streamapp." in fresh.stdout, fresh.stdout[-3000:]
        tested = run_dbt(dbt, project, "test")
        assert tested.returncode == 0, tested.stdout[-3000:]
        built = run_dbt(dbt, project, "run")
        assert built.returncode == 0, built.stdout[-3000:]
        live = pg_warehouse.execute(f'SELECT live_rows FROM "{dbt_schema}".live').fetchone()[0]
        assert live == len(harness.pg_rows(pg_warehouse)) == 12

        # -- idle, with heartbeats: the contract keeps advancing past the last change --------
        feeder.stop.set()
        feeder.thread.join(10)
        last = feeder.last_ts
        beats = Producer({"bootstrap.servers": stack.kafka_bootstrap})

        def advanced() -> bool:
            beats.produce(beat_topic, value=json.dumps({"ts_ms": int(time.time() * 1000)}))
            beats.flush(10)
            row = view_row(pg_warehouse, name)
            return row is not None and row[2] is not None and float(row[2]) * 1000 > last + 3000

        wait_until(advanced, what="complete_through past the last change", harness=harness)

        # -- stopped: stale in the warehouse, unknown at the worker, dbt fails ---------------
        assert harness.stop() == 0
        assert "freshness: writing" not in harness.log.read_text()  # no failed row writes
        assert ch_view(harness) == [[name, f"clickhouse:{name}", 1]]
        row = view_row(pg_warehouse, name)
        assert row is not None
        stopped_at = float(row[2])
        gone = streamapp(harness.env, "freshness", name, "--url", url)
        assert gone.returncode == 2 and "is the worker up?" in gone.stdout, gone.stdout
        wait_until(
            lambda: (
                streamapp(
                    harness.env, "freshness", name, "--dsn", stack.warehouse_dsn, "--max-lag", "3s"
                ).returncode
                == 1
            ),
            what="streamapp freshness --dsn to say stale",
            timeout=30,
        )
        time.sleep(max(0.0, stopped_at + 62 - time.time()))  # past error_after: 1 minute
        stale = run_dbt(dbt, project, "source", "freshness")
        assert stale.returncode != 0, stale.stdout[-3000:]
        assert "ERROR STALE freshness of streamapp." in stale.stdout, stale.stdout[-3000:]
    finally:
        feeder.stop.set()
        pg_warehouse.execute(f'DROP SCHEMA IF EXISTS "{dbt_schema}" CASCADE')
        kafka_admin.delete_topics([beat_topic])[beat_topic].result(30)
