"""PostgreSQL sink adapter: type mapping (``types``), versioned upsert with tombstone rows
and freshness rows (``sink``), and the reconcile reader (``reader``). Import the submodules."""
