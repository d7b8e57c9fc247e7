"""Subcommands of `streamapp`: one module each, discovered by ``streamapp.cli``.

A command module defines ``ORDER`` (its place in ``--help``) and ``register(sub)``, which adds
its parser to the subparsers action and sets ``func`` (args -> exit code) as a default.
Shared helpers for commands live here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamapp.settings import Settings

if TYPE_CHECKING:
    from streamapp.transform.compile import CompiledTopology


def settings() -> Settings:
    """The settings from the environment (ConfigError when invalid)."""
    return Settings.from_env()


def load(settings: Settings) -> list[CompiledTopology]:
    """Every topology module, validated and compiled (TopologyError lists all problems)."""
    from streamapp.transform.loader import load_topologies

    return load_topologies(
        settings.path(settings.topologies_dir),
        secrets=settings.mask_secrets(),
        schemas_dir=settings.path(settings.schemas_dir),
    )


def find(topologies: list[CompiledTopology], name: str) -> CompiledTopology:
    """The topology called ``name``; ConfigError listing the known names otherwise."""
    from streamapp.errors import ConfigError

    for topology in topologies:
        if topology.name == name:
            return topology
    known = ", ".join(t.name for t in topologies) or "none"
    raise ConfigError(f"no topology named {name!r}; known: {known}")
