"""TLS to the sinks: CA settings, https for ClickHouse, refusal hints, what `check` shows."""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamapp.errors import ConfigError
from streamapp.observability import protocol
from streamapp.settings import Settings
from streamapp.sinks import tlshints
from streamapp.sinks.clickhouse import connect as chconnect


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl, like the stack)."""
    d = tmp_path_factory.mktemp("certs")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "ca.key"),
        "-out", str(d / "ca.pem"), "-days", "1", "-subj", "/CN=test-ca")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(d / "srv.key"),
        "-out", str(d / "srv.csr"), "-subj", "/CN=localhost")  # fmt: skip
    (d / "srv.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", str(d / "srv.csr"), "-CA", str(d / "ca.pem"),
        "-CAkey", str(d / "ca.key"), "-CAcreateserial", "-out", str(d / "srv.pem"),
        "-days", "1", "-extfile", str(d / "srv.ext"))  # fmt: skip
    return {"ca": d / "ca.pem", "cert": d / "srv.pem", "key": d / "srv.key"}


@pytest.fixture
def tls_server(certs: dict[str, Path]) -> Iterator[int]:
    """A TLS server on 127.0.0.1 that completes handshakes and closes; yields its port."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs["cert"], certs["key"])
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except OSError:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


# -- settings -----------------------------------------------------------------------------------


def test_ca_files_reach_the_clients_as_url_parameters(certs: dict[str, Path]) -> None:
    s = Settings.from_env(
        {
            "STREAMAPP_REDIS_URL": "rediss://app:pw@r:6380/0",
            "STREAMAPP_REDIS_CA_FILE": str(certs["ca"]),
            "STREAMAPP_CLICKHOUSE_DSN": "https://u:pw@ch:8443/db?compress=false",
            "STREAMAPP_CLICKHOUSE_CA_FILE": str(certs["ca"]),
        }
    )
    assert s.redis_client_url() == f"rediss://app:pw@r:6380/0?ssl_ca_certs={certs['ca']}"
    assert s.clickhouse_client_dsn() == (
        f"https://u:pw@ch:8443/db?compress=false&ca_cert={certs['ca']}"
    )
    from redis.connection import SSLConnection, parse_url

    parsed = parse_url(s.redis_client_url())  # what redis-py's from_url hands the connection
    assert parsed["ssl_ca_certs"] == str(certs["ca"])
    assert parsed["connection_class"] is SSLConnection
    assert (parsed["username"], parsed["password"]) == ("app", "pw")


def test_without_ca_files_the_urls_are_unchanged() -> None:
    s = Settings.from_env({"STREAMAPP_REDIS_URL": "rediss://r:6380/0"})
    assert s.redis_client_url() == "rediss://r:6380/0"
    assert s.clickhouse_client_dsn().startswith("chdb:///")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"STREAMAPP_REDIS_URL": "redis://r:6379/0", "STREAMAPP_REDIS_CA_FILE": "CA"},
            "STREAMAPP_REDIS_CA_FILE is set but STREAMAPP_REDIS_URL is no rediss:// URL",
        ),
        (
            {"STREAMAPP_REDIS_URL": "rediss://r:6379/0", "STREAMAPP_REDIS_CA_FILE": "/nope.pem"},
            "STREAMAPP_REDIS_CA_FILE: /nope.pem is no readable PEM certificate",
        ),
        (
            {"STREAMAPP_CLICKHOUSE_CA_FILE": "CA"},
            "STREAMAPP_CLICKHOUSE_CA_FILE is set but STREAMAPP_CLICKHOUSE_DSN is no https:// URL",
        ),
        (
            {"STREAMAPP_CLICKHOUSE_DSN": "https://ch/db", "STREAMAPP_CLICKHOUSE_CA_FILE": "KEY"},
            "is no readable PEM certificate",
        ),
    ],
)
def test_a_wrong_ca_setting_is_one_config_error(
    certs: dict[str, Path], env: dict[str, str], message: str
) -> None:
    env = {k: str(certs["ca"]) if v == "CA" else str(certs["key"]) if v == "KEY" else v
           for k, v in env.items()}  # fmt: skip
    with pytest.raises(ConfigError, match=message.replace("?", r"\?")):
        Settings.from_env(env)


def test_settings_show_tls_urls_without_their_passwords(certs: dict[str, Path]) -> None:
    rows = Settings.from_env(
        {
            "STREAMAPP_REDIS_URL": "rediss://app:S3ntinel@r:6380/0",
            "STREAMAPP_REDIS_CA_FILE": str(certs["ca"]),
            "STREAMAPP_WAREHOUSE_DSN": "postgresql://u:S3ntinel@h/w?sslmode=verify-full"
            "&sslrootcert=/ca.pem&sslcert=/c.pem&sslkey=/c.key&sslpassword=S3ntinel",
        }
    ).describe()
    shown = {env: value for env, value, _ in rows}
    assert shown["STREAMAPP_REDIS_URL"] == "rediss://app:***@r:6380/0"
    assert shown["STREAMAPP_WAREHOUSE_DSN"] == (
        "postgresql://u:***@h/w?sslmode=verify-full&sslrootcert=/ca.pem&sslcert=/c.pem"
        "&sslkey=/c.key&sslpassword=***"
    )
    assert "S3ntinel" not in repr(rows)


