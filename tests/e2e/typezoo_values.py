"""The type zoo's expected values: from the source's own text (psql's output), per mode set.

``expected_row`` turns one source row, as PostgreSQL prints it, into the value every sink must
hold for each column under a connector's modes, or a ``Refused`` saying where the pipeline
refuses the row, which then reaches no sink but the DLQ: ``decode``, ``encode``, or ``sink``
(Redis's canonical JSON has no NaN or infinity, and a record one sink refuses reaches none).
``from_sink`` reads a sink's stored value
back into the same Python form, and ``same`` compares (``real``: as float32, NaN equal to NaN).
The README table "PostgreSQL type zoo" states the same rules.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from typezoo_harness import ModeSet

DAYS_PER_MONTH_AVG = 365.25 / 12  # Debezium's MicroDuration: months of average length


class Refused(Exception):
    """The pipeline refuses the row at ``stage`` (decode, encode or sink)."""

    def __init__(self, stage: str) -> None:
        super().__init__(stage)
        self.stage = stage
        self.columns: set[str] = set()  # the columns the DLQ reason may name


def _ms(v: Any) -> Any:
    """Debezium ``time.precision.mode=connect``: milliseconds (floored)."""
    return v.replace(microsecond=v.microsecond // 1000 * 1000)


def _interval_micros(h: dict[str, str]) -> int:
    """MicroDuration as Debezium computes it (doubles, months of 365.25/12 days)."""
    months = int(h["iv_y"]) * 12 + int(h["iv_m"])
    days = months * DAYS_PER_MONTH_AVG + int(h["iv_d"])
    seconds = ((days * 24 + int(h["iv_h"])) * 60 + int(h["iv_mi"])) * 60 + float(h["iv_s"])
    return int(seconds * 1e6)


def _interval_iso(h: dict[str, str]) -> str:
    """Debezium's ``interval.handling.mode=string`` text: P<y>Y<m>M<d>DT<h>H<m>M<s>S."""
    sec = format(Decimal(h["iv_s"]).normalize(), "f")
    return f"P{h['iv_y']}Y{h['iv_m']}M{h['iv_d']}DT{h['iv_h']}H{h['iv_mi']}M{sec}S"


def _num(text: str, modes: ModeSet, declared_decimal: bool) -> Any:
    if text == "NaN":
        if modes.decimal == "precise":
            return None  # Debezium writes NULL for NaN in precise mode
        if modes.decimal == "double":
            return math.nan  # a double NaN: Redis's JSON has none, so no sink gets the row
        if declared_decimal:
            raise Refused("encode")  # "NAN" text, declared decimal: not finite
        return "NAN"  # Debezium's text for NaN in string mode
    if modes.decimal == "double":
        return float(Decimal(text))
    return Decimal(text) if declared_decimal else text


