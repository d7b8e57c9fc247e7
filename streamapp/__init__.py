"""streamapp: Debezium change streams decoded, transformed and loaded into warehouses and caches."""

__version__ = "0.1.0"
