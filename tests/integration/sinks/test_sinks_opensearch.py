"""OpenSearch sink on a real node: versioned upserts and deletes, refusals, mapping evolution."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from opensearchpy import OpenSearch
from sinks_harness import COLUMNS, closed_port, record

from streamapp.errors import ConfigError, SinkError
from streamapp.observability.health import sink_preflight, sink_probe
from streamapp.records import UNCHANGED
from streamapp.settings import Settings
from streamapp.sinks.base import TableSpec
from streamapp.sinks.opensearch.sink import OpenSearchSink
from streamapp.types import parse_type


@pytest.fixture
def node(opensearch_node: OpenSearch) -> OpenSearch:
    """A client of the stack's OpenSearch node (conftest ``opensearch_node``: ``make up``
    starts the node; a test fails, never starts it nor skips, when it does not answer)."""
    return opensearch_node


@pytest.fixture
def index(node: OpenSearch, unique: str) -> Iterator[str]:
    name = unique.lower()
    yield name
    node.indices.delete(index=name, ignore_unavailable=True)


def table(index: str, columns: dict[str, Any] | None = None, **options: Any) -> TableSpec:
    return TableSpec("sinks", index, ("id",), columns or COLUMNS, options)


def run(body: Callable[[OpenSearchSink], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        sink = OpenSearchSink(Settings.from_env().opensearch_url)
        await sink.start()
        try:
            return await body(sink)
        finally:
            await sink.close()

    return asyncio.run(main())


def stored(node: OpenSearch, index: str) -> dict[str, tuple[int, dict[str, Any]]]:
    """``{_id: (_version, _source)}`` of every document, after a refresh."""
    node.indices.refresh(index=index)
    hits = node.search(index=index, body={"size": 1000, "version": True})["hits"]["hits"]
    return {h["_id"]: (h["_version"], h["_source"]) for h in hits}


def test_upsert_then_an_older_version_is_ignored(node: OpenSearch, index: str) -> None:
    spec = table(index)

    async def body(sink: OpenSearchSink) -> list[Any]:
        first = await sink.write(spec, [record(1, 10, name="a", amount=Decimal("1.5"), note="x")])
        newer = await sink.write(spec, [record(1, 20, name="b", amount=Decimal("2"), note="y")])
        older = await sink.write(spec, [record(1, 15, name="old", amount=None, note=None)])
        return [first, newer, older]

    assert run(body) == [[], [], []]  # a 409 (a newer version is stored) is not a refusal
    assert stored(node, index) == {"1": (20, {"id": 1, "name": "b", "amount": "2.00", "note": "y"})}
    settings = node.indices.get_settings(index=index)[index]["settings"]["index"]
    assert (settings["number_of_replicas"], settings["gc_deletes"]) == ("0", "7d")


def test_a_delete_is_versioned_and_a_stale_write_after_it_does_not_resurrect(
    node: OpenSearch, index: str
) -> None:
    spec = table(index)

    async def body(sink: OpenSearchSink) -> None:
        await sink.write(spec, [record(1, 10, name="a"), record(2, 10, name="b")])
        await sink.write(spec, [record(1, 30, deleted=True), record(3, 30, deleted=True)])
        # replays older than the deletes, one of a key never written before (3)
        await sink.write(spec, [record(1, 20, name="stale"), record(3, 5, name="stale")])
        await sink.write(spec, [record(2, 5, deleted=True)])  # an older delete changes nothing

    run(body)
    assert set(stored(node, index)) == {"2"}


def test_unchanged_columns_keep_their_stored_values(node: OpenSearch, index: str) -> None:
    spec = table(index)

    async def body(sink: OpenSearchSink) -> None:
        await sink.write(spec, [record(1, 1, name="a", amount=Decimal(3), note="long toast")])
        await sink.write(spec, [record(1, 2, name="b", amount=Decimal(4), note=UNCHANGED)])
        await sink.write(spec, [record(2, 2, name="new", amount=None, note=UNCHANGED)])

    run(body)
    docs = stored(node, index)
    assert docs["1"][1] == {"id": 1, "name": "b", "amount": "4.00", "note": "long toast"}
    assert docs["2"][1]["note"] is None


def test_a_mapping_refusal_is_returned_by_position(node: OpenSearch, index: str) -> None:
    spec = table(index)

    async def body(sink: OpenSearchSink) -> list[Any]:
        await sink.ensure_table(spec)
        # the index learns a different type for "note" than the topology declares (the way a
        # hand-made or older index refuses documents): only the record that sets it is refused
        return await sink.write(
            spec,
            [record(1, 1, name="a"), record(2, 1, name="b", note="x" * 9000), record(3, 1)],
        )

    node.indices.create(
        index=index,
        body={
            "settings": {"number_of_replicas": 0},
            "mappings": {"properties": {"note": {"type": "long"}}},
        },
    )
    rejected = run(body)
    assert [r.positions for r in rejected] == [(1,)]
    assert rejected[0].error.field == "note" and "x" * 20 not in str(rejected[0].error)
    assert not rejected[0].error.retriable
    assert set(stored(node, index)) == {"1", "3"}


def test_a_new_output_column_extends_the_mapping(node: OpenSearch, index: str) -> None:
    wider = {**COLUMNS, "placed": parse_type("timestamptz")}

    async def body(sink: OpenSearchSink) -> None:
        await sink.write(table(index), [record(1, 1, name="a")])
        await sink.write(
            table(index, wider), [record(2, 1, name="b", placed=_aware("2024-05-01T13:45:00"))]
        )

    run(body)
    props = node.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert props["placed"]["type"] == "date"
    assert stored(node, index)["2"][1]["placed"] == "2024-05-01T13:45:00.123456+00:00"


def test_documents_are_searchable_by_text_and_by_filter(node: OpenSearch, index: str) -> None:
    spec = table(index)
    rows = [
        record(1, 1, name="Red wooden chair", amount=Decimal("12.50"), note="x"),
        record(2, 1, name="Blue chair", amount=Decimal("99.99"), note="y"),
        record(3, 1, name="Red table", amount=Decimal("12.50"), note="z"),
    ]
    run(lambda sink: sink.write(spec, rows))
    node.indices.refresh(index=index)

    def ids(query: dict[str, Any]) -> set[str]:
        hits = node.search(index=index, body={"query": query})["hits"]["hits"]
        return {h["_id"] for h in hits}

    assert ids({"match": {"name": "chair"}}) == {"1", "2"}
    assert ids({"term": {"name.raw": "Red table"}}) == {"3"}
    assert ids({"range": {"amount": {"gte": 12.5, "lte": 12.5}}}) == {"1", "3"}
    assert ids({"bool": {"must": {"match": {"name": "red"}}, "filter": {"term": {"id": 1}}}}) == {
        "1"
    }


def test_an_id_template_renders_the_document_id(node: OpenSearch, index: str) -> None:
    run(lambda sink: sink.write(table(index, id="order:{id}"), [record(7, 1, name="a")]))
    assert set(stored(node, index)) == {"order:7"}


def _aware(text: str) -> Any:
    from datetime import UTC, datetime

    return datetime.fromisoformat(text + ".123456").replace(tzinfo=UTC)


def test_a_write_blocked_index_is_backpressure_then_the_retry_lands(
    node: OpenSearch, index: str
) -> None:
    spec = table(index)
    run(lambda sink: sink.ensure_table(spec))
    node.indices.put_settings(index=index, body={"index.blocks.write": True})
    try:
        with pytest.raises(SinkError) as caught:
            run(lambda sink: sink.write(spec, [record(1, 1, name="a")]))
    finally:
        node.indices.put_settings(index=index, body={"index.blocks.write": None})
    assert caught.value.retriable and "cluster_block_exception" in str(caught.value)
    assert run(lambda sink: sink.write(spec, [record(1, 1, name="a")])) == []
    assert set(stored(node, index)) == {"1"}


def test_an_unreachable_node_is_retriable_and_unhealthy() -> None:
    async def main() -> tuple[bool, SinkError]:
        sink = OpenSearchSink(f"http://127.0.0.1:{closed_port()}", timeout=2)
        try:
            with pytest.raises(SinkError) as caught:
                await sink.start()
            return await sink.healthy(), caught.value
        finally:
            await sink.close()

    healthy, error = asyncio.run(main())
    assert not healthy and error.retriable


def test_the_reconcile_reader_returns_documents_in_key_order_with_canonical_values(
    node: OpenSearch, index: str
) -> None:
    from datetime import UTC, date, datetime, time, timedelta
    from uuid import UUID

    from streamapp.reconcile.layout import Layout, make_canon
    from streamapp.sinks.opensearch.reader import OpenSearchRows
    from streamapp.transform.spec import OpenSearchSink as Declared

    types = {
        "id": "string",
        "amount": "decimal(20,3)",
        "day": "date",
        "at": "timestamptz",
        "naive": "timestamp",
        "clock": "time",
        "span": "duration",
        "blob": "bytes",
        "ref": "uuid",
        "doc": "json",
        "tags": "array<string>",
        "ratio": "float",
    }
    columns = {n: parse_type(t) for n, t in types.items()}
    spec = TableSpec("sinks", index, ("id",), columns, {})
    values = {
        "amount": Decimal("-12345678901234567.5"),
        "day": date(1969, 12, 31),
        "at": datetime(2024, 5, 1, 13, 45, 0, 123456, tzinfo=UTC),
        "naive": datetime(9999, 12, 31, 23, 59, 59, 999999),
        "clock": time(13, 45, 0, 250000),
        "span": timedelta(days=-1, microseconds=5),
        "blob": b"\x00\xff",
        "ref": UUID("12345678-1234-5678-1234-567812345678"),
        "doc": {"b": [1, 2.5, None], "a": "x"},
        "tags": ["a", "b"],
        "ratio": 0.1,
    }
    keys = ["b", "ä", "A", "a", "10", "9"]
    rows = [
        record(0, 5 + i, **values)._replace(key=(k,), value={"id": k, **values})
        for i, k in enumerate(keys)
    ]
    rows.append(record(0, 50, deleted=True)._replace(key=("gone",), value={"id": "gone"}))
    run(lambda sink: sink.write(spec, rows))
    node.indices.refresh(index=index)
    layout = Layout(
        "sinks",
        ("id",),
        (columns["id"],),
        tuple(n for n in columns if n != "id"),
        tuple(t for n, t in columns.items() if n != "id"),
    )
    reader = OpenSearchRows(Settings.from_env().opensearch_url, Declared(index), layout, 2)
    reader.open()
    try:
        got = list(reader.rows())
    finally:
        reader.close()
    want_canon = make_canon(layout.canonicalisers(), [values[n] for n in layout.names])
    assert [raw for _, _, (raw, _) in got] == [(k,) for k in sorted(keys)]  # code point order
    assert all(canon == want_canon for _, canon, _ in got)
    assert [v for _, _, (_, v) in got] == [5 + keys.index(k) for k in sorted(keys)]
    assert reader.newest_version() == 5 + len(keys) - 1
    assert reader.notes == []


def test_preflight_reaches_the_node_and_names_the_setting_when_it_cannot(
    node: OpenSearch,
) -> None:
    """A worker with an OpenSearch sink checks the node before it starts (before, it started
    and failed its first batch)."""
    probe = sink_probe("opensearch", Settings.from_env())
    assert probe is not None and probe().startswith("OpenSearch 2.")
    url = f"http://u:sentinel-pw@127.0.0.1:{closed_port()}"
    with pytest.raises(ConfigError) as err:
        sink_preflight(Settings.from_env({"STREAMAPP_OPENSEARCH_URL": url}), ["opensearch"])
    line = str(err.value)
    assert "STREAMAPP_OPENSEARCH_URL" in line and "sentinel-pw" not in line and "\n" not in line


def test_check_probes_the_node_and_the_catalog_only_when_a_topology_declares_them(
    node: OpenSearch,
) -> None:
    from streamapp.observability.health import check_all

    settings = Settings.from_env()
    assert {c.service for c in check_all(settings)} & {"opensearch", "iceberg"} == set()
    declared = {c.service: c for c in check_all(settings, {"opensearch", "iceberg", "postgres"})}
    assert declared["opensearch"].ok and declared["opensearch"].detail.startswith("OpenSearch 2.")
    assert declared["opensearch"].protocol == "http"
    assert declared["iceberg"].ok and "catalog" in declared["iceberg"].detail
    down = Settings.from_env(
        {"STREAMAPP_OPENSEARCH_URL": f"http://u:pw9@127.0.0.1:{closed_port()}"}
    )
    line = next(c for c in check_all(down, {"opensearch"}) if c.service == "opensearch")
    assert not line.ok and "pw9" not in line.address + line.detail


def test_a_large_batch_goes_in_several_bulk_requests_with_refusals_by_position(
    node: OpenSearch, index: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, one batch was one bulk request: past the node's http.max_content_length (100 MB
    by default) the node answers 413 and the worker stopped. Requests now stay near
    BULK_BYTES (shrunk here to 4 KB so that 300 documents take many)."""
    from streamapp.sinks.opensearch import sink as module

    monkeypatch.setattr(module, "BULK_BYTES", 4096)
    requests: list[int] = []
    spec = table(index)

    async def body(sink: OpenSearchSink) -> list[Any]:
        await sink.ensure_table(spec)
        client = sink._connect()
        bulk = client.bulk

        async def counted(*, body: str) -> Any:
            requests.append(len(body))
            return await bulk(body=body)

        client.bulk = counted  # type: ignore[method-assign]
        return await sink.write(
            spec,
            [record(i, 1, name=f"n{i}", note="x" * 9000 if i == 250 else None) for i in range(300)],
        )

    node.indices.create(
        index=index,
        body={
            "settings": {"number_of_replicas": 0},
            "mappings": {"properties": {"note": {"type": "long"}}},
        },
    )
    rejected = run(body)
    assert len(requests) > 5 and max(requests) <= 4096 + 9100
    assert [r.positions for r in rejected] == [(250,)]  # the refusal found in a later request
    assert len(stored(node, index)) == 299
