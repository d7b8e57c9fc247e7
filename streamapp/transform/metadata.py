"""``t.metadata``: add change-event metadata columns, as Debezium's ExtractNewRecordState does.

=================  ===========  ==============================================================
field              type         value
=================  ===========  ==============================================================
``__op``           string       ``c``, ``u``, ``d`` or ``r``
``__source_ts_ms`` int          when the change was made in the database (source.ts_ms)
``__ts_ms``        int          when Debezium processed the event
``__lsn``          int          PostgreSQL log sequence number (null elsewhere)
``__txid``         int          PostgreSQL transaction id (null elsewhere)
``__table``        string       source table (or MongoDB collection)
``__db``           string       source database
``__version``      int          the event's version: orders the changes of one key
``__deleted``      bool         always in the output schema (the encoder writes it from the
                                record's ``deleted`` flag), so naming it adds no column
=================  ===========  ==============================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from streamapp.transform.chain import Chain, Column, call_repr
from streamapp.types import INT, STRING, FieldType

DELETED: Final = "__deleted"
FIELDS: Final[dict[str, tuple[FieldType, str]]] = {
    "__op": (STRING, "op._value_"),
    "__source_ts_ms": (INT, "src.ts_ms if src is not None else None"),
    "__ts_ms": (INT, "ev.ts_ms"),
    "__lsn": (INT, "src.lsn if src is not None else None"),
    "__txid": (INT, "src.tx_id if src is not None else None"),
    "__table": (STRING, "src.table if src is not None else None"),
    "__db": (STRING, "src.db if src is not None else None"),
    "__version": (INT, "ev.version"),
}


@dataclass(frozen=True, slots=True)
class Metadata:
    """Append the named metadata columns (see the table above) after the current columns."""

    names: tuple[str, ...]

    def describe(self) -> str:
        return call_repr("metadata", *self.names)

    def compile(self, chain: Chain) -> None:
        where = self.describe()
        for name in self.names:
            if name == DELETED:
                continue
            spec = FIELDS.get(name)
            if spec is None:
                known = ", ".join([*FIELDS, DELETED])
                chain.problem(where, f"unknown metadata field {name!r}; known: {known}")
                continue
            if not chain.is_free(where, name):
                continue
            ftype, expr = spec
            var = chain.new_var()
            chain.emit([var], [f"{var} = {expr}"], [])
            chain.columns[name] = Column(var, ftype)
