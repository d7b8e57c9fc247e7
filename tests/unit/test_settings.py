"""Settings from the environment: defaults, and one clear line for each invalid value."""

from __future__ import annotations

import pytest

from streamapp.errors import ConfigError
from streamapp.settings import Settings


def test_defaults_are_the_local_stack() -> None:
    s = Settings.from_env({})
    assert s.kafka_bootstrap == "127.0.0.1:19092"
    assert float(s.commit_interval) == 2.8
    assert float(s.session_timeout) == 10 and s.group_instance_id == ""


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("STREAMAPP_COMMIT_INTERVAL", "soon", "use seconds, 0.05 to 3600"),
        ("STREAMAPP_COMMIT_INTERVAL", "0", "use seconds, 0.05 to 3600"),
        ("STREAMAPP_COMMIT_INTERVAL", "7200", "use seconds, 0.05 to 3600"),
        ("STREAMAPP_SESSION_TIMEOUT", "short", "use seconds, 6 to 90"),
        ("STREAMAPP_SESSION_TIMEOUT", "3", "use seconds, 6 to 90"),
        ("STREAMAPP_SESSION_TIMEOUT", "120", "use seconds, 6 to 90"),
        ("STREAMAPP_WEB_PORT", "http", "use a port number, 0 for off"),
        ("STREAMAPP_GC_THRESHOLD", "0", "use a count, 700 to 1000000"),
        ("STREAMAPP_GC_THRESHOLD", "many", "use a count, 700 to 1000000"),
        ("STREAMAPP_GC_THRESHOLD", "2000000", "use a count, 700 to 1000000"),
        ("STREAMAPP_LOG_FORMAT", "xml", "use 'text' or 'json'"),
        ("STREAMAPP_CONNECT_URL", "127.0.0.1:18083", "use an http:// or https:// URL"),
    ],
)
def test_invalid_values_are_one_line_config_errors(env: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({env: value})
    text = str(info.value)
    assert text.startswith(f"{env}={value!r}: ") and message in text and "\n" not in text


@pytest.mark.parametrize("value", ["0.05", "0.5", "2.8", "60"])
def test_commit_interval_accepts_seconds(value: str) -> None:
    assert float(Settings.from_env({"STREAMAPP_COMMIT_INTERVAL": value}).commit_interval) == float(
        value
    )
