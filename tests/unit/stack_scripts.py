"""Importing the local stack's scripts (``infra/local/stack``, a script directory whose modules
import each other by bare name) in unit tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

STACK = Path(__file__).resolve().parents[2] / "infra" / "local" / "stack"


def load(mp: pytest.MonkeyPatch, name: str, path: Path) -> ModuleType:
    """Import ``path`` as ``name``; ``sys.modules`` gets it back as it was when ``mp`` undoes."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    mp.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module
