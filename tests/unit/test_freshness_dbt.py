"""`streamapp dbt sources`: the document built from a topology, and the YAML it is written as."""

from __future__ import annotations

from pathlib import Path

import yaml

from streamapp.ops.dbtsources import build_sources, to_yaml
from streamapp.topology import Output, Sink, Source, Topology, t
from streamapp.transform.compile import CompiledTopology, compile_topology

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def topology(key: list[str]) -> CompiledTopology:
    return compile_topology(
        Topology(
            name="people",
            source=Source(
                topic="app.public.people",
                columns={"id": "int", "region": "string", "email": "string", "note": "string"},
            ),
            key=key,
            transforms=[t.mask("email", t.hmac_sha256()), t.metadata("__op")],
            output=Output(topic="warehouse.people"),
            sinks=[
                Sink.postgres("people", schema="crm"),
                Sink.clickhouse("people"),
                Sink.redis("p:{id}"),
            ],
        ),
        secrets={"default": b"k" * 32},
        schemas_dir=SCHEMAS,
    )


def test_postgres_tables_their_views_columns_tests_and_freshness() -> None:
    doc = build_sources([topology(["id"])], warn=(5, "minute"), error=(1, "hour"))
    [source] = doc["sources"]
    assert (source["name"], source["schema"]) == ("streamapp_postgres_crm", "crm")
    table, view = source["tables"]
    assert (table["name"], view["name"]) == ("people", "people_current")
    cols = {c["name"]: c for c in table["columns"]}
    assert cols["id"]["data_tests"] == ["unique", "not_null"]
    assert "masked (hmac_sha256())" in cols["email"]["description"]
    assert "masked" not in cols["note"]["description"] and "data_tests" not in cols["note"]
    assert cols["__version"]["data_tests"] == cols["__deleted"]["data_tests"] == ["not_null"]
    assert "__deleted" not in {c["name"] for c in view["columns"]}
    config = table["config"]
    assert config["freshness"]["error_after"] == {"count": 1, "period": "hour"}
    assert config["loaded_at_query"] == (
        'select complete_through_ts from "crm".streamapp_freshness '
        "where topology = 'people' and sink = 'postgres:people'"
    )


def test_composite_keys_get_not_null_only_and_clickhouse_on_request() -> None:
    doc = build_sources(
        [topology(["id", "region"])],
        warn=(5, "minute"),
        error=(1, "hour"),
        kinds=("postgres", "clickhouse"),
    )
    names = [s["name"] for s in doc["sources"]]
    assert names == ["streamapp_postgres_crm", "streamapp_clickhouse_default"]
    ch = doc["sources"][1]["tables"]
    assert [t["name"] for t in ch] == ["people"]  # no _current view: FINAL instead
    cols = {c["name"]: c for c in ch[0]["columns"]}
    assert cols["id"]["data_tests"] == cols["region"]["data_tests"] == ["not_null"]
    assert (
        "__is_deleted" in cols
        and "sink = 'clickhouse:people'" in ch[0]["config"]["loaded_at_query"]
    )


def test_the_yaml_reads_back_as_the_document() -> None:
    doc = build_sources([topology(["id"])], warn=(5, "minute"), error=(1, "hour"))
    doc["sources"][0]["description"] = "quotes \" and ' and: colons, # hashes\nnewline"
    doc["sources"][0]["meta"] = {"empty": [], "none": {}, "flag": True, "n": 3}
    assert yaml.safe_load(to_yaml(doc)) == doc
