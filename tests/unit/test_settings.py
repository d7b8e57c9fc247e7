"""Settings from the environment: defaults, and one clear line for each invalid value."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest

import streamapp.settings as settings_mod
from streamapp.errors import ConfigError
from streamapp.settings import Settings
from streamapp.transform.mask import key_id


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


# -- mask keys: never a repository constant (issue 16, item 8) ---------------------------------


def _dev_key(tmp_path: Path, key: bytes = bytes(range(32))) -> Path:
    path = tmp_path / "mask-dev.key"
    path.write_text(key.hex() + "\n")
    return path


def test_local_profile_without_a_dev_key_has_no_default_mask_key(tmp_path: Path) -> None:
    env = {"STREAMAPP_MASK_DEV_KEY_FILE": str(tmp_path / "missing.key")}
    assert "default" not in Settings.from_env(env).mask_secrets(env)


def test_local_profile_keys_masks_with_the_stacks_dev_key_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = bytes(range(32))
    env = {"STREAMAPP_MASK_DEV_KEY_FILE": str(_dev_key(tmp_path, key))}
    settings_mod._warned.clear()
    with caplog.at_level(logging.WARNING, logger="streamapp.settings"):
        secrets = Settings.from_env(env).mask_secrets(env)
        Settings.from_env(env).mask_secrets(env)
    assert secrets["default"] == key
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1  # once per process
    assert f"key id {key_id(key)}" in warnings[0] and "STREAMAPP_MASK_SECRET" in warnings[0]
    assert key.hex() not in warnings[0]


def test_production_never_uses_the_dev_key(tmp_path: Path) -> None:
    env = {
        "STREAMAPP_PROFILE": "production",
        "STREAMAPP_MASK_DEV_KEY_FILE": str(_dev_key(tmp_path)),
    }
    assert Settings.from_env(env).mask_secrets(env) == {}


def test_a_set_mask_secret_wins_over_the_dev_key(tmp_path: Path) -> None:
    env = {
        "STREAMAPP_MASK_SECRET": "a-real-secret-of-enough-bytes",
        "STREAMAPP_MASK_DEV_KEY_FILE": str(_dev_key(tmp_path)),
    }
    assert Settings.from_env(env).mask_secrets(env)["default"] == b"a-real-secret-of-enough-bytes"


def test_no_mask_key_is_a_constant_of_the_package() -> None:
    """No module of streamapp defines a fallback mask key (the old LOCAL_MASK_SECRET)."""
    package = Path(settings_mod.__file__).parent
    for source in package.rglob("*.py"):
        text = source.read_text()
        assert "local-dev-secret" not in text, source
        assert "LOCAL_MASK_SECRET" not in text, source


def test_a_garbled_dev_key_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "mask-dev.key"
    path.write_text("not hex\n")
    env = {"STREAMAPP_MASK_DEV_KEY_FILE": str(path)}
    with pytest.raises(ConfigError, match="does not hold 64 hex digits; delete it and run"):
        Settings.from_env(env).mask_secrets(env)


def test_key_ids_are_shown_never_the_keys(tmp_path: Path) -> None:
    env = {
        "STREAMAPP_MASK_SECRET": "S3ntinel-pw-7x-mask-secret",
        "STREAMAPP_DLQ_KEY": "ab" * 32,
    }
    rows = {env_var: value for env_var, value, _ in Settings.from_env(env).describe()}
    assert rows["STREAMAPP_MASK_SECRET"] == f"(set, key id {key_id(b'S3ntinel-pw-7x-mask-secret')})"
    assert (
        rows["STREAMAPP_DLQ_KEY"] == f"(set, sealing key id {key_id(bytes([0xAB] * 32))}, 1 key(s))"
    )
    dev = {"STREAMAPP_MASK_DEV_KEY_FILE": str(_dev_key(tmp_path))}
    shown = dict((r[0], r[1]) for r in Settings.from_env(dev).describe())
    assert (
        shown["STREAMAPP_MASK_SECRET"]
        == f"(unset: local dev key, key id {key_id(bytes(range(32)))})"
    )


def test_key_ids_change_with_the_key() -> None:
    assert key_id(b"a" * 32) != key_id(b"b" * 32)
    assert key_id(b"a" * 32) == key_id(b"a" * 32)
    assert len(key_id(b"a" * 32)) == 12


# -- DLQ settings (issue 16, item 9) --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "ab" * 32,  # hex
        base64.b64encode(bytes(range(32))).decode(),  # base64 with padding
        base64.urlsafe_b64encode(bytes(range(200, 232))).decode().rstrip("="),  # url-safe
    ],
)
def test_dlq_keys_are_32_bytes_in_hex_or_base64(text: str) -> None:
    (key,) = Settings.from_env({"STREAMAPP_DLQ_KEY": text}).dlq_keys()
    assert len(key) == 32


def test_dlq_keys_rotate_first_seals(tmp_path: Path) -> None:
    keys = Settings.from_env({"STREAMAPP_DLQ_KEY": f"{'aa' * 32}, {'bb' * 32}"}).dlq_keys()
    assert keys == [bytes([0xAA] * 32), bytes([0xBB] * 32)]
    path = tmp_path / "dlq.key"
    path.write_text("cc" * 32 + "\n")
    from_file = Settings.from_env({"STREAMAPP_DLQ_KEY_FILE": str(path)}).dlq_keys()
    assert from_file == [bytes([0xCC] * 32)]
    assert Settings.from_env({}).dlq_keys() == []
    assert Settings.from_env({}).dlq_sealer() is None


@pytest.mark.parametrize("text", ["S3ntinel-pw-7x", "ab" * 16, "ab" * 33, "zz" * 32])
def test_a_bad_dlq_key_is_refused_without_printing_it(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"STREAMAPP_DLQ_KEY": text})
    message = str(info.value)
    assert message.startswith("STREAMAPP_DLQ_KEY: every key must be 32 random bytes")
    assert text not in message and "\n" not in message


@pytest.mark.parametrize("value", ["0", "999", "7d", "-2", ""])
def test_dlq_retention_is_milliseconds_or_forever(value: str) -> None:
    if not value:
        assert Settings.from_env({}).dlq_retention_ms == "604800000"
        return
    with pytest.raises(ConfigError, match="use milliseconds"):
        Settings.from_env({"STREAMAPP_DLQ_RETENTION_MS": value})


def test_dlq_retention_accepts_forever_and_ms() -> None:
    assert Settings.from_env({"STREAMAPP_DLQ_RETENTION_MS": "-1"}).dlq_retention_ms == "-1"
    assert (
        Settings.from_env({"STREAMAPP_DLQ_RETENTION_MS": "3600000"}).dlq_retention_ms == "3600000"
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
