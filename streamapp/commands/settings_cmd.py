"""`streamapp settings`: every setting, its env var and current value (secrets hidden)."""

from __future__ import annotations

from typing import Any

from streamapp.commands import settings

ORDER = 40


def register(sub: Any) -> None:
    parser = sub.add_parser("settings", help="print every setting and its env var")
    parser.set_defaults(func=lambda args: _print())


def _print() -> int:
    rows = settings().describe()
    width = max(len(env) for env, _, _ in rows)
    for env, value, doc in rows:
        print(f"{env:<{width}} {value:<48} {doc}")
    return 0
