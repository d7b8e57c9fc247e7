"""Apache Iceberg sink (pyiceberg): type mapping in ``schema``, the one-snapshot merge in
``merge``, the group-committing sink in ``sink``. Needs the ``iceberg`` extra."""

from __future__ import annotations

from streamapp.sinks.iceberg.sink import IcebergSink

__all__ = ["IcebergSink"]
