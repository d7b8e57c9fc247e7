"""OpenSearch sink: one document per key, written by bulk with external versioning.

Every index and delete carries the event's version with ``version_type=external_gte``: the node
stores a write only when its version is >= the stored one (ties come from one source
transaction and partition order decides, as in the other sinks), so an older event can never
overwrite a newer document and replays converge on the node itself. A 409 version conflict
means a newer version is already stored and is not an error. Deletes are versioned deletes;
their tombstone keeps older writes out for the index's ``gc_deletes`` (a setting; the node's
60 s default would let a stale write after a delete resurrect the document).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import ConnectionError as OSConnectionError
from opensearchpy.exceptions import TransportError

from streamapp.errors import SinkError
from streamapp.records import OutputRecord
from streamapp.settings import redact_url
from streamapp.sinks.base import Rejected, Sink, TableSpec, check_keys, collapse
from streamapp.sinks.opensearch.mapping import MAX_ID_BYTES, id_template, index_body, properties
from streamapp.sinks.redis.keys import KeyTemplate
from streamapp.sinks.values import Unfit, checker, quantize, to_json
from streamapp.types import Kind

VERSION_TYPE: Final = "external_gte"
_FIELD: Final = re.compile(r"failed to parse field \[([^\]]+)\]")
_TRANSIENT_STATUS: Final = frozenset({429, 502, 503, 504})
# Bytes per bulk request: a batch is sent in requests of about this size, one after another,
# far below the node's http.max_content_length (100 MB by default; a larger request is a 413).
BULK_BYTES: Final = 8 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class _Plan:
    """What ``write`` needs of one table: its index, id template and per-column checks."""

    table: TableSpec
    index: str
    ids: KeyTemplate
    key_pos: Mapping[str, int]
    names: tuple[str, ...]
    checks: tuple[Callable[[Any], str | None], ...]
    decimals: tuple[int, ...]


@dataclass(slots=True)
class _Item:
    """One document to write: the origins in the batch, its id, version and JSON source."""

    origins: tuple[int, ...]
    doc_id: str
    version: int
    doc: dict[str, Any] | None  # None: a delete
    keep: frozenset[str]  # columns whose stored value the document keeps


class OpenSearchSink(Sink):
    """OpenSearch through one ``AsyncOpenSearch`` client (aiohttp; safe to share)."""

    kind = "opensearch"

    def __init__(
        self,
        url: str,
        *,
        ca_file: str | None = None,
        replicas: int = 0,
        gc_deletes: str = "7d",
        timeout: float = 30.0,
    ) -> None:
        self.url = url
        self._ca_file = ca_file
        self._replicas = replicas
        self._gc_deletes = gc_deletes
        self._timeout = timeout
        self._client: AsyncOpenSearch | None = None
        self._plans: dict[tuple[Any, ...], _Plan] = {}

    # -- connection ----------------------------------------------------------------------------

    def _connect(self) -> AsyncOpenSearch:
        if self._client is None:
            tls: dict[str, Any] = {}
            if self.url.startswith("https://"):
                tls = {"use_ssl": True, "verify_certs": True}
                if self._ca_file:
                    tls["ca_certs"] = self._ca_file
            self._client = AsyncOpenSearch(hosts=[self.url], timeout=self._timeout, **tls)
        return self._client

    async def start(self) -> None:
        try:
            await self._connect().info()
        except (TransportError, OSError) as exc:
            raise self._error(None, "connecting", exc) from exc

    async def healthy(self) -> bool:
        try:
            health = await self._connect().cluster.health()
            return bool(health.get("status") in ("green", "yellow"))
        except Exception:  # noqa: BLE001 - healthy never raises
            return False

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    # -- indices -------------------------------------------------------------------------------

    async def ensure_table(self, table: TableSpec) -> None:
        """Create the index (strict mapping, one shard, the configured replicas and
        ``gc_deletes``) if missing, else add the fields of new columns; idempotent."""
        client = self._connect()
        index = table.target
        wanted = properties(table)
        try:
            if not await client.indices.exists(index=index):
                body = index_body(table, replicas=self._replicas, gc_deletes=self._gc_deletes)
                try:
                    await client.indices.create(index=index, body=body)
                except TransportError as exc:
                    if _error_type(exc) != "resource_already_exists_exception":
                        raise
            mapping = await client.indices.get_mapping(index=index)
            have = mapping.get(index, {}).get("mappings", {}).get("properties", {})
            missing = {n: m for n, m in wanted.items() if n not in have}
            if missing:
                await client.indices.put_mapping(index=index, body={"properties": missing})
        except (TransportError, OSError) as exc:
            raise self._error(table, "creating or extending the index", exc) from exc
        self._plans[table.signature] = _compile(table)

    # -- writes --------------------------------------------------------------------------------

    async def write(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        plan = self._plans.get(table.signature)
        if plan is None:
            await self.ensure_table(table)
            plan = self._plans[table.signature]
        valid, positions, rejected = check_keys(table, records)
        items = _prepare(plan, *collapse(valid, positions), rejected)
        if not items:
            return rejected
        results: list[Any] = []
        try:
            await self._fill_unchanged(plan, items)
            for body in _bodies(plan.index, items):
                response = await self._connect().bulk(body=body)
                results.extend(response["items"])
        except (TransportError, OSError) as exc:
            raise self._error(table, "writing a batch", exc) from exc
        transient: str | None = None
        for item, result in zip(items, results, strict=True):
            outcome = next(iter(result.values()))
            status = int(outcome.get("status", 500))
            if status < 300 or status == 409 or (status == 404 and item.doc is None):
                continue  # stored, a newer version is there, or a delete of nothing (tombstone)
            error = outcome.get("error") or {}
            kind = str(error.get("type", "unknown")) if isinstance(error, dict) else "unknown"
            if status == 400:
                rejected.append(Rejected(item.origins, _refusal(table, kind, error)))
            elif status in _TRANSIENT_STATUS or status >= 500 or kind == "cluster_block_exception":
                transient = transient or f"HTTP {status}, {kind}"
            else:
                raise SinkError(
                    f"{table.where}: OpenSearch refused a write (HTTP {status}, {kind}); "
                    "check the index and the user's permissions",
                )
        if transient is not None:
            raise SinkError(
                f"{table.where}: OpenSearch is overloaded or unavailable ({transient}); retrying",
                retriable=True,
            )
        return rejected

    def precheck(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        """Records with a value its field cannot hold or with no document id, without I/O."""
        plan = self._plans.get(table.signature)
        if plan is None:
            return []
        valid, positions, rejected = check_keys(table, records)
        _prepare(plan, valid, [(p,) for p in positions], rejected)
        return rejected

    async def _fill_unchanged(self, plan: _Plan, items: list[_Item]) -> None:
        """Give the columns a record left unchanged their stored values (null when the document
        is missing): the index operation replaces the whole document."""
        partial = [i for i in items if i.keep and i.doc is not None]
        if not partial:
            return
        wanted = sorted(set().union(*(i.keep for i in partial)))
        response = await self._connect().mget(
            index=plan.index,
            body={"ids": [i.doc_id for i in partial]},
            params={"_source_includes": ",".join(wanted)},
        )
        for item, found in zip(partial, response["docs"], strict=True):
            stored = found.get("_source", {}) if found.get("found") else {}
            assert item.doc is not None
            for name in item.keep:
                item.doc[name] = stored.get(name)

    # -- errors --------------------------------------------------------------------------------

    def _error(self, table: TableSpec | None, doing: str, exc: BaseException) -> SinkError:
        """A batch-level SinkError: retriable for connection loss, timeouts, 429 and 5xx."""
        where = table.where if table is not None else f"opensearch sink {redact_url(self.url)}"
        status = getattr(exc, "status_code", None)
        transient = isinstance(exc, OSConnectionError | OSError) or (
            isinstance(status, int) and (status in _TRANSIENT_STATUS or status >= 500)
        )
        what = type(exc).__name__ + (f", HTTP {status}" if isinstance(status, int) else "")
        kind = _error_type(exc)
        if kind:
            what += f", {kind}"
        hint = "retrying" if transient else "fix the index, the URL or the credentials"
        message = f"{where}: OpenSearch failed {doing} ({what}); {hint}"
        return SinkError(message, retriable=transient)


def _compile(table: TableSpec) -> _Plan:
    names = tuple(table.columns)
    return _Plan(
        table=table,
        index=table.target,
        ids=id_template(table.options.get("id"), table.key_columns),
        key_pos={k: i for i, k in enumerate(table.key_columns)},
        names=names,
        checks=tuple(checker(table.columns[n]) for n in names),
        decimals=tuple(i for i, n in enumerate(names) if table.columns[n].kind is Kind.DECIMAL),
    )


def _prepare(
    plan: _Plan,
    records: Sequence[OutputRecord],
    origins: Sequence[tuple[int, ...]],
    rejected: list[Rejected],
) -> list[_Item]:
    """The documents of ``records`` (decimals rounded to their scale, values checked against
    their columns); records with an unfit value or no valid id go to ``rejected``."""
    table = plan.table
    keys = frozenset(table.key_columns)
    items: list[_Item] = []
    for r, origin in zip(records, origins, strict=True):
        try:
            doc_id = plan.ids.key_of(r, plan.key_pos)
            if len(doc_id.encode()) > MAX_ID_BYTES:
                raise Unfit(f"the document id is longer than {MAX_ID_BYTES} bytes")
            if r.deleted:
                items.append(_Item(origin, doc_id, r.version, None, frozenset()))
                continue
            keep = r.unchanged - keys if r.unchanged else frozenset()
            doc = _document(plan, r, keep)
        except Unfit as exc:
            msg = f"{table.where}: {exc.reason}; fix the topology or the source"
            rejected.append(Rejected(origin, SinkError(msg, field=exc.column or None)))
            continue
        items.append(_Item(origin, doc_id, r.version, doc, keep))
    return items


def _document(plan: _Plan, r: OutputRecord, keep: frozenset[str]) -> dict[str, Any]:
    get = r.value.get
    row = [get(n) for n in plan.names]
    for column, v in zip(plan.table.key_columns, r.key, strict=True):
        row[plan.names.index(column)] = v
    for i, (name, v) in enumerate(zip(plan.names, row, strict=True)):
        if v is None or name in keep:
            row[i] = None
            continue
        why = plan.checks[i](v)
        if why is not None:
            raise Unfit(f"column {name!r} {why}", name)
    for i in plan.decimals:
        value = row[i]
        if value is not None:
            row[i] = quantize(plan.table.columns[plan.names[i]], value)
    doc = dict(zip(plan.names, row, strict=True))
    try:
        to_json(doc)
    except (TypeError, ValueError):
        for name, v in doc.items():
            try:
                to_json(v)
            except (TypeError, ValueError):
                raise Unfit(f"column {name!r} holds a value with no JSON form", name) from None
    return doc


def _bodies(index: str, items: Sequence[_Item]) -> list[str]:
    """The bulk request bodies of ``items``, in order, each about ``BULK_BYTES`` at most (one
    larger document makes a request of its own). A retry of the batch resends them all:
    versioned writes make the repeat harmless."""
    limit = BULK_BYTES
    bodies: list[str] = []
    lines: list[str] = []
    size = 0
    for item in items:
        action = _action(index, item)
        if lines and size + len(action) > limit:
            bodies.append("".join(lines))
            lines, size = [], 0
        lines.append(action)
        size += len(action)  # characters: bytes for ASCII, a lower bound otherwise
    if lines:
        bodies.append("".join(lines))
    return bodies


def _action(index: str, item: _Item) -> str:
    """The bulk lines of ``item``: a versioned index or delete."""
    meta = {"_index": index, "_id": item.doc_id, "version": item.version}
    meta["version_type"] = VERSION_TYPE
    if item.doc is None:
        return to_json({"delete": meta}) + "\n"
    return to_json({"index": meta}) + "\n" + to_json(item.doc) + "\n"


def _error_type(exc: BaseException) -> str:
    info = getattr(exc, "info", None)
    if isinstance(info, dict):
        error = info.get("error")
        if isinstance(error, dict):
            return str(error.get("type", ""))
    return ""


def _refusal(table: TableSpec, kind: str, error: Mapping[str, Any]) -> SinkError:
    """The content refusal of one document: the error type and field, never the node's reason
    (it quotes the value)."""
    found = _FIELD.search(str(error.get("reason", "")))
    column = found.group(1) if found else None
    where = f" in field {column!r}" if column else ""
    return SinkError(
        f"{table.where}: OpenSearch refused the document{where} ({kind}); fix the value "
        "upstream or the index mapping",
        field=column,
    )
