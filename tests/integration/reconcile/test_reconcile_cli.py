"""`streamapp reconcile` against a real source table and real ClickHouse, PostgreSQL and Redis."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from reconcile_env import TOOL, Rec, rows, ssn


def _block(stdout: str, sink: str) -> str:
    """The report block of one sink (its header line up to the next blank line)."""
    match = re.search(rf"^{re.escape(sink)}  .*?(?=\n\n|\Z)", stdout, re.M | re.S)
    assert match, f"no block for {sink} in:\n{stdout}"
    return match.group(0)


def _no_clear_values(done: subprocess.CompletedProcess[str]) -> None:
    text = done.stdout + done.stderr
    for row in rows():
        assert ssn(row["id"]) not in text
        if row["email"]:
            assert row["email"] not in text


def test_matching_sinks_then_every_tamper_is_named(
    rec: Rec, pg_warehouse: Any, redis_client: Any
) -> None:
    rec.seed(rows())
    done = rec.reconcile()
    assert done.returncode == 0, done.stdout + done.stderr
    name = rec.name
    sinks = [f"clickhouse:{name}", f"postgres:public.{name}", f"redis:{name}:{{id}}"]
    for sink in sinks:
        block = _block(done.stdout, sink)
        assert block.startswith(f"{sink}  MATCH"), block
        assert re.search(r"^ +9 +9 +0 +0 +0$", block, re.M), block  # test row 10 filtered out
        assert "newest applied change at 0/" in block  # the seeded versions carry LSN 1000+
    assert "source rows 10, expected in sinks 9 (filtered out 1," in done.stdout
    assert done.stdout.splitlines()[-1] == "result: MATCH, 3 of 3 sink(s) within tolerance 0"
    _no_clear_values(done)

    # postgres: a deleted row and a nulled-out column
    pg_warehouse.execute(f'DELETE FROM "{name}" WHERE id = 2')
    pg_warehouse.execute(f'UPDATE "{name}" SET email = NULL WHERE id = 4')
    # clickhouse: a changed value (a newer version of the row) and an extra key
    rec.ch(
        f"INSERT INTO `{name}` SELECT * REPLACE (amount + 1 AS amount, `__version` + 1 AS "
        f"`__version`) FROM `{name}` FINAL WHERE id = 3",
        f"INSERT INTO `{name}` SELECT * REPLACE (999 AS id) "
        f"FROM (SELECT * FROM `{name}` FINAL WHERE id = 5)",
    )
    # redis: a changed masked value, a missing key, an extra key
    doc = json.loads(redis_client.get(f"{name}:5"))
    doc["ssn"] = "0" * 64
    redis_client.set(f"{name}:5", json.dumps(doc))
    redis_client.delete(f"{name}:6")
    redis_client.set(f"{name}:998", json.dumps(doc))

    done = rec.reconcile()
    assert done.returncode == 1, done.stdout + done.stderr
    pg = _block(done.stdout, sinks[1])
    assert pg.startswith(f"{sinks[1]}  DIFFERS")
    assert "  missing keys    id=2\n" in pg
    assert "  differing keys  id=4 (email)" in pg
    assert re.search(r"^  email +11\.11% +25\.00%$", pg, re.M), pg  # 1 of 9 null, now 2 of 8
    ch = _block(done.stdout, sinks[0])
    assert "  differing keys  id=3 (amount)" in ch
    assert "  extra keys      id=999" in ch
    assert re.search(r"^ +9 +10 +0 +1 +1$", ch, re.M), ch
    rd = _block(done.stdout, sinks[2])
    assert "  missing keys    id=6" in rd
    assert "  differing keys  id=5 (ssn)" in rd
    assert "  extra keys      1 (counted by SCAN)" in rd
    assert done.stdout.splitlines()[-1].startswith("result: DIFFERS, 0 of 3 sink(s) match")
    _no_clear_values(done)

    assert rec.reconcile("--tolerance", "0.5").returncode == 0
    only = rec.reconcile("--sinks", "postgres")
    assert only.returncode == 1
    assert sinks[1] in only.stdout and sinks[0] not in only.stdout and sinks[2] not in only.stdout


def test_a_held_chdb_is_busy_and_the_other_sinks_are_still_compared(rec: Rec) -> None:
    rec.seed(rows())
    holder = subprocess.Popen(
        [sys.executable, str(TOOL), "hold", "120"], env=rec.env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        done = rec.reconcile()
    finally:
        holder.kill()
        holder.wait(30)
    assert done.returncode == 2, done.stdout + done.stderr
    assert (
        f"clickhouse:{rec.name}  BUSY  busy: stop the worker or point STREAMAPP_CLICKHOUSE_DSN "
        "at a server" in done.stdout
    )
    assert f"postgres:public.{rec.name}  MATCH" in done.stdout
    assert f"redis:{rec.name}:{{id}}  MATCH" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("result: NOT VERIFIED, 2 of 3 sink(s) match")


def test_errors_exit_2_with_one_line(rec: Rec) -> None:
    done = rec.reconcile("--table", "public.no_such_table_here")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        done.stderr.strip().splitlines()[0]
    ] and done.stderr.startswith("error: source table public.no_such_table_here does not exist")


def test_a_key_out_of_source_order_is_sorted_on_disk(rec: Rec, redis_client: Any) -> None:
    rec.write_topology(mask_key=True)  # the key becomes an HMAC: its order is not the source's
    rec.seed(rows())
    done = rec.reconcile()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "note: the output key does not follow the source order; sorted on disk" in done.stdout
    key = next(k for k in redis_client.scan_iter(match=f"{rec.name}:*") if b"__version" not in k)
    redis_client.delete(key)
    done = rec.reconcile("--sinks", "redis,clickhouse")
    assert done.returncode == 1
    assert f"  missing keys    id={key.decode().rsplit(':', 1)[1]}" in done.stdout
    assert f"clickhouse:{rec.name}  MATCH" in done.stdout
