"""PostgreSQL type zoo -> real Debezium (Avro and JSON, every handling mode) -> every sink, exactly.

One table holds a column of every type Debezium's PostgreSQL connector supports
(infra/local/source/typezoo.sql); six connectors stream it, one per (converter, mode set), so
every value of every handling mode runs at least once per converter family; one worker runs a
topology per connector. Each sink's value must equal the source's own value as PostgreSQL prints
it (the text psql shows), mapped by the mode's documented rule (typezoo_values.py); a row the
pipeline cannot hold must be in the DLQ with the reason, and nowhere it should not be.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from shop_harness import wait_until
from typezoo_harness import CASES, ModeSet, ZooHarness, columns
from typezoo_values import Refused, expected_row, from_sink, same

from streamapp.settings import Settings

HELPERS = (
    "c_money::numeric AS money, c_point[0] AS px, c_point[1] AS py,"
    " public.hstore_to_json(c_hstore) AS hstore, to_json(c_int_arr) AS c_int_arr,"
    " to_json(c_text_arr) AS c_text_arr,"
    " CASE WHEN 'NaN' = ANY(c_num_arr) THEN NULL ELSE to_json(c_num_arr) END AS c_num_arr,"
    " extract(year FROM c_interval) AS iv_y, extract(month FROM c_interval) AS iv_m,"
    " extract(day FROM c_interval) AS iv_d, extract(hour FROM c_interval) AS iv_h,"
    " extract(minute FROM c_interval) AS iv_mi, extract(second FROM c_interval) AS iv_s"
)
Want = dict[int, "dict[str, Any] | Refused"]
STREAMED = 1000  # case n streams a copy of the zoo rows with ids + n * STREAMED


def _source_text(zoo: ZooHarness) -> tuple[list[dict[str, str | None]], list[dict[str, str]]]:
    """Every zoo row as PostgreSQL prints it (text format, as psql shows it), and helpers."""
    cur = zoo.source.cursor()
    out = []
    for select in ("*", HELPERS):
        cur.execute(sql.SQL(f"SELECT {select} FROM {{}}.zoo ORDER BY id").format(
            sql.Identifier(zoo.name)
        ))  # fmt: skip
        res = cur.pgresult
        assert res is not None
        names = [res.fname(i).decode() for i in range(res.nfields)]  # type: ignore[union-attr]
        rows = []
        for r in range(res.ntuples):
            raw = [res.get_value(r, c) for c in range(res.nfields)]
            rows.append(
                {n: None if v is None else v.decode() for n, v in zip(names, raw, strict=True)}
            )
        out.append(rows)
    return out[0], out[1]  # type: ignore[return-value]


def _want(zoo: ZooHarness, modes: ModeSet, case: int) -> Want:
    """What case number ``case`` (1-based; it streamed the ids ``case * STREAMED + id``, and
    read the lower ones in its snapshot) must store of each row now in the zoo."""
    rows, helpers = _source_text(zoo)
    cols = columns(modes)
    want: Want = {}
    for row, h in zip(rows, helpers, strict=True):
        h["streamed"] = "yes" if int(str(row["id"])) // STREAMED == case else ""
        try:
            want[int(str(row["id"]))] = expected_row(row, h, modes, cols)  # type: ignore[arg-type]
        except Refused as exc:
            want[int(str(row["id"]))] = exc
    return want


def _stored(want: Want) -> dict[int, dict[str, Any]]:
    """The rows every sink must hold: all but the refused ones, which only the DLQ gets."""
    return {key: row for key, row in want.items() if not isinstance(row, Refused)}


def _dlq_ids(zoo: ZooHarness, prefix: str) -> dict[int, str]:
    """Row id -> exception message of every record in the case's DLQ."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer(
        {"bootstrap.servers": zoo.settings.kafka_bootstrap, "group.id": f"{prefix}-dlq"}
    )
    out: dict[int, str] = {}
    try:
        tp = TopicPartition(f"{prefix}.dlq", 0)
        low, high = consumer.get_watermark_offsets(tp, 10)
        consumer.assign([TopicPartition(f"{prefix}.dlq", 0, low)])
        seen = 0
        while seen < high - low:
            msg = consumer.poll(5)
            if msg is None:
                break
            if msg.error():
                continue
            seen += 1
            headers = dict(msg.headers() or [])
            reason = headers.get("__connect.errors.exception.message") or b""
            out[_key_id(msg.key() or b"")] = reason.decode(errors="replace")
    finally:
        consumer.close()
    return out


