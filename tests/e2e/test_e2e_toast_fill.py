"""Real Debezium: a primary-key update of a row with a large TOASTed column (default replica
identity) keeps the column's value in the sinks, filled from the materialised table's last
image of the old key (``__debezium.oldkey``); without the fill the sink stores NULL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from shop_harness import ShopHarness, wait_until

from streamapp.transform.loader import load_topologies

MODULE = """
from streamapp.topology import Sink, Source, Topology, t

topology = Topology(
    name={name!r} + "_customers",
    source=Source(
        topic={topic!r}, columns={{"id": "int", "full_name": "string", "notes": "string"}}
    ),
    key="id",
    transforms=[t.rename(full_name="name")],
    sinks=[Sink.postgres({name!r} + "_customers"), Sink.redis({name!r} + ":customer:{{id}}")],
    dlq={topic!r} + ".dlq",
    materialize=True,
)
"""


def big_notes(seed: str) -> str:
    """About 40 kB of hex digits: compressed it still exceeds the TOAST threshold, so
    PostgreSQL stores it out of line and an update that leaves it alone does not send it."""
    return "".join(hashlib.sha256(f"{seed}{i}".encode()).hexdigest() for i in range(640))


@pytest.mark.parametrize("shop", ["avro", "json"], indirect=True)
def test_pk_update_keeps_toasted_column(
    shop: ShopHarness, kafka_admin: Any, redis_client: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("STREAMAPP_STATE_DIR", str(tmp_path / "state"))
    shop.create_schema()
    folder = tmp_path / "topologies"
    folder.mkdir()
    (folder / "toast.py").write_text(MODULE.format(name=shop.name, topic=shop.topic("customers")))
    compiled = load_topologies(
        folder,
        secrets=shop.settings.mask_secrets(),
        schemas_dir=shop.settings.path(shop.settings.schemas_dir),
    )
    shop.topologies = {"customers": compiled[0]}
    shop.create_topics(kafka_admin)
    notes = {1: big_notes("one"), 2: big_notes("two")}
    table = f"{shop.name}.customers"
    for i, text in notes.items():
        shop.source.execute(
            f"INSERT INTO {table} (id, full_name, notes) VALUES (%s, %s, %s)", (i, f"n{i}", text)
        )
    shop.register_connector()
    shop.start_worker()
    sink = f'"{shop.name}_customers"'

    def stored() -> dict[int, tuple[Any, ...]]:
        try:
            rows = shop.warehouse.execute(
                f"SELECT id, name, notes FROM {sink} WHERE NOT __deleted"
            ).fetchall()
        except Exception:  # noqa: BLE001 - not created yet
            return {}
        return {r["id"]: (r["name"], r["notes"]) for r in rows}

    wait_until(
        lambda: len(stored()) == 2,
        what="the snapshot in PostgreSQL",
        timeout=120,
        tail=shop.worker_tail,
    )
    # an update that leaves the TOASTed notes alone: the placeholder, the sink keeps its value
    shop.source.execute(f"UPDATE {table} SET full_name = 'renamed' WHERE id = 2")
    # primary-key updates: Debezium sends a delete of the old key and a create of the new key
    # whose notes is the placeholder (default replica identity)
    shop.source.execute(f"UPDATE {table} SET id = 101 WHERE id = 1")
    shop.source.execute(f"UPDATE {table} SET id = 102, full_name = 'moved' WHERE id = 2")
    expected = {101: ("n1", notes[1]), 102: ("moved", notes[2])}
    wait_until(
        lambda: stored() == expected,
        what="the moved rows with their notes",
        timeout=120,
        tail=lambda: f"{shop.worker_tail()}\nsink: {_short(stored())}",
    )
    for key in (101, 102):
        value = json.loads(redis_client.get(f"{shop.name}:customer:{key}"))
        assert value["notes"] == expected[key][1]
    shop.assert_worker_running()
    assert "to the DLQ" not in shop.log.read_text()


def _short(rows: dict[int, tuple[Any, ...]]) -> dict[int, Any]:
    return {k: (v[0], None if v[1] is None else f"{len(v[1])} chars") for k, v in rows.items()}
