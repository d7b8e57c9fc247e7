"""Redis type mapping: the canonical text of a value in a key or a hash field.

Values in JSON documents take the canonical JSON of ``sinks.values``; a key placeholder or a
hash field holds the same form without quotes (``scalar_text``), so ``reconcile`` reads both
back with the rules the sink wrote them with.
"""

from __future__ import annotations

import math
from typing import Any

from streamapp.sinks.values import json_default, to_json


def scalar_text(v: Any) -> str:
    """The canonical text of a value in a Redis key or hash field: JSON's form without quotes."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError("a non-finite float has no canonical text")
        return repr(v)
    if isinstance(v, dict | list):
        return to_json(v)
    out = json_default(v)
    return out if isinstance(out, str) else str(out)
