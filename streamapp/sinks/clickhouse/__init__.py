"""ClickHouse sink adapter: type mapping (``types``, ``columns``), connections (``connect``),
ReplacingMergeTree writes (``sink``) and the reconcile reader (``reader``).

Import the submodules (this package imports nothing, so no driver loads by accident).
"""
