"""`streamapp run`: the main job. For now: validate the topologies, report the stack's health."""

from __future__ import annotations

from typing import Any

from streamapp.commands import load, settings

ORDER = 10


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "run",
        help="run the main job on the configured stack (validate topologies, report service "
        "health)",
    )
    parser.set_defaults(func=lambda args: _run())


def _run() -> int:
    from streamapp.commands.check import run_check

    s = settings()
    topologies = load(s)
    print(
        f"loaded {len(topologies)} topologies from {s.topologies_dir}/: "
        + ", ".join(t.name for t in topologies)
    )
    return run_check()
