"""Connect REST answers -> connector configs, states, `check` lines; following a snapshot."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from streamapp.commands import check
from streamapp.ops import OpsError
from streamapp.ops.connect import POSTGRES_CONNECTOR, ConnectClient, probe
from streamapp.ops.snapshotrun import wait_for_snapshot

SIGNAL_LSN = 1000
RUNNING = {"connector": {"state": "RUNNING"}, "tasks": [{"state": "RUNNING"}]}


class FakeConnect(ConnectClient):
    """A ConnectClient answering from plain data; ``offsets`` are served one per call."""

    def __init__(
        self,
        states: Mapping[str, Any],
        offsets: list[list[dict[str, Any]]] | None = None,
        plugins: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__("http://connect:8083")
        object.__setattr__(self, "answers", {"/connectors?expand=status": states})
        object.__setattr__(self, "plugin_list", plugins or [])
        object.__setattr__(self, "offset_answers", iter(offsets or []))

    def call(self, method: str, path: str, body: Any = None) -> Any:
        if path == "/connector-plugins":
            return self.plugin_list  # type: ignore[attr-defined]
        if path.endswith("/offsets"):
            return {"offsets": next(self.offset_answers)}  # type: ignore[attr-defined]
        if path == "/connectors":
            return list(self.answers["/connectors?expand=status"])  # type: ignore[attr-defined]
        if path.endswith("/config"):
            return {"connector.class": POSTGRES_CONNECTOR, "topic.prefix": "shop"}
        return self.answers[path]  # type: ignore[attr-defined]


def _status(connector: str, *tasks: str) -> dict[str, Any]:
    return {"status": {"connector": {"state": connector}, "tasks": [{"state": t} for t in tasks]}}


@pytest.mark.parametrize(
    ("status", "ok", "shown"),
    [
        (_status("RUNNING", "RUNNING"), True, "RUNNING"),
        (_status("RUNNING", "FAILED"), False, "RUNNING (tasks: FAILED); see `curl"),
        (_status("FAILED"), False, "FAILED (tasks: none)"),
        (_status("PAUSED", "PAUSED"), None, "PAUSED (tasks: PAUSED)"),
        (_status("STOPPED"), None, "STOPPED"),
        (_status("RUNNING"), None, "RUNNING (tasks: none)"),  # tasks not assigned yet
    ],
)
def test_probe_lines(status: dict[str, Any], ok: bool | None, shown: str) -> None:
    plugins = [{"class": POSTGRES_CONNECTOR, "version": "3.0.8.Final"}]
    lines = probe(FakeConnect({"shop": status}, plugins=plugins))
    assert lines[0] == ("connect", "PostgresConnector 3.0.8.Final, 1 connector plugin(s)", True)
    what, detail, got = lines[1]
    assert (what, got) == ("connector shop", ok)
    assert detail.startswith(shown)


def test_probe_without_the_postgres_plugin() -> None:
    lines = probe(FakeConnect({}, plugins=[{"class": "x.Other", "version": "1"}]))
    assert lines == [
        (
            "connect",
            f"{POSTGRES_CONNECTOR} is not installed; add Debezium's PostgreSQL connector to "
            "the worker's plugin.path",
            False,
        )
    ]


def test_unknown_connector_lists_the_known_ones() -> None:
    client = FakeConnect({"shop": _status("RUNNING", "RUNNING")})
    assert client.config("shop").topic_prefix == "shop"
    with pytest.raises(OpsError, match="has no connector 'nope' \\(known: shop\\)"):
        client.config("nope")


# -- `streamapp check`: is Connect required? ----------------------------------------------------


@pytest.fixture
def no_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check, "check_all", lambda settings, kinds=(): [])
    monkeypatch.delenv("STREAMAPP_CONNECT_URL", raising=False)


def _probe_raises(client: ConnectClient, topics: Any = None) -> Any:
    raise OpsError(f"Kafka Connect at {client.url} is unreachable (refused)")


@pytest.mark.parametrize(
    ("env", "answer", "code", "mark"),
    [
        ("", _probe_raises, 0, "-    connect"),  # not set, nothing answers: not required
        ("http://c:8083", _probe_raises, 1, "FAIL connect"),  # set: required
        ("", lambda c, t: [("connect", "ok", True), ("connector a", "PAUSED", None)], 0, "-   "),
        ("", lambda c, t: [("connect", "ok", True), ("connector a", "FAILED", False)], 1, "FAIL"),
        ("", lambda c, t: [("connect", "no plugin", False)], 1, "FAIL connect"),
        ("http://c:8083", lambda c, t: [("connect", "ok", True)], 0, "ok   connect"),
    ],
)
def test_check_requires_connect_only_when_asked(
    no_services: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    env: str,
    answer: Any,
    code: int,
    mark: str,
) -> None:
    if env:
        monkeypatch.setenv("STREAMAPP_CONNECT_URL", env)
    monkeypatch.setattr("streamapp.ops.connect.probe", answer)
    assert check.run_check() == code
    out = capsys.readouterr().out
    assert mark in out
    if env == "" and answer is _probe_raises:
        assert "set STREAMAPP_CONNECT_URL to require Kafka Connect" in out


# -- following a snapshot -----------------------------------------------------------------------


class FakeRows:
    """Row counts served one per poll; ``drain`` gives the last."""

    def __init__(self, counts: list[dict[str, int]]) -> None:
        self._counts: Iterator[dict[str, int]] = iter(counts)
        self.last: dict[str, int] = {}
        self.closed = False

    def poll(self) -> Mapping[str, int]:
        self.last = next(self._counts, self.last)
        return self.last

    def drain(self) -> Mapping[str, int]:
        return {"public.orders": 3000}

    def close(self) -> None:
        self.closed = True


def _offset(**fields: Any) -> list[dict[str, Any]]:
    return [{"partition": {"server": "shop"}, "offset": fields}]


RUNNING_OFFSET = _offset(
    lsn=1100,
    incremental_snapshot_collections=json.dumps(
        [{"incremental_snapshot_collections_id": "public.orders"}]
    ),
)


def _follow(
    offsets: list[list[dict[str, Any]]], counts: list[dict[str, int]], **kw: Any
) -> tuple[int, list[str]]:
    client = FakeConnect({"shop": _status("RUNNING", "RUNNING")}, offsets)
    config = client.config("shop")
    ticks = iter(range(10_000))
    lines: list[str] = []
    code = wait_for_snapshot(
        kw.pop("client", client),
        config,
        ["public.orders"],
        SIGNAL_LSN,
        FakeRows(counts),
        kw.pop("timeout", 60),
        lines.append,
        clock=lambda: float(next(ticks)),
        sleep=lambda s: None,
    )
    return code, lines


def test_wait_prints_progress_until_the_offsets_say_done() -> None:
    code, lines = _follow(
        [_offset(lsn=900), RUNNING_OFFSET, RUNNING_OFFSET, _offset(lsn=1200)],
        [{"public.orders": 0}, {"public.orders": 1024}, {"public.orders": 2048}, {}],
    )
    assert code == 0
    assert lines[0].startswith("  waiting for the connector to reach the signal: 0 rows")
    assert lines[1].startswith("  running: 1,024 rows re-delivered so far")
    assert lines[2].startswith("  running: 2,048 rows re-delivered so far")
    assert lines[-1].startswith("snapshot done: 3,000 rows re-delivered in ")


def test_wait_gives_up_after_the_timeout() -> None:
    with pytest.raises(OpsError, match="still running after 3 s; it goes on in connector"):
        _follow([RUNNING_OFFSET] * 50, [{"public.orders": 5}], timeout=3)


def test_wait_stops_when_the_connector_fails() -> None:
    failing = FakeConnect({"shop": _status("RUNNING", "FAILED")}, [RUNNING_OFFSET])
    with pytest.raises(OpsError, match="became RUNNING \\(tasks: FAILED\\) during the snapshot"):
        _follow([], [{"public.orders": 5}], client=failing)


@pytest.mark.parametrize(
    ("topics", "ok", "note"),
    [
        (None, False, False),  # topologies unknown: every connector counts
        (["shop.public.orders"], False, False),  # it feeds a topology here
        (["other.public.orders", "shopping.public.x"], None, True),  # someone else's
    ],
)
def test_a_failed_connector_counts_only_when_it_feeds_a_topology(
    topics: list[str] | None, ok: bool | None, note: bool
) -> None:
    plugins = [{"class": POSTGRES_CONNECTOR, "version": "3.0.8.Final"}]
    lines = probe(FakeConnect({"shop": _status("FAILED")}, plugins=plugins), topics)
    _, detail, got = lines[1]
    assert got is ok
    assert ("feeds none of the topologies here" in detail) is note
