"""STREAMAPP_KAFKA_* / STREAMAPP_REGISTRY_* settings -> librdkafka, Faust and registry configs."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from faust.auth import SASLCredentials, SSLCredentials

from streamapp import kafkaconf, kafkaerrors
from streamapp.errors import ConfigError
from streamapp.kafkaconf import KafkaSecurity, parse_properties
from streamapp.kafkaerrors import explain
from streamapp.settings import Settings

SECRET = "s3cr3t-Value-xyz"


def security(**env: str) -> KafkaSecurity:
    return KafkaSecurity.from_settings(Settings.from_env(env))


@pytest.fixture
def ca(tmp_path: Path) -> str:
    """A real CA certificate (the test's own), so ssl contexts can load it."""
    import subprocess

    key, cert = tmp_path / "ca.key", tmp_path / "ca.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=test-ca"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert)


def test_default_is_plaintext_without_credentials() -> None:
    sec = security()
    assert sec.librdkafka() == {"security.protocol": "PLAINTEXT"}
    assert sec.faust_credentials() is None


def test_sasl_ssl_scram_maps_to_librdkafka_names(ca: str) -> None:
    sec = security(
        STREAMAPP_KAFKA_SECURITY_PROTOCOL="sasl_ssl",
        STREAMAPP_KAFKA_SASL_MECHANISM="scram-sha-512",
        STREAMAPP_KAFKA_SASL_USERNAME="app",
        STREAMAPP_KAFKA_SASL_PASSWORD=SECRET,
        STREAMAPP_KAFKA_SSL_CA_FILE=ca,
        STREAMAPP_KAFKA_PROPERTIES="linger.ms=20,client.rack=a",
    )
    assert sec.librdkafka() == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "app",
        "sasl.password": SECRET,
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": ca,
        "linger.ms": "20",
        "client.rack": "a",
    }
    creds = sec.faust_credentials()
    assert isinstance(creds, SASLCredentials)
    assert creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.protocol.value == "SASL_SSL"
    assert isinstance(creds.ssl_context, ssl.SSLContext) and creds.ssl_context.check_hostname
    assert SECRET not in repr(sec) and SECRET not in sec.describe()


def test_password_from_file_and_hostname_check_off(tmp_path: Path, ca: str) -> None:
    (tmp_path / "pw").write_text(SECRET + "\n")
    sec = security(
        STREAMAPP_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        STREAMAPP_KAFKA_SASL_USERNAME="app",
        STREAMAPP_KAFKA_SASL_PASSWORD_FILE=str(tmp_path / "pw"),
    )
    assert sec.password == SECRET and sec.librdkafka()["sasl.mechanism"] == "PLAIN"
    tls = security(
        STREAMAPP_KAFKA_SECURITY_PROTOCOL="SSL",
        STREAMAPP_KAFKA_SSL_CA_FILE=ca,
        STREAMAPP_KAFKA_SSL_CHECK_HOSTNAME="false",
    )
    assert tls.librdkafka()["ssl.endpoint.identification.algorithm"] == "none"
    creds = tls.faust_credentials()
    assert isinstance(creds, SSLCredentials) and not creds.context.check_hostname


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"STREAMAPP_KAFKA_SECURITY_PROTOCOL": "TLS"}, "STREAMAPP_KAFKA_SECURITY_PROTOCOL"),
        ({"STREAMAPP_KAFKA_SASL_MECHANISM": "GSSAPI"}, "STREAMAPP_KAFKA_SASL_MECHANISM"),
        ({"STREAMAPP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "STREAMAPP_KAFKA_SASL_USERNAME"),
        ({"STREAMAPP_KAFKA_SSL_CA_FILE": "/nonexistent/ca.pem"}, "STREAMAPP_KAFKA_SSL_CA_FILE"),
        ({"STREAMAPP_KAFKA_SSL_CERT_FILE": __file__}, "STREAMAPP_KAFKA_SSL_KEY_FILE"),
        ({"STREAMAPP_KAFKA_SSL_CHECK_HOSTNAME": "maybe"}, "STREAMAPP_KAFKA_SSL_CHECK_HOSTNAME"),
        ({"STREAMAPP_KAFKA_PROPERTIES": "sasl.password=x"}, "STREAMAPP_KAFKA_SASL_PASSWORD"),
        ({"STREAMAPP_KAFKA_PROPERTIES": f"linger.ms=5,{SECRET}"}, "item 2 is not key=value"),
        (
            {
                "STREAMAPP_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "STREAMAPP_KAFKA_SASL_USERNAME": "u",
                "STREAMAPP_KAFKA_SASL_PASSWORD_FILE": "/nonexistent/pw",
            },
            "STREAMAPP_KAFKA_SASL_PASSWORD_FILE",
        ),
    ],
)
def test_invalid_settings_name_the_setting(env: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError, match=names) as info:
        Settings.from_env(env)
    assert "\n" not in str(info.value) and SECRET not in str(info.value)