def _key_id(raw: bytes) -> int:
    """The id of a zoo key: Connect JSON, or Avro {id: int} in the Confluent wire format."""
    if raw[:1] == b"{":
        return int(json.loads(raw)["payload"]["id"])
    n, shift = 0, 0
    for byte in raw[5:]:  # magic byte, schema id, then the zigzag varint
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    return (n >> 1) ^ -(n & 1)


@pytest.fixture(scope="module")
def zoo(
    stack: Settings, tmp_path_factory: pytest.TempPathFactory, kafka_admin: Any
) -> Iterator[ZooHarness]:
    """All six connectors streamed into every sink by one worker, which is then stopped."""
    import redis

    harness = ZooHarness(stack, f"e2e_zoo_{uuid.uuid4().hex[:6]}", tmp_path_factory.mktemp("zoo"))
    client = redis.Redis.from_url(stack.redis_url)
    try:
        harness.create_schema()
        harness.write_topologies()
        harness.create_topics(kafka_admin)
        harness.start_worker()
        for n, (converter, modes) in enumerate(CASES, 1):  # one at a time: few WAL senders
            harness.register_connector(converter, modes)
            prefix = harness.prefix(converter, modes)
            for phase in ("snapshot", "stream"):
                if phase == "stream":  # the zoo rows again, through pgoutput this time
                    harness.copy_rows(offset=STREAMED * n)
                want = _want(harness, modes, n)
                wait_until(
                    lambda p=prefix, w=want: _settled(harness, p, w, client),
                    what=f"every zoo row of {prefix} in its sinks or DLQ after the {phase}",
                    timeout=120,
                    tail=harness.worker_tail,
                )
            harness.seen[prefix] = set(want)
            harness.retire_connector(converter, modes)
        assert harness.stop_worker() == 0, harness.worker_tail()
        yield harness
    finally:
        harness.close(kafka_admin, client)
        client.close()


