"""`streamapp check`: probe every service with a real round trip, one line each."""

from __future__ import annotations

from typing import Any

from streamapp.commands import settings

ORDER = 30


def run_check() -> int:
    from streamapp.observability.health import check_all

    checks = check_all(settings())
    width = max(len(c.service) for c in checks)
    for c in checks:
        mark = "ok  " if c.ok else "FAIL"
        print(f"{mark} {c.service:<{width}}  {c.address}  {c.detail}  ({c.millis:.0f} ms)")
    failed = [c.service for c in checks if not c.ok]
    if failed:
        print(
            f"{len(failed)} service(s) unhealthy: {', '.join(failed)}; start the local stack "
            "with `make up` or fix the STREAMAPP_* settings (`streamapp settings`)"
        )
        return 1
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("check", help="check every service with a real round trip")
    parser.set_defaults(func=lambda args: run_check())
