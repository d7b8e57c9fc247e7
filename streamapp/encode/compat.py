"""Schema compatibility per the Avro resolution rules, with one explaining line per problem.

BACKWARD: the new schema (reader) can read data written with the old one (writer). FORWARD: the
old schema can read data written with the new one. FULL: both. The ``_TRANSITIVE`` levels check
against every old version instead of the latest only; ``NONE`` checks nothing. Beyond plain
resolution the checker also refuses changes that resolve but silently change meaning: a decimal
scale change, a narrower decimal precision, one logical type swapped for another, or a type
promotion (e.g. bytes -> string) from or to a logical type such as decimal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import fastavro

from streamapp.encode.schema import describe_avro
from streamapp.errors import ConfigError

LEVELS: Final = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)
_PROMOTIONS: Final = {  # writer type -> reader types that can read it
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
    "string": {"bytes"},
    "bytes": {"string"},
}
_PRIMITIVES: Final = frozenset(
    {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}
)


@dataclass(frozen=True, slots=True)
class _Direction:
    """Who reads whose data in one check, and how problems are worded."""

    level: str
    reader_is_new: bool
    why: str  # "new readers must read old data"


def compatibility_problems(
    old: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    new: Mapping[str, Any],
    level: str = "BACKWARD",
) -> list[str]:
    """One line per incompatibility of ``new`` with ``old`` at ``level``; empty when compatible.

    ``old`` is the latest registered schema, or the list of registered versions, oldest first
    (non-transitive levels use the last one). Each line names the field path and the rule.
    Raises ConfigError for an unknown level or a schema that is not valid Avro.
    """
    level = level.upper()
    if level not in LEVELS:
        raise ConfigError(f"unknown compatibility level {level!r}; use one of {', '.join(LEVELS)}")
    olds = [old] if isinstance(old, Mapping) else list(old)
    if level == "NONE" or not olds:
        return []
    if not level.endswith("_TRANSITIVE"):
        olds = olds[-1:]
    new_p = _parse(new, "new")
    problems: list[str] = []
    for i, old_schema in enumerate(olds, start=1):
        old_p = _parse(old_schema, "old")
        which = f" of old version {i} (of {len(olds)})" if len(olds) > 1 else ""
        if level.startswith(("BACKWARD", "FULL")):
            data = f"data{which}" if which else "old data"
            d = _Direction(level, True, f"new readers must read {data}")
            problems.extend(_Checker(d, new_p, old_p).run())
        if level.startswith(("FORWARD", "FULL")):
            readers = f"readers{which}" if which else "old readers"
            d = _Direction(level, False, f"{readers} must read new data")
            problems.extend(_Checker(d, old_p, new_p).run())
    return problems


def _parse(schema: Any, label: str) -> tuple[Any, dict[str, Any]]:
    named: dict[str, Any] = {}
    try:
        parsed = fastavro.parse_schema(schema, named)
    except Exception as exc:  # noqa: BLE001 - fastavro raises several types for a bad schema
        raise ConfigError(
            f"the {label} schema is not valid Avro ({type(exc).__name__}: {exc}); fix the .avsc"
        ) from None
    return parsed, named


class _Checker:
    """Walks a reader and a writer schema together and collects the resolution problems."""

    def __init__(self, d: _Direction, reader: Any, writer: Any) -> None:
        self.d = d
        (self.reader, self.r_named), (self.writer, self.w_named) = reader, writer
        self.seen: set[tuple[str, str]] = set()

    def run(self) -> list[str]:
        return self.check(self.reader, self.writer, "")

    def say(self, path: str, what: str) -> str:
        where = f"field {path!r}" if path else "schema"
        return f"{where}: {what} ({self.d.level}: {self.d.why})"

    def old_new(self, r: Any, w: Any) -> tuple[str, str]:
        """Descriptions of (old, new) for a reader/writer pair."""
        pair = (describe_avro(w), describe_avro(r))
        return pair if self.d.reader_is_new else (pair[1], pair[0])

    def resolve(self, t: Any, named: Mapping[str, Any]) -> Any:
        """A type with name references looked up and primitive ``{"type": ...}`` unwrapped."""
        if isinstance(t, str) and t not in _PRIMITIVES:
            return named.get(t, t)
        if isinstance(t, Mapping) and t.get("type") in named:
            return named[t["type"]]
        if isinstance(t, Mapping) and isinstance(t.get("type"), str) and t["type"] in _PRIMITIVES:
            return t if "logicalType" in t else t["type"]
        if isinstance(t, Mapping) and not isinstance(t.get("type"), str):
            return self.resolve(t.get("type"), named)
        return t

    def check(self, r: Any, w: Any, path: str) -> list[str]:
        r, w = self.resolve(r, self.r_named), self.resolve(w, self.w_named)
        if isinstance(w, list):
            out: list[str] = []
            for branch in w:
                if isinstance(r, list):
                    out.extend(self.union_branch(r, branch, path))
                elif found := self.check(r, branch, path):
                    same = _type_name(r) == _type_name(self.resolve(branch, self.w_named))
                    out.extend(found if same else [self.say(path, self.branch_lost(branch, r))])
            return out
        if isinstance(r, list):
            return self.union_branch(r, w, path)
        return self.same_kind(r, w, path)

    def union_branch(self, r_union: list[Any], w: Any, path: str) -> list[str]:
        """A writer branch must be readable by some reader branch (the first that fits)."""
        best: list[str] | None = None
        for branch in r_union:
            found = self.check(branch, w, path)
            if not found:
                return []
            if _type_name(self.resolve(branch, self.r_named)) == _type_name(
                self.resolve(w, self.w_named)
            ):
                best = found  # same kind of type: its nested problems explain the most
        if best is not None:
            return best
        return [self.say(path, self.branch_lost(w, r_union))]

    def branch_lost(self, w_branch: Any, r: Any) -> str:
        w_name = _type_name(self.resolve(w_branch, self.w_named))
        if w_name == "null":
            if self.d.reader_is_new:
                return "nullability narrowed: the old schema allows null, the new one does not"
            return "became nullable, but the old schema cannot read null"
        old, new = self.old_new(r, w_branch)
        return f"type changed from {old} to {new} — not a legal Avro promotion"

    def same_kind(self, r: Any, w: Any, path: str) -> list[str]:
        rt, wt = _type_name(r), _type_name(w)
        if rt != wt:
            promotable = rt in _PROMOTIONS.get(wt, ())
            if promotable and _logical(r) is None and _logical(w) is None:
                return []
            old, new = self.old_new(r, w)
            if promotable:
                what = f"type changed from {old} to {new} — the promotion would misread the values"
                return [self.say(path, what)]
            return [
                self.say(path, f"type changed from {old} to {new} — not a legal Avro promotion")
            ]
        if rt in ("record", "enum", "fixed") and not _names_match(r, w):
            old, new = (w, r) if self.d.reader_is_new else (r, w)
            hint = "; add the old name to the new schema's aliases" if self.d.reader_is_new else ""
            what = f"{rt} name changed from {old['name']} to {new['name']}{hint}"
            return [self.say(path, what)]
        if rt == "record":
            return self.record(r, w, path)
        if rt == "enum":
            return self.enum(r, w, path)
        if rt == "fixed" and r.get("size") != w.get("size"):
            old, new = self.old_new(r, w)
            return [self.say(path, f"fixed size changed from {old} to {new}")]
        if rt in ("array", "map"):
            sub, suffix = ("items", "[]") if rt == "array" else ("values", "{}")
            return self.check(r[sub], w[sub], path + suffix)
        return self.logical(r, w, path)

    def record(self, r: Mapping[str, Any], w: Mapping[str, Any], path: str) -> list[str]:
        key = (str(r["name"]), str(w["name"]))
        if key in self.seen:  # a recursive type already under check
            return []
        self.seen.add(key)
        w_fields = {f["name"]: f for f in w.get("fields", ())}
        out: list[str] = []
        for f in r.get("fields", ()):
            sub = f"{path}.{f['name']}" if path else str(f["name"])
            match = w_fields.get(f["name"]) or next(
                (w_fields[a] for a in f.get("aliases", ()) if a in w_fields), None
            )
            if match is not None:
                out.extend(self.check(f["type"], match["type"], sub))
            elif "default" not in f:
                what = (
                    "added without a default"
                    if self.d.reader_is_new
                    else "removed, and the old schema has no default for it"
                )
                out.append(self.say(sub, what))
        return out

    def enum(self, r: Mapping[str, Any], w: Mapping[str, Any], path: str) -> list[str]:
        if r.get("default") is not None:
            return []
        known = set(r.get("symbols", ()))
        verb = "removed" if self.d.reader_is_new else "added, and the old enum has no default"
        return [
            self.say(path, f"enum symbol {s!r} {verb}")
            for s in w.get("symbols", ())
            if s not in known
        ]

    def logical(self, r: Any, w: Any, path: str) -> list[str]:
        r_l, w_l = _logical(r), _logical(w)
        if r_l is None or w_l is None or r_l == w_l:
            return []
        if r_l[0] == w_l[0] == "decimal":
            (_, r_prec, r_scale), (_, w_prec, w_scale) = r_l, w_l
            if r_scale != w_scale:
                was, now = (w_scale, r_scale) if self.d.reader_is_new else (r_scale, w_scale)
                what = f"decimal scale changed from {was} to {now} — values would be misread"
            elif r_prec >= w_prec:
                return []
            elif self.d.reader_is_new:
                what = (
                    f"decimal precision narrowed from {w_prec} to {r_prec} — old values may not fit"
                )
            else:
                what = f"decimal precision widened from {r_prec} to {w_prec} — old readers overflow"
            return [self.say(path, what)]
        old, new = self.old_new(r, w)
        what = f"logical type changed from {old} to {new} — values would be misread"
        return [self.say(path, what)]


def _type_name(t: Any) -> str:
    if isinstance(t, str):
        return t
    if isinstance(t, list):
        return "union"
    return str(t.get("type"))


def _names_match(r: Mapping[str, Any], w: Mapping[str, Any]) -> bool:
    r_name, w_name = str(r["name"]), str(w["name"])
    if r_name == w_name:
        return True
    namespace = r_name.rpartition(".")[0]
    aliases = {a if "." in a or not namespace else f"{namespace}.{a}" for a in r.get("aliases", ())}
    return w_name in aliases or w_name.rpartition(".")[2] in r.get("aliases", ())


def _logical(t: Any) -> tuple[str, int, int] | None:
    if not isinstance(t, Mapping) or "logicalType" not in t:
        return None
    return (str(t["logicalType"]), int(t.get("precision", 0)), int(t.get("scale", 0)))
