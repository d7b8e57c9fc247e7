"""OpenSearch sink package: ``mapping`` (no driver) and ``sink`` (imports opensearch-py)."""
