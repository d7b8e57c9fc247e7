"""`topology validate --connect`: each topology's handling modes against its running connector."""

from __future__ import annotations

from collections.abc import Sequence

from streamapp.ops.connect import ConnectClient, ConnectorConfig
from streamapp.settings import redact_url
from streamapp.transform.compile import CompiledTopology


def writers(topic: str, configs: Sequence[ConnectorConfig]) -> list[ConnectorConfig]:
    """The connectors whose ``topic.prefix`` starts ``topic`` (``<prefix>.<schema>.<table>``)."""
    return [c for c in configs if c.topic_prefix and topic.startswith(f"{c.topic_prefix}.")]


def compare(
    topologies: Sequence[CompiledTopology], configs: Sequence[ConnectorConfig], url: str
) -> tuple[list[str], list[str]]:
    """(problems, matches): one problem line per handling mode a topology reads differently
    from the connector that writes its source topic, and per source topic no connector at
    ``url`` writes; one line per topology whose modes all match."""
    problems: list[str] = []
    matches: list[str] = []
    for top in topologies:
        modes = top.topology.source.handling_modes()
        for topic in top.source_topics:
            found = writers(topic, configs)
            if not found:
                problems.append(
                    f"topology {top.name!r}: no connector at {redact_url(url)} writes {topic!r} "
                    "(none has a matching topic.prefix); register it, or run validate without "
                    "--connect"
                )
                continue
            for config in found:
                differ = modes.mismatches(config.connector_class, config.values)
                for line in differ:
                    prop, _, rest = line.partition(": ")
                    running = rest.rpartition(" writes ")[2]
                    problems.append(
                        f"topology {top.name!r}, connector {config.name!r}: {line}; declare "
                        f"Source(handling={{{prop!r}: {running!r}}}) or change the connector"
                    )
                if not differ:
                    modes_text = ", ".join(f"{k}={v}" for k, v in modes.as_config().items())
                    matches.append(
                        f"{top.name}: handling modes match connector {config.name} ({modes_text})"
                    )
    return problems, matches


def check(topologies: Sequence[CompiledTopology], url: str) -> tuple[list[str], list[str]]:
    """:func:`compare` with every connector's config read from Connect's REST API at ``url``
    (OpsError when Connect does not answer)."""
    client = ConnectClient(url)
    configs = [client.config(name) for name in client.connectors()]
    return compare(topologies, configs, url)
