"""Reconcile a Redis sink: pipelined reads of the expected keys, and a SCAN count of the rest.

Redis has no key order, so the join goes the other way round: for each chunk of expected rows
the value keys (``GET`` for JSON documents, ``HGETALL`` for hashes) and their ``K:__version``
keys are read in one pipeline; keys are rendered by the sink's own ``sinks.redis.keys``. SCAN
(``MATCH`` from the key template, streamed ``count`` at a time) counts the sink's value keys;
extra keys = counted - matched. Keys of other templates that fit the same pattern are counted
too; a key whose TTL ran out is missing. When the tally logs its keys (``reconcile --repair``)
the expected keys and the scanned ones are both logged to disk and merged: a scanned key no
expected row renders is a stray, logged with its ``K:__version``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

from streamapp.reconcile.keylog import KeyLog
from streamapp.reconcile.layout import Expected, Layout, make_canon
from streamapp.reconcile.merge import Tally
from streamapp.records import OutputRecord
from streamapp.sinks.redis.keys import KeyTemplate, version_key
from streamapp.sinks.values import Unfit
from streamapp.transform.spec import RedisSink

SCAN_COUNT: Final = 1_000


class RedisTarget:
    """A Redis sink's key template, compiled: render a record's key, match the sink's keys."""

    def __init__(self, spec: RedisSink, key_columns: tuple[str, ...]) -> None:
        self.spec = spec
        self.template = KeyTemplate.parse(spec.key_template)
        self._key_pos = {k: i for i, k in enumerate(key_columns)}
        self.pattern = self.template.scan_pattern()
        self._regex = self.template.key_regex()

    def key_of(self, record: OutputRecord) -> str:
        """The key the Redis sink stores ``record`` under; for a record the sink refuses (no
        key value) the empty key, so the row counts as missing."""
        try:
            return self.template.key_of(record, self._key_pos)
        except Unfit:
            return ""

    def is_value_key(self, key: bytes) -> bool:
        """True for a key this template renders (never a ``:__version`` companion)."""
        return self._regex.fullmatch(key.decode("utf-8", "surrogateescape")) is not None


class RedisJoin:
    """Feed expected rows (any order); chunks of ``chunk_rows`` are read in one pipeline each.

    ``index`` is this sink's position in ``Expected.redis_keys``.
    """

    def __init__(
        self,
        tally: Tally,
        client: Any,
        target: RedisTarget,
        layout: Layout,
        index: int,
        chunk_rows: int,
    ) -> None:
        self.tally = tally
        self.client = client
        self.target = target
        self.index = index
        self.chunk_rows = chunk_rows
        self.names = layout.names
        self.hash = target.spec.format == "hash"
        self.canons: tuple[Callable[[Any], Any], ...] = layout.canonicalisers(json_text=self.hash)
        self._pending: list[Expected] = []
        self._expected: KeyLog | None = KeyLog() if tally.diffs is not None else None

    def feed(self, item: Expected) -> None:
        """Account for one expected row; reads happen per full chunk."""
        self.tally.count_expected(item.canon)
        self._pending.append(item)
        if self._expected is not None:
            self._expected.add((item.redis_keys[self.index],))
        if len(self._pending) >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        items, self._pending = self._pending, []
        if not items:
            return
        pipe = self.client.pipeline(transaction=False)
        for item in items:
            key = item.redis_keys[self.index]
            if self.hash:
                pipe.hgetall(key)
            else:
                pipe.get(key)
            pipe.get(version_key(key))
        replies = pipe.execute()
        tally = self.tally
        for n, item in enumerate(items):
            stored, version = replies[2 * n], replies[2 * n + 1]
            doc = self._doc(stored)
            if doc is None:
                tally.add_missing(item.key, item.source_key)
                continue
            got = make_canon(self.canons, [doc.get(name) for name in self.names])
            tally.count_read(got)
            tally.pair(item.key, item.canon, got, item.source_key)
            if version is not None and version.isdigit():
                v = int(version)
                tally.newest_version = max(v, tally.newest_version or 0)

    def _doc(self, stored: Any) -> dict[str, Any] | None:
        """The stored value as column -> value; None when the key does not exist."""
        if self.hash:
            if not stored:
                return None
            return {k.decode(): v.decode("utf-8", "surrogateescape") for k, v in stored.items()}
        if stored is None:
            return None
        try:
            doc = json.loads(stored)
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}

    def finish(self) -> None:
        """Read the last chunk, then SCAN-count the sink's keys: extra = counted - matched."""
        self._flush()
        counted = 0
        scanned = KeyLog() if self._expected is not None else None
        for key in self.client.scan_iter(match=self.target.pattern, count=SCAN_COUNT):
            if self.target.is_value_key(key):
                counted += 1
                if scanned is not None:
                    scanned.add((key.decode("utf-8", "surrogateescape"),))
        tally = self.tally
        tally.rows = counted
        tally.extra = max(counted - tally.matched, 0)
        if scanned is not None and self._expected is not None:
            with scanned, self._expected:
                self._log_strays(scanned, self._expected)

    def _log_strays(self, scanned: KeyLog, expected: KeyLog) -> None:
        """Log every scanned key no expected row renders, with its stored version."""
        assert self.tally.diffs is not None
        want = expected.sorted_keys()
        head = next(want, None)
        batch: list[str] = []
        for (key,) in scanned.sorted_keys():
            while head is not None and head[0] < key:
                head = next(want, None)
            if head is not None and head[0] == key:
                continue
            batch.append(key)
            if len(batch) >= self.chunk_rows:
                self._strays(batch)
                batch = []
        self._strays(batch)

    def _strays(self, keys: list[str]) -> None:
        if not keys:
            return
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.get(version_key(key))
        assert self.tally.diffs is not None
        for key, version in zip(keys, pipe.execute(), strict=True):
            stored = int(version) if version is not None and version.isdigit() else None
            self.tally.diffs.strays.add((key,), ((key,), stored))