def _settled(zoo: ZooHarness, prefix: str, want: Want, client: Any) -> bool:
    """The case's Redis keys, warehouse rows and DLQ records number what they must."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    zoo.worker.assert_worker_running()
    consumer = Consumer({"bootstrap.servers": zoo.settings.kafka_bootstrap, "group.id": "zoo"})
    try:
        refused = sum(isinstance(r, Refused) for r in want.values())
        low, high = consumer.get_watermark_offsets(TopicPartition(f"{prefix}.dlq", 0), 10)
    except KafkaException:  # the worker creates the DLQ topic with the first failure
        return False
    finally:
        consumer.close()
    if high - low < refused:
        return False
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if len(keys) < 2 * len(_stored(want)):  # each value and its :__version companion
        return False
    try:
        row = zoo.warehouse.execute(
            sql.SQL("SELECT count(*) AS n FROM public.{}").format(sql.Identifier(prefix))
        ).fetchone()
    except psycopg.errors.UndefinedTable:  # the worker has not created it yet
        return False
    return row is not None and row["n"] >= len(_stored(want))


def _compare(sink: str, want: dict[int, dict[str, Any]], got: dict[int, dict[str, Any]],
             cols: dict[str, Any]) -> list[str]:  # fmt: skip
    bad = []
    if sorted(want) != sorted(got):
        bad.append(f"{sink}: rows {sorted(got)}, want {sorted(want)}")
    for key in sorted(set(want) & set(got)):
        for col, spec in cols.items():
            have = from_sink(spec, got[key].get(col), sink)
            if not same(col, want[key][col], have):
                bad.append(f"{sink} id={key} {col}: {have!r} != source {want[key][col]!r}")
    return bad


@pytest.mark.parametrize(("converter", "modes"), CASES, ids=[f"{c}-{m.name}" for c, m in CASES])
def test_every_sink_holds_the_source_values(
    zoo: ZooHarness, converter: str, modes: ModeSet
) -> None:
    import redis

    prefix = zoo.prefix(converter, modes)
    cols = columns(modes)
    case = CASES.index((converter, modes)) + 1
    want = {k: v for k, v in _want(zoo, modes, case).items() if k in zoo.seen[prefix]}
    streamed = [k for k in want if k // STREAMED == case]
    assert len(streamed) == len([k for k in want if k < STREAMED])  # each row streamed too
    bad: list[str] = []

    pg = zoo.warehouse.execute(
        sql.SQL("SELECT * FROM public.{} WHERE NOT __deleted").format(sql.Identifier(prefix))
    ).fetchall()
    bad += _compare("pg", _stored(want), {r["id"]: r for r in pg}, cols)

    client = redis.Redis.from_url(zoo.settings.redis_url)
    try:
        docs = {}
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            if not key.endswith(b":__version"):
                docs[int(key.decode().rsplit(":", 1)[1])] = json.loads(client.get(key))
    finally:
        client.close()
    bad += _compare("redis", _stored(want), docs, cols)

    exprs = [
        f"hex(`{c}`) AS `{c}`" if spec == "bytes" else f"toString(`{c}`) AS `{c}`"
        for c, spec in cols.items()
    ]
    ch = zoo.chdb_query(f"SELECT {', '.join(exprs)} FROM `{prefix}` FINAL")
    bad += _compare("ch", _stored(want), {int(r["id"]): r for r in ch}, cols)

    refused = {k: r.stage for k, r in want.items() if isinstance(r, Refused)}
    dlq = _dlq_ids(zoo, prefix)
    if sorted(dlq) != sorted(refused):
        bad.append(f"dlq: ids {sorted(dlq)}, want {sorted(refused)} ({refused})")
    for key, reason in dlq.items():  # the reason names the column, as the stage words it
        why = want[key]
        if isinstance(why, Refused) and not any(f"{c}'" in reason for c in why.columns):
            bad.append(f"dlq id={key}: {reason!r} names none of {sorted(why.columns)}")
    assert not bad, "\n".join(bad)


def test_every_column_but_tsvector_is_streamed_and_declared(zoo: ZooHarness) -> None:
    """Debezium 3.0 has no tsvector mapping: the column is left out of every event. Every
    other source column is in the connector's schema and declared by every case."""
    from confluent_kafka import Consumer, TopicPartition

    prefix = zoo.prefix(*next(case for case in CASES if case[0] == "json"))
    consumer = Consumer(
        {"bootstrap.servers": zoo.settings.kafka_bootstrap, "group.id": f"{prefix}-schema"}
    )
    first: list[Any] = []

    def polled() -> bool:
        msg = consumer.poll(1)
        if msg is not None and not msg.error():
            first.append(msg)
        return bool(first)

    try:
        consumer.assign([TopicPartition(zoo.topic(prefix), 0, 0)])
        wait_until(polled, what=f"the first record of {zoo.topic(prefix)}", timeout=30)
    finally:
        consumer.close()
    schema = json.loads(first[0].value())["schema"]
    after = next(f for f in schema["fields"] if f["field"] == "after")
    streamed = [f["field"] for f in after["fields"]]
    source = [
        r["attname"]
        for r in zoo.source.execute(
            "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0"
            " AND NOT attisdropped ORDER BY attnum",
            (f"{zoo.name}.zoo",),
        )
    ]
    assert "c_tsvector" in source
    assert streamed == [c for c in source if c != "c_tsvector"]
    for _converter, modes in CASES:
        assert list(columns(modes)) == streamed
