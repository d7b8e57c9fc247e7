"""Redis sink adapter: value text (``types``), injective key templates (``keys``), versioned
Lua writes with tombstone version keys (``sink``) and the reconcile reader (``reader``).
Import the submodules."""