def _bits(text: str) -> bytes:
    n = int(text, 2) if text else 0
    return n.to_bytes((n.bit_length() + 7) // 8, "little")  # Debezium Bits: BitSet bytes


def _timestamp(text: str) -> datetime:
    if "infinity" in text:
        raise Refused("decode")
    return datetime.fromisoformat(text)


def _column(col: str, text: str, h: dict[str, str], modes: ModeSet) -> Any:
    connect = modes.time == "connect"
    if col in ("id", "c_smallint", "c_int", "c_bigint", "c_domain"):
        return int(text)
    if col == "c_numeric":
        return _num(text, modes, True)
    if col == "c_numvar":
        return _num(text, modes, modes.decimal != "string")
    if col == "c_money":  # the snapshot reads money as a double (scale 2), pgoutput as text
        money = Decimal(h["money"]) if h.get("streamed") else Decimal(float(h["money"]))
        if modes.decimal == "double":
            return float(money)
        return money.quantize(Decimal("0.01"))
    if col in ("c_real", "c_double"):
        return float(text)
    if col == "c_bool":
        return text == "t"
    if col in ("c_bytea",):
        return bytes.fromhex(text[2:])
    if col == "c_date":
        if "infinity" in text:
            raise Refused("decode")
        return date.fromisoformat(text)
    if col == "c_time":
        if text.startswith("24:"):
            raise Refused("decode")
        return _ms(time.fromisoformat(text)) if connect else time.fromisoformat(text)
    if col == "c_timetz":  # ZonedTime: converted to UTC, the offset dropped
        aware = datetime.combine(date(2000, 1, 1), time.fromisoformat(text))
        return aware.astimezone(UTC).time().replace(tzinfo=None)
    if col == "c_ts3":
        return _timestamp(text)  # milliseconds at the source: exact in every mode
    if col == "c_time3":
        return time.fromisoformat(text)
    if col == "c_ts":
        return _ms(_timestamp(text)) if connect else _timestamp(text)
    if col == "c_tstz":
        return _timestamp(text).astimezone(UTC)
    if col == "c_interval":
        if modes.interval == "numeric":
            return timedelta(microseconds=_interval_micros(h))
        return _interval_iso(h)
    if col == "c_uuid":
        return UUID(text)
    if col in ("c_json", "c_jsonb"):
        return json.loads(text)
    if col in ("c_bit", "c_varbit"):
        return _bits(text)
    if col in ("c_int_arr", "c_text_arr"):
        return json.loads(h[col])
    if col == "c_num_arr":
        if "NaN" in text:
            return None  # Debezium writes NULL for a numeric[] holding NaN, in every mode
        elems = json.loads(h[col], parse_float=Decimal, parse_int=Decimal)
        if modes.decimal == "double":
            return [float(e) for e in elems]
        return elems if modes.decimal == "precise" else [format(e, "f") for e in elems]
    if col == "c_hstore":
        return json.loads(h["hstore"])
    if col == "c_point":
        wkb = struct.pack("<BIdd", 1, 1, float(h["px"]), float(h["py"]))
        return {"wkb": wkb, "srid": None}
    return text  # char (blank-padded), varchar, text, xml, inet, cidr, mac*, enum, ltree, citext


def expected_row(
    row: dict[str, str | None], h: dict[str, str], modes: ModeSet, cols: dict[str, Any]
) -> dict[str, Any]:
    """Each declared column's expected value; Refused (the earliest stage) if the row is."""
    out: dict[str, Any] = {}
    refused: list[Refused] = []
    for col in cols:
        text = row[col]
        try:
            out[col] = None if text is None else _column(col, text, h, modes)
        except Refused as exc:
            exc.columns = {col}
            refused.append(exc)
    special = {c for c, v in out.items() if isinstance(v, float) and not math.isfinite(v)}
    if not refused and special:
        refused.append(Refused("sink"))  # Redis: canonical JSON has no NaN or infinity
        refused[0].columns = special
    order = ("decode", "encode", "sink")
    if refused:
        exc = min(refused, key=lambda r: order.index(r.stage))
        exc.columns = set().union(*(r.columns for r in refused if r.stage == exc.stage))
        raise exc
    return out


def from_sink(spec: Any, value: Any, sink: str) -> Any:
    """A sink's stored value (``pg``: psycopg's, ``redis``: parsed JSON, ``ch``: toString/hex
    text) in the form ``expected_row`` gives."""
    if value is None:
        return None
    if isinstance(spec, dict):  # the point record: JSON in every sink
        doc = json.loads(value) if sink == "ch" else value
        return {"wkb": base64.b64decode(doc["wkb"]), "srid": doc["srid"]}
    if spec == "json" or spec.startswith(("array<", "map<")):
        doc = json.loads(value) if sink == "ch" else value
        if spec == "array<decimal(76,20)>":
            return [Decimal(e) for e in doc]
        return doc
    if sink == "pg":
        return bytes(value) if spec == "bytes" else value
    text = str(value)
    if spec == "int":
        return int(text)
    if spec.startswith("decimal"):
        scale = int(spec.rstrip(")").split(",")[1])
        if sink == "redis" and Decimal(text).as_tuple().exponent != -scale:
            return text  # Redis holds the text at the column's scale, as "12.50"
        return Decimal(text)
    if spec == "float":
        return float(text)
    if spec == "bool":
        return value if sink == "redis" else text == "true"
    if spec == "bytes":
        return base64.b64decode(text) if sink == "redis" else bytes.fromhex(text)
    if spec == "date":
        return date.fromisoformat(text)
    if spec.startswith("time("):
        if sink == "ch":  # Int64 microseconds since midnight
            return (datetime.min + timedelta(microseconds=int(text))).time()
        return time.fromisoformat(text)
    if spec.startswith("timestamp("):
        return datetime.fromisoformat(text)
    if spec.startswith("timestamptz"):
        v = datetime.fromisoformat(text)
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
    if spec == "duration":
        return timedelta(microseconds=int(text))
    if spec == "uuid":
        return UUID(text)
    return text


def same(col: str, want: Any, got: Any) -> bool:
    """Equal; ``c_real`` compared as float32 (real's own precision), NaN equal to NaN."""
    if isinstance(want, float) and isinstance(got, float):
        if math.isnan(want) or math.isnan(got):
            return math.isnan(want) and math.isnan(got)
        if col == "c_real":
            return struct.pack("<f", want) == struct.pack("<f", got)
        return want == got
    if type(want) is not type(got) and not (isinstance(want, dict) and isinstance(got, dict)):
        return False
    return bool(want == got)
