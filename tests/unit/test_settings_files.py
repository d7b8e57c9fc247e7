"""Settings that may hold a password are also read from ``<NAME>_FILE`` (mounted secrets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamapp.errors import ConfigError
from streamapp.settings import FROM_FILE, Settings

SENTINEL = "s3cr3t-sentinel-9f1c"


@pytest.mark.parametrize(
    ("env", "attr", "value"),
    [
        ("STREAMAPP_WAREHOUSE_DSN", "warehouse_dsn", f"postgresql://u:{SENTINEL}@db:5432/w"),
        ("STREAMAPP_SOURCE_DSN", "source_dsn", f"postgresql://u:{SENTINEL}@db:5432/s"),
        ("STREAMAPP_REDIS_URL", "redis_url", f"redis://:{SENTINEL}@cache:6379/0"),
        ("STREAMAPP_CLICKHOUSE_DSN", "clickhouse_dsn", f"http://u:{SENTINEL}@ch:8123/db"),
        ("STREAMAPP_MASK_SECRET", "mask_secret", SENTINEL * 2),
    ],
)
def test_a_secret_setting_is_read_from_its_file(
    tmp_path: Path, env: str, attr: str, value: str
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(value + "\n")  # as `kubectl create secret --from-file` often has it
    assert getattr(Settings.from_env({f"{env}_FILE": str(secret)}), attr) == value
    # the variable itself wins over its file
    both = {env: value.replace(SENTINEL, "other"), f"{env}_FILE": str(secret)}
    assert getattr(Settings.from_env(both), attr) == value.replace(SENTINEL, "other")


def test_every_from_file_setting_exists() -> None:
    envs = {f.metadata["env"] for f in Settings.__dataclass_fields__.values()}
    assert set(FROM_FILE) <= envs


@pytest.mark.parametrize("content", [None, "", "\n"])
def test_an_unreadable_or_empty_file_is_one_line_naming_the_setting(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "dsn"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"STREAMAPP_WAREHOUSE_DSN_FILE": str(path)})
    message = str(info.value)
    assert message.startswith(f"STREAMAPP_WAREHOUSE_DSN_FILE={path}: ") and "\n" not in message
