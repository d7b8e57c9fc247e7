"""`key=value` property lists held in one setting (Kafka and Iceberg pass-through properties)."""

from __future__ import annotations

from streamapp.errors import ConfigError


def pairs(text: str, setting: str, what: str) -> list[tuple[str, str]]:
    """``key=value`` items separated by commas, or by newlines when the text has any (so values
    may hold commas); blank items and ``#`` comments are skipped. A malformed item is a
    ConfigError naming its number only: an item without its key may be a secret."""
    parts = text.splitlines() if "\n" in text.strip() else text.split(",")
    out = []
    for number, part in enumerate((p.strip() for p in parts), 1):
        if not part or part.startswith("#"):
            continue
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(
                f"{setting}: item {number} is not key=value; write {what} as key=value "
                "separated by commas or newlines"
            )
        out.append((key, value.strip()))
    return out
