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


# -- secrets in settings output and errors (issue 16, item 7) -------------------------------------


def test_describe_hides_every_form_of_password() -> None:
    env = {
        "STREAMAPP_SOURCE_DSN": "host=h dbname=source user=u password=S3ntinel-pw-7x",
        "STREAMAPP_WAREHOUSE_DSN": "postgresql://u@h/warehouse?password=S3ntinel-pw-7x",
        "STREAMAPP_REDIS_URL": "redis://:S3ntinel-pw-7x@h:6379/0",
        "STREAMAPP_CLICKHOUSE_DSN": "http://default:p@S3ntinel-pw-7x@h:8123/db",
        "STREAMAPP_REGISTRY_URL": "http://u:S3ntinel-pw-7x@h:8081/apis/ccompat/v7",
        "STREAMAPP_CONNECT_URL": "http://u:S3ntinel-pw-7x@h:8083",
        "STREAMAPP_MASK_SECRET": "S3ntinel-pw-7x-mask",
    }
    shown = "\n".join(" ".join(row) for row in Settings.from_env(env).describe())
    assert "S3ntinel" not in shown


@pytest.mark.parametrize("env", ["STREAMAPP_CONNECT_URL", "STREAMAPP_REGISTRY_URL"])
def test_a_url_without_scheme_is_refused_with_its_password_hidden(env: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({env: "u:S3ntinel-pw-7x@h:8083"})
    assert str(info.value) == f"{env}='u:***@h:8083': use an http:// or https:// URL"


@pytest.mark.parametrize(
    ("env", "value", "raw"),
    [
        ("STREAMAPP_SOURCE_DSN", "postgresql://u:p@ss@S3ntinel-pw-7x@h/source", "@"),
        ("STREAMAPP_WAREHOUSE_DSN", "postgresql://u:a/S3ntinel-pw-7x@h/warehouse", "/"),
        ("STREAMAPP_REDIS_URL", "redis://:a#S3ntinel-pw-7x@h:6379/0", "#"),
        ("STREAMAPP_CLICKHOUSE_DSN", "http://default:a?S3ntinel-pw-7x@h:8123/db", "?"),
        ("STREAMAPP_REGISTRY_URL", "http://u:a/S3ntinel-pw-7x@h:8081/apis/ccompat/v7", "/"),
    ],
)
def test_a_password_its_client_would_misread_is_refused_without_showing_it(
    env: str, value: str, raw: str
) -> None:
    """libpq reads `u:p@ss@pw@h` as host `ss@pw@h` and quotes it in its error; URL parsers
    split at / ? #: such a password is refused at start, with the fix, and never shown."""
    with pytest.raises(ConfigError) as info:
        Settings.from_env({env: value})
    message = str(info.value)
    assert message.startswith(f"{env}='") and f"holds a raw {raw}; percent-encode it" in message
    assert "S3ntinel" not in message


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("STREAMAPP_SOURCE_DSN", "postgresql://u:p%40ss%2Fx@h/source"),
        ("STREAMAPP_REDIS_URL", "redis://:p@ss@h:6379/0"),  # redis-py splits at the last @
        ("STREAMAPP_WAREHOUSE_DSN", "postgresql://u@h/warehouse?password=p@ss"),
    ],
)
def test_passwords_their_clients_read_whole_are_accepted(env: str, value: str) -> None:
    assert getattr(Settings.from_env({env: value}), env.lower().removeprefix("streamapp_"))
