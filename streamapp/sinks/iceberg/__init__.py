"""Apache Iceberg sink (pyiceberg): type mapping in ``schema``, the one-snapshot merge in
``merge``, the group-committing sink in ``sink``, catalog properties in ``catalog``, the
reconcile reader in ``reader``. Needs the ``iceberg`` extra; importing this package does not
import pyiceberg (``IcebergSink`` is loaded on first use)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamapp.sinks.iceberg.sink import IcebergSink

__all__ = ["IcebergSink"]


def __getattr__(name: str) -> Any:
    if name == "IcebergSink":
        from streamapp.sinks.iceberg.sink import IcebergSink

        return IcebergSink
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