# -- ClickHouse over https ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "interface"),
    [
        ("https://u:pw@ch:8123/db", "https"),  # clickhouse-connect alone would speak plain HTTP
        ("https://u:pw@ch/db?ca_cert=/ca.pem", "https"),
        ("http://u:pw@ch:8123/db", "http"),
        ("clickhouse://u:pw@ch:8123/db", None),
    ],
)
def test_clickhouse_dsn_scheme_decides_tls(
    monkeypatch: pytest.MonkeyPatch, dsn: str, interface: str | None
) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr("clickhouse_connect.get_client", lambda **kw: seen.update(kw))
    chconnect.get_client(dsn)
    assert seen.get("interface") == interface and seen["dsn"] == dsn


def test_clickhouse_connect_alone_reads_https_as_http() -> None:
    """Why chconnect.get_client passes the interface: the library ignores the DSN's scheme."""
    from clickhouse_connect.driver import _parse_connection_params

    params = _parse_connection_params(
        None, None, None, None, None, None, False, "https://u:pw@ch:8123/db", {}
    )
    assert params[-1] == "http"


# -- refusal hints ------------------------------------------------------------------------------

PREAMBLE = 'connection failed: connection to server at "127.0.0.1", port 15432 failed: '


@pytest.mark.parametrize(
    ("message", "reason", "hint"),
    [
        (
            PREAMBLE + 'root certificate file "/root/.postgresql/root.crt" does not exist\n'
            "Either provide the file, use the system's trusted roots with sslrootcert=system, ...",
            'root certificate file "/root/.postgresql/root.crt" does not exist',
            "set sslrootcert in ENV",
        ),
        (
            PREAMBLE + "SSL error: certificate verify failed",
            "SSL error: certificate verify failed",
            "set sslrootcert in ENV",
        ),
        (
            PREAMBLE + "server does not support SSL, but SSL was required",
            "server does not support SSL, but SSL was required",
            "lower sslmode in ENV",
        ),
        (
            PREAMBLE + 'FATAL:  pg_hba.conf rejects connection for host "127.0.0.1", user "t", '
            'database "w", no encryption',
            'pg_hba.conf rejects connection for host "127.0.0.1", user "t", database "w", '
            "no encryption",
            "add sslmode=verify-full to ENV",
        ),
        (
            PREAMBLE + 'FATAL:  password authentication failed for user "t"',
            'password authentication failed for user "t"',
            "fix the user or password in ENV",
        ),
        (
            PREAMBLE + "FATAL:  connection requires a valid client certificate",
            "connection requires a valid client certificate",
            "check the client certificate (sslcert, sslkey) in ENV",
        ),
        (
            PREAMBLE + 'server certificate for "localhost" does not match host name "10.0.0.1"',
            'server certificate for "localhost" does not match host name "10.0.0.1"',
            "sslmode=verify-ca, in ENV",
        ),
        (PREAMBLE + "Connection refused", "Connection refused", "the server is up and ENV"),
    ],
)
def test_libpq_refusals_become_one_line_naming_the_setting(
    message: str, reason: str, hint: str
) -> None:
    got = tlshints.libpq_reason(Exception(message))
    assert got == reason
    assert hint in tlshints.libpq_hint(got, "ENV")


def test_untrusted_certificate_is_found_in_a_wrapped_error() -> None:
    cause = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")
    try:
        try:
            raise cause
        except OSError as exc:
            raise ConnectionError("Error 1 connecting to r:6380.") from exc
    except ConnectionError as wrapped:
        assert tlshints.untrusted(wrapped)
    assert not tlshints.untrusted(ConnectionError("Connection refused"))


def test_first_line_hides_a_dsn_password() -> None:
    exc = Exception("cannot reach postgresql://u:S3ntinel@h/db\nsecond line")
    assert tlshints.first_line(exc) == "cannot reach postgresql://u:***@h/db"


# -- the protocol `check` prints ----------------------------------------------------------------


def test_https_reports_the_negotiated_tls_version(tls_server: int, certs: dict[str, Path]) -> None:
    url = f"https://127.0.0.1:{tls_server}/apis/ccompat/v7"
    assert protocol.http(url, str(certs["ca"])) in ("https TLSv1.2", "https TLSv1.3")
    # without the CA the handshake fails: still https (the client's own call passed), no version
    assert protocol.http(url) == "https"
    assert protocol.http("http://127.0.0.1:1/x") == "http"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1:19094", ("127.0.0.1", 19094)),
        ("broker.example:9093", ("broker.example", 9093)),
        ("SASL_SSL://b:9096", ("b", 9096)),
        ("[::1]:9092", ("::1", 9092)),
        ("broker", ("broker", 9092)),
    ],
)
def test_bootstrap_address_split(address: str, expected: tuple[str, int]) -> None:
    assert protocol._host_port(address, 9092) == expected


def test_kafka_plaintext_needs_no_handshake() -> None:
    assert protocol.kafka(Settings.from_env({})) == "PLAINTEXT"
