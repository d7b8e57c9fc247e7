"""Reconcile reader of an OpenSearch sink index: every document, in the join's key order.

The index is read through one scroll (a point-in-time view of the index, ``chunk_rows`` hits
per page, with ``_version``); documents come back in index order, so they are sorted by the
join's key with :func:`streamapp.reconcile.extsort.external_sort` (bounded memory: runs spill to
temp files). Deletes leave no document, so ``newest_version`` is the highest version among the
documents read (a delete newer than every document is not seen).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import TransportError
from opensearchpy.helpers import scan

from streamapp.ops import OpsError
from streamapp.reconcile.extsort import external_sort
from streamapp.reconcile.layout import Canon, Expected, Key, Layout, make_canon, make_key
from streamapp.settings import redact_url
from streamapp.transform.spec import OpenSearchSink


class OpenSearchRows:
    """The documents of ``spec``'s index as ``(sort key, canonical row, (key, version))``.

    Fields the index mapping lacks read as null and are named in ``notes``; a missing index
    reads as empty (noted), like a missing table.
    """

    def __init__(
        self,
        url: str,
        spec: OpenSearchSink,
        layout: Layout,
        chunk_rows: int,
        *,
        ca_file: str | None = None,
    ) -> None:
        self.url = url
        self.spec = spec
        self.layout = layout
        self.chunk_rows = chunk_rows
        self.notes: list[str] = []
        self.exists = False
        self._ca_file = ca_file
        self._client: OpenSearch | None = None
        self._newest: int | None = None

    def open(self) -> None:
        """Connect and look the index up; OpsError when the node cannot be reached."""
        tls: dict[str, Any] = {}
        if self.url.startswith("https://"):
            tls = {"use_ssl": True, "verify_certs": True}
            if self._ca_file:
                tls["ca_certs"] = self._ca_file
        self._client = OpenSearch(hosts=[self.url], timeout=60, **tls)
        index = self.spec.index
        try:
            self.exists = bool(self._client.indices.exists(index=index))
            if not self.exists:
                self.notes.append(f"index {index} does not exist")
                return
            mapping = self._client.indices.get_mapping(index=index)
        except (TransportError, OSError) as exc:
            raise OpsError(
                f"cannot read index {index} at {redact_url(self.url)} ({type(exc).__name__}); "
                "check STREAMAPP_OPENSEARCH_URL and that the node runs"
            ) from exc
        fields = mapping.get(index, {}).get("mappings", {}).get("properties", {})
        lacking = [k for k in self.layout.key_names if k not in fields]
        if lacking:
            raise OpsError(
                f"{self.spec}: index lacks key field(s) {lacking}; "
                "it was not created by streamapp's OpenSearch sink"
            )
        absent = [n for n in self.layout.names if n not in fields]
        if absent:
            self.notes.append(f"field(s) missing in the index (read as null): {absent}")

    def newest_version(self) -> int | None:
        """The highest ``_version`` among the documents ``rows`` read (None before or if none)."""
        return self._newest

    def rows(self) -> Iterator[tuple[Key, Canon, tuple[Key, int | None]]]:
        """``(sort key, canonical row, (stored key values, _version))`` per document,
        ascending by key."""
        if not self.exists:
            return
        for item in external_sort(self._unsorted()):
            raw, version = item.source_key[:-1], item.source_key[-1]
            yield item.key, item.canon, (raw, version)

    def _unsorted(self) -> Iterator[Expected]:
        client = self._client
        assert client is not None
        layout = self.layout
        sorters, canons = layout.key_sorters(), layout.canonicalisers()
        hits = scan(
            client,
            index=self.spec.index,
            query={"version": True, "sort": ["_doc"]},
            size=self.chunk_rows,
            scroll="5m",
        )
        for hit in hits:
            source = hit.get("_source", {})
            version = hit.get("_version")
            if isinstance(version, int):
                self._newest = version if self._newest is None else max(self._newest, version)
            raw = tuple(source.get(k) for k in layout.key_names)
            canon = make_canon(canons, [source.get(n) for n in layout.names])
            yield Expected(make_key(sorters, raw), canon, (), (*raw, version))

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
