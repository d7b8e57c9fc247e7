"""State: tables materialised from change topics, global to every worker (see ``state.table``).

Every stateful thing is a *global table*: each worker process materialises the whole table
locally from the table topology's change topic, reading all its partitions (assigned directly,
no consumer group), like Kafka Streams' GlobalKTable whose source topic is its changelog.

Why not Faust Tables: the batch fast path (``runtime/fastpath.py``) runs topologies outside
Faust's streams, and a Faust Table write outside stream iteration raises: ``Table.on_key_set``
(faust/tables/table.py) sends the changelog record to ``Collection.partition_for_key``
(faust/tables/base.py), which takes the partition from ``current_event()`` and raises
``TypeError("Cannot modify table key from outside of stream iteration")`` without one (the
compat ``Collection._send_changelog`` raises ``RuntimeError`` likewise).

Why global: a lookup joins on a non-key column of the fact (``orders.customer_id`` against
``customers`` keyed by ``id``), so fact and dimension are not co-partitioned; a global table
needs no repartition topic. Rebalances move no state (every worker holds all of it): nothing
is restored on a rebalance; a restart loads the local store's checkpoint and reads the topic
from the checkpointed offsets. Tables need the complete history of their topic (compacted, or
retention long enough, or a persistent store), as a GlobalKTable's source does.
"""

from streamapp.state.store import Entry, MemoryStore, RocksStore, Store, open_store
from streamapp.state.table import Table

__all__ = ["Entry", "MemoryStore", "RocksStore", "Store", "Table", "open_store"]
