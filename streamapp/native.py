"""The optional C extensions (Avro reader and writer): import them unless STREAMAPP_NATIVE=0."""

from __future__ import annotations

import importlib
import os
from types import ModuleType


def native_module(name: str) -> ModuleType | None:
    """The extension module ``name`` (e.g. ``streamapp.decode._avrorows``), or None when it was
    not built (no compiler at install time) or ``STREAMAPP_NATIVE=0`` asks for pure Python."""
    if os.environ.get("STREAMAPP_NATIVE", "1").strip() == "0":
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
