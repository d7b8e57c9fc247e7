"""Redis sink: one key per record from a template, JSON or hash values, guarded by version in Lua.

Next to each value key ``K`` the sink keeps ``K:__version`` (the version that wrote ``K``). One Lua
script (EVALSHA, atomic on the server) compares versions, merges unchanged columns from the stored
value and writes; a delete removes ``K`` and keeps ``K:__version`` as a tombstone for
``tombstone_ttl_seconds`` (default 7 days, Kafka's default retention), so an older event
redelivered within that window cannot resurrect the key. A replay from further back re-applies
the delete too, so it still converges. On Redis Cluster put a hash tag in the template
(``"{{orders:{id}}}"``) so both keys share a slot. Keys are rendered by ``sinks.redis.keys``
(injective: special characters in values are percent-encoded), which ``reconcile`` reads with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, NoScriptError, RedisError, ResponseError

from streamapp.errors import ConfigError, SinkError
from streamapp.records import OutputRecord
from streamapp.settings import redact_url
from streamapp.sinks.base import Rejected, Sink, TableSpec, check_keys, collapse
from streamapp.sinks.redis.keys import VERSION_SUFFIX as VERSION_SUFFIX  # re-exported
from streamapp.sinks.redis.keys import KeyTemplate, KeyTemplateError, version_key
from streamapp.sinks.redis.types import scalar_text
from streamapp.sinks.tlshints import untrusted
from streamapp.sinks.values import Unfit as _Unfit
from streamapp.sinks.values import checker, quantize, to_json
from streamapp.types import FieldType, Kind

TOMBSTONE_TTL_SECONDS: Final = 7 * 24 * 3600
PIPELINE_RECORDS: Final = 2_000
_TRANSIENT_REPLIES: Final = frozenset(
    {"BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "OOM", "READONLY", "NOSCRIPT"}
)  # NOSCRIPT: lost again right after a reload; the retry policy decides

UPSERT_LUA: Final = r"""
-- KEYS[1] value key, KEYS[2] version key; ARGV[1] version (decimal, no leading zeros),
-- ARGV[2] mode: d = delete, j = JSON document, m = JSON merge, h = hash; ARGV[3] ttl (0 = none),
-- ARGV[4] tombstone ttl; then j: document | m: (json name, json value or '' = unchanged)... |
-- h: n, n unchanged field names, then (field, value)... Returns 1 if written, 0 if stale
-- (older than the stored version; an equal version is applied: partition order decides ties).
local function newer(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local function skip_string(s, i)
  local j = i + 1
  while true do
    local k = string.find(s, '["\\]', j)
    if not k then return #s + 1 end
    if string.byte(s, k) == 34 then return k + 1 end
    j = k + 2
  end
end
local function skip_value(s, i)
  local c = string.byte(s, i)
  if c == 34 then return skip_string(s, i) end
  if c == 123 or c == 91 then
    local depth, j = 0, i
    while true do
      local k = string.find(s, '["{}%[%]]', j)
      if not k then return #s + 1 end
      local d = string.byte(s, k)
      if d == 34 then
        j = skip_string(s, k)
      else
        if d == 123 or d == 91 then depth = depth + 1 else depth = depth - 1 end
        j = k + 1
        if depth == 0 then return j end
      end
    end
  end
  return string.find(s, '[,}%]]', i) or (#s + 1)
end
local function members(s)
  local out, i, n = {}, 2, #s
  while i <= n do
    if string.byte(s, i) == 34 then
      local e = skip_string(s, i)
      local ve = skip_value(s, e + 1)
      out[string.sub(s, i, e - 1)] = string.sub(s, e + 1, ve - 1)
      i = ve
    else
      i = i + 1
    end
  end
  return out
end

local version, mode = ARGV[1], ARGV[2]
local current = redis.call('GET', KEYS[2])
if current and newer(current, version) then return 0 end  -- only strictly older is stale
if mode == 'd' then
  redis.call('DEL', KEYS[1])
  redis.call('SET', KEYS[2], version, 'EX', ARGV[4])
  return 1
end
if mode == 'j' then
  redis.call('SET', KEYS[1], ARGV[5])
elseif mode == 'm' then
  local old = redis.call('GET', KEYS[1])
  local stored = {}
  if old then stored = members(old) end
  local parts = {}
  for i = 5, #ARGV, 2 do
    local value = ARGV[i + 1]
    if value == '' then value = stored[ARGV[i]] or 'null' end
    parts[#parts + 1] = ARGV[i] .. ':' .. value
  end
  redis.call('SET', KEYS[1], '{' .. table.concat(parts, ',') .. '}')
else
  local n = tonumber(ARGV[5])
  local kept = {}
  if n > 0 then kept = redis.call('HMGET', KEYS[1], unpack(ARGV, 6, 5 + n)) end
  redis.call('DEL', KEYS[1])
  local args = {}
  for i = 1, n do
    if kept[i] then
      args[#args + 1] = ARGV[5 + i]
      args[#args + 1] = kept[i]
    end
  end
  for i = 6 + n, #ARGV do args[#args + 1] = ARGV[i] end
  if #args > 0 then redis.call('HSET', KEYS[1], unpack(args)) end
end
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('SET', KEYS[2], version, 'EX', ttl)
else
  redis.call('SET', KEYS[2], version)
end
return 1
"""


@dataclass(frozen=True, slots=True)
class _Plan:
    """A compiled key template and value layout for one TableSpec."""

    table: TableSpec
    template: KeyTemplate
    key_pos: dict[str, int]  # key column -> position in record.key
    names: tuple[str, ...]  # columns, sorted (JSON key order)
    checks: tuple[Callable[[Any], str | None], ...]  # per column of ``names``
    decimals: tuple[tuple[int, FieldType], ...]  # (position in ``names``, type) of decimals
    json_names: tuple[bytes, ...]  # each column as a JSON string, same order
    hash: bool
    ttl: bytes
    tombstone_ttl: bytes


def compile_table(table: TableSpec) -> _Plan:
    """Validate the key template and options of ``table``; ConfigError names the problem."""
    try:
        template = KeyTemplate.parse(table.target)
    except KeyTemplateError as exc:
        raise ConfigError(f"{table.where}: {exc}") from None
    for column in template.columns:
        if column not in table.columns:
            raise ConfigError(
                f"{table.where}: key template placeholder {{{column}}} must name an output column "
                f"without format spec or conversion; columns are {list(table.columns)}"
            )
    fmt = table.options.get("format", "json")
    if fmt not in ("json", "hash"):
        raise ConfigError(f"{table.where}: format must be 'json' or 'hash', got {fmt!r}")
    ttl = _seconds(table, "ttl_seconds", 0)
    tomb = _seconds(table, "tombstone_ttl_seconds", TOMBSTONE_TTL_SECONDS)
    names = tuple(sorted(table.columns))
    return _Plan(
        table=table,
        template=template,
        key_pos={k: i for i, k in enumerate(table.key_columns)},
        names=names,
        checks=tuple(checker(table.columns[n], deep=False) for n in names),
        decimals=tuple(
            (i, table.columns[n])
            for i, n in enumerate(names)
            if table.columns[n].kind is Kind.DECIMAL
        ),
        json_names=tuple(to_json(n).encode() for n in names),
        hash=fmt == "hash",
        ttl=str(ttl).encode(),
        tombstone_ttl=str(tomb).encode(),
    )


def _seconds(table: TableSpec, option: str, default: int) -> int:
    value = table.options.get(option, default)
    if value is None:
        return 0
    if type(value) is not int or value < 0 or (value == 0 and option != "ttl_seconds"):
        raise ConfigError(f"{table.where}: {option} must be a positive int (seconds)")
    return value


class RedisSink(Sink):
    """Redis through redis-py asyncio; one pipelined round trip per ``PIPELINE_RECORDS`` records.

    Durability is the server's: with ``appendonly yes`` a write is in the AOF when the reply
    arrives (fsynced per ``appendfsync``). redis-py's own retries are off: the worker's retry
    policy and circuit breaker decide.
    """

    kind = "redis"

    def __init__(
        self, url: str, *, timeout: float = 5.0, pipeline_records: int = PIPELINE_RECORDS
    ) -> None:
        self.url = url
        self.pipeline_records = pipeline_records
        self._timeout = timeout
        self._redis: aioredis.Redis | None = None
        self._sha: str | None = None
        self._plans: dict[tuple[Any, ...], _Plan] = {}

    async def start(self) -> None:
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                retry=Retry(NoBackoff(), 0),
            )
        if self._sha is None:
            try:
                self._sha = str(await self._redis.script_load(UPSERT_LUA))
            except RedisError as exc:
                raise self._error("loading the upsert script", exc) from exc

    def _error(self, doing: str, exc: BaseException) -> SinkError:
        transient = not isinstance(exc, AuthenticationError) and (
            isinstance(exc, OSError | asyncio.TimeoutError)
            or not isinstance(exc, ResponseError)
            or _reply_code(exc) in _TRANSIENT_REPLIES
        )
        if isinstance(exc, AuthenticationError):
            hint = "check the user and password in STREAMAPP_REDIS_URL"
        elif untrusted(exc):
            hint = "the server's certificate is not trusted: set STREAMAPP_REDIS_CA_FILE"
        else:
            hint = "retrying" if transient else "check STREAMAPP_REDIS_URL and the server"
        return SinkError(
            f"redis sink {redact_url(self.url)}: failed {doing} ({type(exc).__name__}); {hint}",
            retriable=transient,
        )

    async def healthy(self) -> bool:
        try:
            await self.start()
            assert self._redis is not None
            return bool(await self._redis.ping())
        except (SinkError, RedisError, OSError):
            return False

    async def close(self) -> None:
        client, self._redis, self._sha = self._redis, None, None
        if client is not None:
            await client.aclose()

    async def ensure_table(self, table: TableSpec) -> None:
        """Validate and compile the key template; no schema to create (JSON carries new fields)."""
        self._plans[_plan_key(table)] = compile_table(table)

    def precheck(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        """Records ``write`` would refuse before sending (a lone surrogate, a value with no
        text form, a key template it cannot render), by the same code."""
        plan = self._plans.get(_plan_key(table))
        if plan is None:
            return []
        valid, positions, rejected = check_keys(table, records)
        for r, position in zip(valid, positions, strict=True):
            _args_or_refusal(plan, r, (position,), rejected)
        return rejected

    async def write(self, table: TableSpec, records: Sequence[OutputRecord]) -> list[Rejected]:
        key = _plan_key(table)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = compile_table(table)
        valid, positions, rejected = check_keys(table, records)
        calls: list[tuple[tuple[int, ...], list[bytes]]] = []  # (origins, script arguments)
        for r, origins in zip(*collapse(valid, positions), strict=True):
            args = _args_or_refusal(plan, r, origins, rejected)
            if args is not None:
                calls.append((origins, args))
        await self.start()
        for start in range(0, len(calls), self.pipeline_records):
            chunk = calls[start : start + self.pipeline_records]
            for (origins, _), reply in zip(chunk, await self._run(chunk), strict=True):
                if isinstance(reply, ResponseError):
                    code = _reply_code(reply)
                    msg = f"{table.where}: Redis refused the record ({code}); check the key's type"
                    rejected.append(Rejected(origins, SinkError(msg)))
        return rejected

    async def write_tombstones(self, table: TableSpec, keys: Sequence[tuple[str, int]]) -> int:
        """Delete rendered value keys as a delete event of ``version`` would: the same script,
        so a key whose stored version is newer stays, and ``K:__version`` keeps the tombstone.
        For ``reconcile --repair`` (a key read back by SCAN has no record to render it from).
        Returns how many keys were deleted (the rest were newer)."""
        key = _plan_key(table)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = compile_table(table)
        calls: list[tuple[tuple[int, ...], list[bytes]]] = [
            (
                (),
                [
                    k.encode(),
                    version_key(k).encode(),
                    str(v).encode(),
                    b"d",
                    plan.ttl,
                    plan.tombstone_ttl,
                ],
            )
            for k, v in keys
        ]
        await self.start()
        written = 0
        for start in range(0, len(calls), self.pipeline_records):
            for reply in await self._run(calls[start : start + self.pipeline_records]):
                if isinstance(reply, ResponseError):
                    raise SinkError(
                        f"{table.where}: Redis refused a tombstone ({_reply_code(reply)})"
                    )
                written += reply == 1
        return written

    async def _run(self, chunk: list[tuple[tuple[int, ...], list[bytes]]]) -> list[Any]:
        """EVALSHA every call in one pipeline; reload the script once if the server lost it."""
        replies: list[Any] = [None] * len(chunk)
        todo = list(range(len(chunk)))
        for attempt in range(2):
            client, sha = self._redis, self._sha
            assert client is not None and sha is not None
            try:
                pipe = client.pipeline(transaction=False)
                for i in todo:
                    pipe.evalsha(sha, 2, *chunk[i][1])
                results = await pipe.execute(raise_on_error=False)
            except RedisError as exc:
                raise self._error("writing a batch", exc) from exc
            except OSError as exc:
                raise self._error("writing a batch", exc) from exc
            lost = []
            for i, reply in zip(todo, results, strict=True):
                if isinstance(reply, NoScriptError) and attempt == 0:
                    lost.append(i)
                elif isinstance(reply, ResponseError) and _reply_code(reply) in _TRANSIENT_REPLIES:
                    raise self._error("writing a batch", reply)
                else:
                    replies[i] = reply
            if not lost:
                break
            self._sha = None
            await self.start()
            todo = lost
        return replies


def _reply_code(exc: BaseException) -> str:
    """The error code of a Redis error reply (WRONGTYPE, OOM, ...); redis-py strips known ones."""
    code = getattr(exc, "status_code", None)
    return code if isinstance(code, str) and code else (str(exc).split(" ", 1)[0] or "?")


def _plan_key(table: TableSpec) -> tuple[Any, ...]:
    return (*table.signature, repr(sorted(table.options.items())))


def _args_or_refusal(
    plan: _Plan, r: OutputRecord, origins: tuple[int, ...], rejected: list[Rejected]
) -> list[bytes] | None:
    """``_call_args`` of ``r``, or None with its refusal added to ``rejected``."""
    where = plan.table.where
    try:
        return _call_args(plan, r)
    except UnicodeError:  # its message would quote the offending character
        msg = f"{where}: a string holds a lone surrogate (not valid Unicode)"
        rejected.append(Rejected(origins, SinkError(msg)))
    except _Unfit as exc:
        msg = f"{where}: {exc}; fix the topology or the source"
        rejected.append(Rejected(origins, SinkError(msg, field=exc.column)))
    return None


def _call_args(plan: _Plan, r: OutputRecord) -> list[bytes]:
    """KEYS and ARGV of the upsert script for one record; _Unfit when a value has no form."""
    key = plan.template.key_of(r, plan.key_pos)
    head = [key.encode(), version_key(key).encode(), str(r.version).encode()]
    if r.deleted:
        return [*head, b"d", plan.ttl, plan.tombstone_ttl]
    get, unchanged, pos = r.value.get, r.unchanged, plan.key_pos
    values = [r.key[pos[n]] if n in pos else get(n) for n in plan.names]
    for n, check, v in zip(plan.names, plan.checks, values, strict=True):
        if v is not None and n not in unchanged and (why := check(v)) is not None:
            raise _Unfit(f"column {n!r} {why}", n)
    for i, ft in plan.decimals:  # at the column's scale, rounded as PostgreSQL and ClickHouse do
        if type(v := values[i]) is Decimal:
            values[i] = quantize(ft, v)
    if plan.hash:
        kept = [n.encode() for n in plan.names if n in unchanged]
        fields: list[bytes] = []
        for n, v in zip(plan.names, values, strict=True):
            if v is not None and n not in unchanged:
                fields += (n.encode(), _text(n, v).encode())
        return [*head, b"h", plan.ttl, plan.tombstone_ttl, str(len(kept)).encode(), *kept, *fields]
    if not unchanged:
        try:
            doc = to_json(dict(zip(plan.names, values, strict=True)))
        except (TypeError, ValueError):
            for n, v in zip(plan.names, values, strict=True):
                _json(n, v)  # raises, naming the column
            raise
        return [*head, b"j", plan.ttl, plan.tombstone_ttl, doc.encode()]
    args = [*head, b"m", plan.ttl, plan.tombstone_ttl]
    for n, jn, v in zip(plan.names, plan.json_names, values, strict=True):
        args += (jn, b"" if n in unchanged else _json(n, v).encode())
    return args


def _text(column: str, v: Any) -> str:
    try:
        return scalar_text(v)
    except (TypeError, ValueError):
        kind = type(v).__name__
        raise _Unfit(f"column {column!r} holds a {kind} value with no text form", column) from None


def _json(column: str, v: Any) -> str:
    try:
        return to_json(v)
    except (TypeError, ValueError):
        raise _Unfit(
            f"column {column!r} holds a value with no JSON form (NaN, infinity or an unsupported "
            f"type, here {type(v).__name__})",
            column,
        ) from None
