"""Turn a compiled chain into one Python function, ``process(event) -> list[OutputRecord]``.

The generated source is straight-line code over local variables (one per column), compiled
once with ``compile``/``exec``; it is kept on the CompiledTopology and registered with
``linecache`` so tracebacks show it. Only generated identifiers and ``repr``-quoted column
names appear in it; every user object is a bound global (see ``Chain.bind``).
"""

from __future__ import annotations

import linecache
from collections.abc import Callable, Sequence
from typing import Any

from streamapp.errors import TransformError
from streamapp.records import UNCHANGED, ChangeEvent, EventKind, Op, OutputRecord
from streamapp.transform.chain import ROW_OPS, Chain, Statement, U, user_code_failed

Process = Callable[[ChangeEvent], list[OutputRecord]]
_EMPTY: frozenset[str] = frozenset()
_TS = "src.ts_ms if src is not None else None"


def _unchanged(row: dict[str, Any]) -> frozenset[str]:
    return frozenset([name for name, value in row.items() if value is UNCHANGED])


def _body(statements: Sequence[Statement]) -> list[str]:
    return [f"    {line}" for st in statements for line in st.lines]


def _slice(statements: Sequence[Statement], wanted: set[str]) -> list[Statement]:
    """The statements needed to compute the locals in ``wanted``, in order."""
    needed, kept = set(wanted), []
    for st in reversed(statements):
        if needed.intersection(st.targets):
            kept.append(st)
            needed.update(st.reads)
    return kept[::-1]


def render(chain: Chain, *, name: str, loads: int, key: Sequence[str]) -> str:
    """The module source for ``chain`` (its first ``loads`` statements read the source row).

    Three functions: ``_row`` (a row to a record), ``_key_only`` (a delete without a usable
    before-image: the key columns from the message key) and ``process`` (kinds, ops, filters).
    """
    chain.namespace.update(
        {
            U: UNCHANGED,
            "_DATA": EventKind.DATA,
            "_DELETE": Op.DELETE,
            "_OR": OutputRecord,
            "_new": tuple.__new__,
            "_TE": TransformError,
            "_EMPTY": _EMPTY,
            "_NAME": name,
            "_unchanged": _unchanged,
        }
    )
    key_vars = [chain.columns[k].var for k in key]
    key_tuple = "(" + "".join(f"{v}, " for v in key_vars) + ")"
    row, key_only = _row(chain, loads, key, key_tuple), _key_only(chain, key, key_tuple)
    return "\n".join([*row, "", *key_only, "", *_process(chain)]) + "\n"


def _key_checks(chain: Chain, key: Sequence[str], kind: str, how: str) -> list[str]:
    lines = []
    for k in key:
        var = chain.columns[k].var
        msg = chain.bind(f"key column {k!r} is null or unchanged in {kind}; {how}", "msg")
        lines += [
            f"    if {var} is None or {var} is {U}:",
            f"        raise _TE({msg}, field={k!r})",
        ]
    return lines


def _row(chain: Chain, loads: int, key: Sequence[str], key_tuple: str) -> list[str]:
    """Only the statements the output needs; ``u`` says whether any read value is UNCHANGED."""
    used = _slice(chain.statements, {c.var for c in chain.columns.values()})
    load_ids = {id(st) for st in chain.statements[:loads]}
    used_loads = [st for st in used if id(st) in load_ids]
    loaded = [st.targets[0] for st in used_loads]
    out = "{" + ", ".join(f"{n!r}: {c.var}" for n, c in chain.columns.items()) + "}"
    how = "every row must carry its key columns (check the source table's primary key)"
    return [
        "def _row(r, ev, op, deleted):",
        "    get = r.get",
        "    src = ev.source",
        *_body(used_loads),
        "    u = " + (" or ".join(f"{v} is {U}" for v in loaded) or "False"),
        *_body(used[len(used_loads) :]),
        *_key_checks(chain, key, "a row", how),
        f"    out = {out}",
        f"    return _new(_OR, (_NAME, {key_tuple}, out, ev.version, op, deleted,",
        f"        _unchanged(out) if u else _EMPTY, {_TS}))",
    ]


def _key_only(chain: Chain, key: Sequence[str], key_tuple: str) -> list[str]:
    """The slice of the chain that computes the key columns, run on the message key."""
    key_out = "{" + ", ".join(f"{k!r}: {chain.columns[k].var}" for k in key) + "}"
    no_key = chain.bind(
        "a delete event has neither a before-image nor a message key, so its key is unknown; "
        "set REPLICA IDENTITY on the source table or keep Kafka message keys",
        "msg",
    )
    how = "a delete without a before-image needs the key columns in the message key"
    return [
        "def _key_only(ev, op):",
        "    r = ev.key",
        "    if r is None:",
        f"        raise _TE({no_key})",
        "    get = r.get",
        "    src = ev.source",
        "    deleted = True",
        "    u = False",
        *_body(_slice(chain.statements, {chain.columns[k].var for k in key})),
        *_key_checks(chain, key, "a delete's message key", how),
        f"    return _new(_OR, (_NAME, {key_tuple}, {key_out}, ev.version, op, True, _EMPTY,",
        f"        {_TS}))",
    ]


def _process(chain: Chain) -> list[str]:
    """Event kind and op checks (identity tests: Enum hashing is slow), filters, dispatch."""
    ops = sorted(chain.ops, key=ROW_OPS.index)
    for op in ops:
        chain.namespace[f"_OP_{op.value}"] = op
    no_op = chain.bind("a data event has no op; the event is malformed", "msg")
    no_after = chain.bind("a create/update/read event has no after-image; it is malformed", "msg")
    lines = [
        "def process(ev):",
        "    if ev.kind is not _DATA:",
        "        return []",
        "    op = ev.op",
        "    if not (" + (" or ".join(f"op is _OP_{o.value}" for o in ops) or "False") + "):",
        "        if op is None:",
        f"            raise _TE({no_op})",
        "        return []",
    ]
    advice = "make the predicate handle every op (after is None for deletes)"
    for pred, where in chain.predicates:
        fail = chain.bind(
            lambda exc, where=where: user_code_failed(where, exc, advice), "filter_failed"
        )
        lines += [
            "    try:",
            f"        if not {pred}(ev):",
            "            return []",
            "    except Exception as exc:",
            f"        raise {fail}(exc) from None",
        ]
    return [
        *lines,
        "    if op is _DELETE:",
        "        r = ev.before",
        "        if r is not None:",
        "            try:",
        "                return [_row(r, ev, op, True)]",
        "            except _TE:  # the before-image cannot be transformed: the key still can",
        "                pass",
        "        return [_key_only(ev, op)]",
        "    r = ev.after",
        "    if r is None:",
        f"        raise _TE({no_after})",
        "    return [_row(r, ev, op, False)]",
    ]


def build(source: str, namespace: dict[str, Any], *, name: str) -> Process:
    """Compile ``source`` once and return its ``process`` function."""
    filename = f"<streamapp topology {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    process: Process = namespace["process"]
    return process
