"""Health checks, metrics names and logging for streamapp workers and tools."""