def test_properties_split_on_newlines_when_a_value_holds_commas() -> None:
    text = "ssl.cipher.suites=A,B\nlinger.ms=5\n# comment\n"
    assert parse_properties(text) == (("ssl.cipher.suites", "A,B"), ("linger.ms", "5"))


def test_settings_show_secrets_as_set_only() -> None:
    s = Settings.from_env(
        {
            "STREAMAPP_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "STREAMAPP_KAFKA_SASL_USERNAME": "u",
            "STREAMAPP_KAFKA_SASL_PASSWORD": SECRET,
            "STREAMAPP_KAFKA_PROPERTIES": f"sasl.oauthbearer.client.secret={SECRET}",
            "STREAMAPP_REGISTRY_USER_INFO": f"key:{SECRET}",
        }
    )
    rows = {env: value for env, value, _ in s.describe()}
    assert SECRET not in "".join(rows.values())
    assert rows["STREAMAPP_KAFKA_SASL_PASSWORD"] == "(set)"
    assert rows["STREAMAPP_KAFKA_PROPERTIES"] == "(set: sasl.oauthbearer.client.secret)"


def test_kafka_conf_takes_everything_from_the_callers_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The process environment says SASL_SSL; the caller's own Settings (PLAINTEXT, h:1) win."""
    monkeypatch.setenv("STREAMAPP_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("STREAMAPP_KAFKA_SASL_USERNAME", "env-user")
    monkeypatch.setenv("STREAMAPP_KAFKA_SASL_PASSWORD", SECRET)
    own = Settings.from_env(
        {"STREAMAPP_KAFKA_BOOTSTRAP": "h:1", "STREAMAPP_KAFKA_PROPERTIES": "linger.ms=50"}
    )
    conf = kafkaconf.kafka_conf(own, {"linger.ms": 5, "acks": "all"})
    assert conf["bootstrap.servers"] == "h:1" and conf["linger.ms"] == "50"
    assert conf["acks"] == "all" and conf["security.protocol"] == "PLAINTEXT"
    assert "sasl.username" not in conf and SECRET not in repr(conf)
    sasl = Settings.from_env(
        {
            "STREAMAPP_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "STREAMAPP_KAFKA_SASL_USERNAME": "u",
            "STREAMAPP_KAFKA_SASL_PASSWORD": SECRET,
        }
    )
    assert kafkaconf.kafka_conf(sasl)["sasl.password"] == SECRET


def test_kafka_conf_cannot_be_called_without_settings() -> None:
    import inspect

    first = next(iter(inspect.signature(kafkaconf.kafka_conf).parameters.values()))
    assert first.name == "settings" and first.default is inspect.Parameter.empty
    assert not hasattr(kafkaconf, "current")  # no environment-wide fallback left to fall into
    with pytest.raises(TypeError):
        kafkaconf.kafka_conf()  # type: ignore[call-arg]


def test_registry_conf(tmp_path: Path, ca: str) -> None:
    (tmp_path / "ui").write_text(f"key:{SECRET}\n")
    env = {
        "STREAMAPP_REGISTRY_USER_INFO_FILE": str(tmp_path / "ui"),
        "STREAMAPP_REGISTRY_CA_FILE": ca,
    }
    conf = kafkaconf.registry_conf("https://r", Settings.from_env(env), {"cache.latest.ttl.sec": 0})
    assert conf == {
        "url": "https://r",
        "basic.auth.user.info": f"key:{SECRET}",
        "ssl.ca.location": ca,
        "cache.latest.ttl.sec": 0,
    }
    env["STREAMAPP_REGISTRY_BEARER_TOKEN"] = SECRET
    with pytest.raises(ConfigError, match="both set"):
        kafkaconf.registry_conf("https://r", Settings.from_env(env))
    del env["STREAMAPP_REGISTRY_USER_INFO_FILE"]
    conf = kafkaconf.registry_conf("https://r", Settings.from_env(env))
    assert conf["bearer.auth.token"] == SECRET
    assert conf["bearer.auth.credentials.source"] == "STATIC_TOKEN"


def test_registry_clients_take_the_callers_settings_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The registry's auth comes from the Settings a caller holds, never from os.environ."""
    import inspect

    from streamapp.registry import SchemaRegistry

    monkeypatch.setenv("STREAMAPP_REGISTRY_USER_INFO", f"env:{SECRET}")
    first = inspect.signature(kafkaconf.registry_conf).parameters["settings"]
    assert first.default is inspect.Parameter.empty
    with pytest.raises(TypeError, match="settings="):
        SchemaRegistry("http://127.0.0.1:1")
    own = Settings.from_env({"STREAMAPP_REGISTRY_USER_INFO": "mine:pw"})
    registry = SchemaRegistry("http://127.0.0.1:1", settings=own)
    try:
        conf = kafkaconf.registry_conf("http://127.0.0.1:1", own)
        assert conf["basic.auth.user.info"] == "mine:pw"
    finally:
        registry.close()


@pytest.mark.parametrize(
    ("error", "setting"),
    [
        (
            "SASL authentication error: Authentication failed during authentication due to "
            "invalid credentials with SASL mechanism SCRAM-SHA-512",
            "STREAMAPP_KAFKA_SASL_PASSWORD",
        ),
        (
            "SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: "
            "broker certificate could not be verified, verify that ssl.ca.location is correctly "
            "configured or root CA certificates are installed",
            "STREAMAPP_KAFKA_SSL_CA_FILE",
        ),
        (
            "Disconnected while requesting ApiVersion: might be caused by incorrect "
            "security.protocol configuration (connecting to a SSL listener?)",
            "STREAMAPP_KAFKA_SECURITY_PROTOCOL",
        ),
        ("Broker: Topic authorization failed", "kafka-acls"),
        (
            "ssl://127.0.0.1:19095/bootstrap: Receive failed: error:0A000412:SSL routines::ssl/tls "
            "alert bad certificate: SSL alert number 42 (after 2ms in state APIVERSION_QUERY)",
            "STREAMAPP_KAFKA_SSL_CERT_FILE",
        ),
        (
            "SSL routines::tlsv13 alert certificate required: SSL alert number 116",
            "STREAMAPP_KAFKA_SSL_KEY_FILE",
        ),
    ],
)
def test_explain_names_the_setting(error: str, setting: str) -> None:
    kafkaerrors._last_error.clear()
    assert setting in explain(error)


def test_explain_unknown_error_is_empty() -> None:
    kafkaerrors._last_error.clear()
    assert explain("Local: Broker transport failure") == ""


def test_mtls_client_certificate_with_encrypted_key(tmp_path: Path, ca: str) -> None:
    import subprocess

    key, cert = tmp_path / "client.key", tmp_path / "client.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=streamapp", "-passout", f"pass:{SECRET}"],
        check=True, capture_output=True,
    )  # fmt: skip
    (tmp_path / "keypw").write_text(SECRET)
    env = {
        "STREAMAPP_KAFKA_SECURITY_PROTOCOL": "SSL",
        "STREAMAPP_KAFKA_SSL_CA_FILE": ca,
        "STREAMAPP_KAFKA_SSL_CERT_FILE": str(cert),
        "STREAMAPP_KAFKA_SSL_KEY_FILE": str(key),
        "STREAMAPP_KAFKA_SSL_KEY_PASSWORD_FILE": str(tmp_path / "keypw"),
    }
    sec = security(**env)
    conf = sec.librdkafka()
    assert conf["ssl.certificate.location"] == str(cert)
    assert conf["ssl.key.location"] == str(key) and conf["ssl.key.password"] == SECRET
    assert "sasl.mechanism" not in conf
    assert isinstance(sec.ssl_context(), ssl.SSLContext)  # the encrypted key opened
    with pytest.raises(ConfigError, match="STREAMAPP_KAFKA_SSL_KEY_PASSWORD_FILE"):
        security(**{**env, "STREAMAPP_KAFKA_SSL_KEY_PASSWORD_FILE": str(tmp_path / "none")})
    (tmp_path / "wrongpw").write_text("not-it")
    with pytest.raises(ConfigError, match="STREAMAPP_KAFKA_SSL_KEY_PASSWORD") as info:
        security(**{**env, "STREAMAPP_KAFKA_SSL_KEY_PASSWORD_FILE": str(tmp_path / "wrongpw")})
    assert "not-it" not in str(info.value)
    with pytest.raises(ConfigError, match=r"STREAMAPP_KAFKA_SSL_CA_FILE: .* holds no PEM"):
        security(**{**env, "STREAMAPP_KAFKA_SSL_CA_FILE": str(tmp_path / "wrongpw")})


def test_mtls_principal_is_the_certificate_subject(tmp_path: Path, ca: str) -> None:
    """An ACL hint over mTLS names Kafka's principal for the certificate: User:<subject DN>."""
    import subprocess

    key, cert = tmp_path / "client.key", tmp_path / "client.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/O=shop/CN=kafka-client"],
        check=True, capture_output=True,
    )  # fmt: skip
    sec = security(
        STREAMAPP_KAFKA_SECURITY_PROTOCOL="SSL",
        STREAMAPP_KAFKA_SSL_CA_FILE=ca,
        STREAMAPP_KAFKA_SSL_CERT_FILE=str(cert),
        STREAMAPP_KAFKA_SSL_KEY_FILE=str(key),
    )
    assert sec.acl_principal() == "User:CN=kafka-client,O=shop"
    assert "User:CN=kafka-client,O=shop" in sec.principal()
    kafkaerrors._last_error.clear()
    hint = explain("Broker: Topic authorization failed", principal=sec.principal())
    assert "User:CN=kafka-client,O=shop" in hint
    assert "is hidden from the client certificate's principal" in kafkaerrors.unseen_by_acl(sec)
    assert security().acl_principal() == "" and kafkaerrors.unseen_by_acl(security()) == ""
