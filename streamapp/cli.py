"""The `streamapp` command: discovers the subcommand modules in ``streamapp.commands``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from streamapp import __version__, commands
from streamapp.errors import ConfigError, TopologyError


def _quiet_third_party_warnings() -> None:
    """authlib (imported by the registry client) forces its deprecation warnings on; a user
    cannot act on them, so the command line hides that one category."""
    try:
        from authlib.deprecate import AuthlibDeprecationWarning
    except ImportError:  # pragma: no cover - authlib is a dependency
        return
    warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)


def _command_modules() -> list[Any]:
    found = [
        importlib.import_module(f"{commands.__name__}.{info.name}")
        for info in pkgutil.iter_modules(commands.__path__)
        if not info.name.startswith("_")
    ]
    return sorted((m for m in found if hasattr(m, "register")), key=lambda m: m.ORDER)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="streamapp",
        description="Debezium change streams -> in-stream transforms -> ClickHouse, "
        "PostgreSQL and Redis. Configure with STREAMAPP_* env vars (`streamapp settings`).",
    )
    parser.add_argument("--version", action="version", version=f"streamapp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="command", required=True)
    for module in _command_modules():
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _quiet_third_party_warnings()
    try:
        return int(args.func(args))
    except TopologyError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
