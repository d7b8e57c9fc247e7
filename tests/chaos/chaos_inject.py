"""Produce the poison set into a case's change topics, between the real events.

The writer schemas are the ones Debezium registered for the case's topics (subjects
``<topic>-key`` / ``<topic>-value``); the "unusable" schema id is a plain ``"string"`` schema
registered under ``<case>-unusable-value`` (removed with the case's other subjects).
"""

from __future__ import annotations

import json
import random
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from chaos_env import ChaosEnv
from chaos_poison import Poison, PoisonFactory, WriterSchemas, frame
from chaos_watch import quiet

Origin = tuple[str, int, int]  # topic, partition, offset


def _registry(url: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        url + path,
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def factory(env: ChaosEnv) -> PoisonFactory:
    url = env.settings.registry_url
    writers = {}
    for base in ("customers", "orders"):
        topic = env.shop.topic(base)
        key = _registry(url, f"/subjects/{topic}-key/versions/latest")
        value = _registry(url, f"/subjects/{topic}-value/versions/latest")
        writers[base] = WriterSchemas(
            key["id"], json.loads(key["schema"]), value["id"], json.loads(value["schema"])
        )
    unusable = _registry(
        url, f"/subjects/{env.name}-unusable-value/versions", {"schema": json.dumps("string")}
    )["id"]
    return PoisonFactory(schema=env.name, writers=writers, unusable_id=unusable)


def inject(env: ChaosEnv, rng: random.Random, spread: float = 8.0) -> dict[Origin, str]:
    """Produce every poison kind once over about ``spread`` seconds; where each one landed."""
    from confluent_kafka import Producer

    poisons: list[Poison] = factory(env).build()
    rng.shuffle(poisons)
    landed: dict[Origin, str] = {}
    errors: list[str] = []
    producer = Producer(quiet({"bootstrap.servers": env.settings.kafka_bootstrap, "linger.ms": 0}))

    def delivered(kind: str) -> Any:
        def report(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(f"{kind}: {err}")
            else:
                landed[(msg.topic(), msg.partition(), msg.offset())] = kind

        return report

    for p in poisons:
        producer.produce(
            env.shop.topic(p.table), value=p.value, key=p.key, on_delivery=delivered(p.kind)
        )
        producer.poll(0)
        time.sleep(rng.uniform(0, 2 * spread / len(poisons)))  # spread among the real events
    left = producer.flush(30)
    if left or errors:
        raise RuntimeError(f"poison not delivered: {left} in queue, errors {errors[:3]}")
    (env.folder / "poison.txt").write_text(
        "\n".join(f"{t}[{p}]@{o} {k}" for (t, p, o), k in sorted(landed.items())) + "\n"
    )
    return landed


def cold_schema(env: ChaosEnv, count: int = 5) -> Callable[[], int]:
    """Register a copy of the orders writer schema under ``<case>-cold-value`` (a schema id no
    worker has seen yet) and return a function that produces ``count`` stale copies of the
    set-up's first orders under that id (snapshot reads at LSN 16: every real change of those
    keys has a higher version, so a sink that stores one keeps the newer row). They are valid
    records: a worker meeting them while the registry is down must wait for it, not drop
    them into the DLQ. The function returns how many it produced."""
    from confluent_kafka import Producer

    f = factory(env)
    writer = f.writers["orders"]
    copy = dict(writer.value, doc="streamapp chaos: the orders writer schema under a new id")
    cold_id = _registry(
        env.settings.registry_url,
        f"/subjects/{env.name}-cold-value/versions",
        {"schema": json.dumps(copy)},
    )["id"]

    def produce() -> int:
        producer = Producer(quiet({"bootstrap.servers": env.settings.kafka_bootstrap}))
        for key in range(1, count + 1):
            envelope = f.envelope("orders", key)
            envelope["op"] = "r"
            envelope["source"].update(snapshot="true", lsn=16, sequence=None)
            value = frame(cold_id, f.avro_value("orders", envelope)[5:])
            producer.produce(env.shop.topic("orders"), key=f.avro_key("orders", key), value=value)
        if producer.flush(30):
            raise RuntimeError("the stale orders under a new schema id were not delivered")
        return count

    return produce
