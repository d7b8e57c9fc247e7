"""JSON messages: Kafka Connect JsonConverter with schemas, or schemaless with topology hints."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from streamapp.decode import jsoncheck, semantic
from streamapp.decode.hints import HintMismatch
from streamapp.decode.limits import LimitExceeded, check_json_depth
from streamapp.decode.schema import SType, from_connect
from streamapp.errors import DecodeError
from streamapp.records import UNCHANGED

Converter = Callable[[Any], Any]
_SCHEMA_HEAD = b'{"schema":'
_PAYLOAD_SEP = b',"payload":'
_CACHE_LIMIT = 512
_SENTINELS: dict[str, tuple[Any, ...]] = {
    "string": (semantic.PLACEHOLDER,),
    "bytes": (semantic.PLACEHOLDER_B64,),
    "array": semantic.PLACEHOLDER_LISTS,
    "map": (semantic.PLACEHOLDER_MAP,),
}


class NotJson(DecodeError):
    """The bytes are not valid JSON (as opposed to JSON whose values cannot be converted)."""


def _what(exc: Exception) -> str:
    if isinstance(exc, LimitExceeded):  # names the limit, never the value
        return f"{type(exc).__name__}: {exc}"
    return type(exc).__name__


def _loads(text: bytes, part: str, exact: bool = False) -> Any:
    """``json.loads`` of one JSON text of a message, refused when nested too deeply; with
    ``exact`` its non-integer numbers are parsed as ``Decimal`` (every digit kept)."""
    try:
        check_json_depth(text)
    except LimitExceeded as exc:
        raise DecodeError(f"the {part}'s {exc}; the message is corrupt or hostile") from None
    return json.loads(text, parse_float=Decimal) if exact else json.loads(text)


def _has_decimal(st: SType) -> bool:
    """Whether a Connect ``Decimal`` occurs anywhere in ``st`` (it may arrive as a number)."""
    if st.semantic == jsoncheck.DECIMAL:
        return True
    if st.items is not None and _has_decimal(st.items):
        return True
    return any(_has_decimal(f) for _, f in st.fields)


def _decimals(rows: Mapping[str, SType]) -> tuple[tuple[str, ...], bool]:
    """(the rows' top-level Decimal field names, whether a Decimal is nested deeper)."""
    names: set[str] = set()
    nested = False
    for row in rows.values():
        for name, ftype in row.fields:
            if ftype.semantic == jsoncheck.DECIMAL:
                names.add(name)
            elif _has_decimal(ftype):
                nested = True
    return tuple(sorted(names)), nested


@dataclass(frozen=True, slots=True)
class RowPlan:
    """Per-field work for one row: the JSON types the schema allows (see ``decode.jsoncheck``),
    TOAST sentinels to recognise and the converter to apply.

    Each field is (name, accepted Python types, integer bounds or None, fixer or None, deep
    check or None, sentinels or None, converter or None, label).
    """

    fields: tuple[
        tuple[
            str,
            tuple[type, ...],
            tuple[int, int] | None,
            Converter | None,
            Converter | None,
            tuple[Any, ...] | None,
            Converter | None,
            str,
        ],
        ...,
    ]

    @staticmethod
    def of(st: SType) -> RowPlan:
        """Plan the fields of the struct ``st`` (JSON representation: bytes are base64)."""
        fields = []
        for name, ftype in st.fields:
            deep = (
                jsoncheck.checker(ftype)
                if ftype.kind in ("array", "map")
                or (ftype.kind == "struct" and ftype.semantic not in semantic.STRUCT_SEMANTICS)
                else None
            )
            fields.append(
                (
                    name,
                    jsoncheck.accepted(ftype),
                    jsoncheck.bounds(ftype),
                    jsoncheck.fixer(ftype),
                    deep,
                    _SENTINELS.get(ftype.kind),
                    semantic.converter(ftype, b64=True),
                    jsoncheck.connect_name(ftype),
                )
            )
        return RowPlan(tuple(fields))

    def apply(self, row: Any, where: str) -> Any:
        """Check and convert ``row`` in place (a field the payload omits becomes None, as
        JsonConverter reads it); DecodeError names the field and both types, never the value."""
        if not isinstance(row, dict):
            return row
        for name, types, limits, fix, deep, sentinels, conv, label in self.fields:
            v = row.get(name)
            if v is None:
                if name not in row:  # JsonConverter reads an absent field as null
                    row[name] = None
                continue
            if type(v) not in types:
                if fix is None:
                    raise _mismatch(where, name, label, jsoncheck.json_name(v))
                try:
                    v = row[name] = fix(v)
                except ValueError:
                    raise _mismatch(where, name, label, jsoncheck.json_name(v)) from None
            elif limits is not None and not limits[0] <= v <= limits[1]:
                raise _mismatch(where, name, label, f"an integer outside the {label} range")
            if sentinels is not None and v in sentinels:
                row[name] = UNCHANGED
                continue
            if deep is not None:
                try:
                    v = row[name] = deep(v)
                except jsoncheck.Mismatch as exc:
                    raise _mismatch(where, name + exc.path, exc.expected, exc.got) from None
            if conv is not None:
                try:
                    row[name] = conv(v)
                except semantic.CONVERSION_ERRORS as exc:
                    raise DecodeError(
                        f"field '{where}.{name}' ({label}) cannot be converted from a "
                        f"{type(v).__name__} ({_what(exc)}); check the connector's converters",
                        field=name,
                    ) from None
        return row


def _mismatch(where: str, name: str, expected: str, got: str) -> DecodeError:
    return DecodeError(
        f"field '{where}.{name}' is {expected} in the message schema but the payload has "
        f"{got}; the message does not match its own schema: check the producer and the "
        "value.converter",
        field=name.split(".")[0].split("[")[0],
    )


@dataclass(slots=True)
class JsonPlan:
    """What one Connect schema means: the shape of the value and the plans for its rows.

    ``row`` is the envelope's row type (for schema-drift checks); ``verdict`` is the Decoder's
    cached drift verdict for it, ``fit`` its cached declared-type fit (``decode.declared``).
    A Connect Decimal arrives as base64 text, or with ``decimal.format=NUMERIC`` as a JSON
    number that may hold more digits than a float: then the payload's non-integer numbers must
    be parsed as Decimal (float fields turn them back into floats). ``exact``: always so (a
    Decimal nested in an array, map or struct, or the whole value, or once a row's Decimal
    field held a number); ``decimals``: the rows' Decimal fields, parsed exactly only when one
    of them holds a number (see ``inexact``).
    """

    shape: str  # envelope | mongo | record | value
    rows: Mapping[str, RowPlan]  # envelope: before/after; record: "" -> the record itself
    value: Converter | None  # shape "value": converter of the whole value
    row: SType | None = None
    exact: bool = False
    decimals: tuple[str, ...] = ()

    def inexact(self, payload: Any) -> bool:
        """Whether a Decimal field of a row of ``payload`` (parsed with floats) is a float."""
        if not self.decimals or not isinstance(payload, dict):
            return False
        rows = (
            (payload,) if self.shape == "record" else (payload.get("before"), payload.get("after"))
        )
        return any(
            isinstance(row, dict) and type(row.get(name)) is float
            for row in rows
            for name in self.decimals
        )

    verdict: Any = None
    fit: Any = None


def plan_for(schema: Any) -> JsonPlan:
    """Compile the plan for a Connect JSON ``schema`` object."""
    top = from_connect(schema)
    if top.kind != "struct":
        return JsonPlan("value", {}, _top_value(top), exact=_has_decimal(top))
    if "op" in top.field_names():
        after = top.child("after") or top.child("before")
        if after is not None and after.kind == "string":
            return JsonPlan("mongo", {}, None)
        rows = {
            n: RowPlan.of(f)
            for n, f in top.fields
            if n in ("before", "after") and f.kind == "struct"
        }
        found = {n: f for n, f in top.fields if n in rows}
        names, nested = _decimals(found)
        return JsonPlan("envelope", rows, None, row=after, exact=nested, decimals=names)
    names, nested = _decimals({"": top})
    return JsonPlan("record", {"": RowPlan.of(top)}, None, exact=nested, decimals=names)


def _top_value(top: SType) -> Converter:
    """Check, then convert, a value whose schema is not a struct (e.g. a primitive key)."""
    check = jsoncheck.checker(top)
    conv = semantic.converter(top, b64=True)
    label = jsoncheck.connect_name(top)

    def value(v: Any) -> Any:
        if v is None:
            return None
        try:
            v = check(v)
        except jsoncheck.Mismatch as exc:
            raise _mismatch("value", f"(top){exc.path}", exc.expected, exc.got) from None
        if conv is None:
            return v
        try:
            return conv(v)
        except semantic.CONVERSION_ERRORS as exc:
            raise DecodeError(
                f"the message value ({label}) cannot be converted from a {type(v).__name__} "
                f"({_what(exc)}); check the connector's converters"
            ) from None

    return value


Hints = Mapping[str, tuple[Converter, str]]  # column -> (converter, declared type text)


def hint_row(row: Any, hints: Hints, where: str) -> Any:
    """Schemaless row: TOAST placeholders -> UNCHANGED, then declared columns converted."""
    if not isinstance(row, dict):
        return row
    toasted = [k for k, v in row.items() if semantic.is_placeholder(v)]
    for name in toasted:
        row[name] = UNCHANGED
    for name, (conv, declared) in hints.items():
        v = row.get(name)
        if v is None or v is UNCHANGED:
            continue
        try:
            row[name] = conv(v)
        except semantic.CONVERSION_ERRORS as exc:
            detail = str(exc) if isinstance(exc, HintMismatch) else f"{_what(exc)} converting it"
            raise DecodeError(
                f"field '{where}.{name}' declared {declared} does not match ({detail}); "
                "fix the topology's column type or the connector's handling modes",
                field=name,
            ) from None
    return row


def _drop_before(payload: dict[str, Any]) -> None:
    """Lazy before-images: a non-delete event's ``before`` is not converted, it becomes None."""
    if payload.get("op") != "d" and payload.get("before") is not None:
        payload["before"] = None


class JsonFormat:
    """Decodes JSON keys and values; caches one plan per distinct schema text (bounded).

    With ``lazy_before`` the ``before`` row of an envelope whose op is not ``"d"`` is set to
    None instead of being converted (see ``Decoder``'s ``needs_before``).
    """

    def __init__(self, hints: Hints, *, lazy_before: bool = False) -> None:
        self._hints = hints
        self._lazy_before = lazy_before
        self._plans: dict[bytes, JsonPlan] = {}
        self.last_plan: JsonPlan | None = None  # the plan of the last ``value`` (None: schemaless)

    def _plan(self, schema_text: bytes | None, schema: Any) -> JsonPlan:
        key = schema_text if schema_text is not None else json.dumps(schema).encode()
        plan = self._plans.get(key)
        if plan is None:
            plan = plan_for(schema if schema is not None else json.loads(key))
            if len(self._plans) >= _CACHE_LIMIT:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _parse(self, raw: bytes, part: str = "value") -> tuple[JsonPlan | None, Any]:
        """(the schema's plan, or None when there is no schema, and the payload).

        JsonConverter writes ``{"schema":<schema>,"payload":<payload>}``; the schema text is
        cut out by position so a known schema is neither parsed nor walked again. Anything
        unexpected falls back to parsing the whole message. ``{"payload": <object>}`` and a
        null schema are schemaless (Debezium's JSON serde and JsonConverter with a null
        schema write them). When a Decimal of the schema may hold a JSON number
        (``JsonPlan.exact`` / ``inexact``) the payload's numbers are parsed exactly.
        DecodeError when a JSON text nests deeper than ``decode.limits.MAX_JSON_DEPTH``
        (checked before parsing).
        """
        if raw.startswith(_SCHEMA_HEAD):
            cut = raw.find(_PAYLOAD_SEP, len(_SCHEMA_HEAD))
            body = raw.rstrip()
            if cut > 0 and body.endswith(b"}"):
                text = raw[len(_SCHEMA_HEAD) : cut]
                try:
                    plan = self._plans.get(text)
                    if plan is None and text.strip() != b"null":
                        plan = self._plan(text, _loads(text, f"{part} schema"))
                    exact = plan is not None and plan.exact
                    data = body[cut + len(_PAYLOAD_SEP) : -1]
                    payload = _loads(data, f"{part} payload", exact)
                    if plan is not None and plan.inexact(payload):
                        plan.exact = True  # the converter writes numbers: parse exactly now
                        payload = json.loads(data, parse_float=Decimal)
                except ValueError:
                    pass  # not the layout we expected: parse the whole message below
                else:
                    return plan, payload
        try:
            doc = _loads(raw, part)
        except ValueError:
            raise NotJson("message starts like JSON but is not valid JSON") from None
        if not isinstance(doc, dict) or "payload" not in doc:
            return None, doc
        keys = doc.keys()
        if keys == {"schema", "payload"} and doc["schema"] is not None:
            plan = self._plan(None, doc["schema"])
            if plan.exact or plan.inexact(doc["payload"]):  # again, keeping every digit
                plan.exact = True
                doc = json.loads(raw, parse_float=Decimal)
            return plan, doc["payload"]
        if keys == {"schema", "payload"} or (
            keys == {"payload"} and (doc["payload"] is None or isinstance(doc["payload"], dict))
        ):
            return None, doc["payload"]
        return None, doc

    def value(self, raw: bytes) -> tuple[Any, str]:
        """The value payload with rows converted, and its shape (see ``JsonPlan.shape``)."""
        plan, payload = self._parse(raw)
        self.last_plan = None
        if payload is None:
            return None, "tombstone"
        if plan is not None:
            self.last_plan = plan
            if plan.shape == "value":
                return (plan.value(payload) if plan.value else payload), "value"
            if plan.shape == "record":
                return plan.rows[""].apply(payload, "value"), "record"
            if self._lazy_before and isinstance(payload, dict):  # envelope or mongo
                _drop_before(payload)
            if plan.shape == "envelope" and isinstance(payload, dict):
                for name, rows in plan.rows.items():
                    payload[name] = rows.apply(payload.get(name), name)
            return payload, plan.shape
        if not isinstance(payload, dict) or "op" not in payload:
            return payload, "record"
        mongo = isinstance(payload.get("after"), str) or isinstance(payload.get("before"), str)
        if self._lazy_before:
            _drop_before(payload)
        if mongo:
            return payload, "mongo"
        for name in ("before", "after"):
            payload[name] = hint_row(payload.get(name), self._hints, name)
        return payload, "envelope"

    def key(self, raw: bytes) -> Any:
        """The key payload converted by its schema, or by the hints when schemaless."""
        plan, payload = self._parse(raw, "key")
        if plan is not None:
            if plan.shape == "value":
                return plan.value(payload) if plan.value and payload is not None else payload
            return plan.rows[""].apply(payload, "key") if "" in plan.rows else payload
        return hint_row(payload, self._hints, "key")
