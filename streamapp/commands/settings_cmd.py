"""`streamapp settings`: every setting, its env var and current value (secrets hidden)."""

from __future__ import annotations

from typing import Any

from streamapp.commands import settings

ORDER = 40


def register(sub: Any) -> None:
    parser = sub.add_parser("settings", help="print every setting and its env var")
    parser.set_defaults(func=lambda args: _print())


def _print() -> int:
    for env, value, doc in settings().describe():
        print(f"{env:<30} {value:<48} {doc}")
    return 0
