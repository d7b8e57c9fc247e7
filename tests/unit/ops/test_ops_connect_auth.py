"""Connect REST auth from settings, and which registry failures name a setting to fix."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest
from confluent_kafka.schema_registry.error import SchemaRegistryError

from streamapp.errors import ConfigError
from streamapp.ops.connect import ConnectAuth
from streamapp.registry import access_problem
from streamapp.settings import Settings

SECRET = "pw:with:colons"


def _auth(**env: str) -> ConnectAuth:
    return ConnectAuth.from_settings(Settings.from_env(env))


def test_user_info_becomes_a_basic_auth_header_never_shown() -> None:
    auth = _auth(STREAMAPP_CONNECT_USER_INFO=f"me:{SECRET}")
    assert auth.authorization == "Basic " + base64.b64encode(f"me:{SECRET}".encode()).decode()
    assert SECRET not in repr(auth) and auth.authorization not in repr(auth)
    assert _auth().authorization == "" and _auth().context() is None


def test_user_info_from_a_file_drops_one_newline(tmp_path: Path) -> None:
    secret = tmp_path / "connect-user-info"
    secret.write_text(f"me:{SECRET}\n")
    auth = _auth(STREAMAPP_CONNECT_USER_INFO_FILE=str(secret))
    assert base64.b64decode(auth.authorization.split()[1]).decode() == f"me:{SECRET}"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"STREAMAPP_CONNECT_USER_INFO": "no-colon-secret"}, "STREAMAPP_CONNECT_USER_INFO"),
        ({"STREAMAPP_CONNECT_USER_INFO_FILE": "/no/x"}, "STREAMAPP_CONNECT_USER_INFO_FILE"),
        ({"STREAMAPP_CONNECT_CA_FILE": "/nonexistent/ca.pem"}, "STREAMAPP_CONNECT_CA_FILE"),
    ],
)
def test_bad_settings_are_one_config_error_naming_them(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _auth(**env)
    assert named in str(caught.value) and "no-colon-secret" not in str(caught.value)


def test_a_ca_file_makes_a_context_trusting_it(tmp_path: Path) -> None:
    import certifi

    text = Path(certifi.where()).read_text()  # its first certificate stands in for a CA
    begin, end = "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----"
    ca = tmp_path / "ca.pem"
    ca.write_text(text[text.index(begin) : text.index(end) + len(end)] + "\n")
    auth = _auth(STREAMAPP_CONNECT_CA_FILE=str(ca))
    assert auth.ca_file == str(ca)
    context = auth.context()
    assert context is not None and context.cert_store_stats()["x509_ca"] == 1


@pytest.mark.parametrize(
    ("exc", "named"),
    [
        (SchemaRegistryError(401, 401, "Unauthorized"), "STREAMAPP_REGISTRY_USER_INFO"),
        (SchemaRegistryError(403, 403, "Forbidden"), "STREAMAPP_REGISTRY_BEARER_TOKEN"),
        (
            httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"),
            "STREAMAPP_REGISTRY_CA_FILE",
        ),
        (httpx.ConnectError("[SSL: WRONG_VERSION_NUMBER] wrong version"), "STREAMAPP_REGISTRY_URL"),
        (SchemaRegistryError(404, 40401, "Subject not found"), ""),
        (httpx.ConnectError("[Errno 111] Connection refused"), ""),
    ],
)
def test_registry_access_problems_name_the_setting(exc: Exception, named: str) -> None:
    hint = access_problem(exc)
    assert (named in hint) if named else hint == ""


def test_check_authenticates_with_the_settings_it_is_given_not_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`check` probes Connect with the Settings it was handed (the environment has none)."""
    import http.server
    import threading

    from streamapp.commands.check import _connect_checks

    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            body = b"[]" if self.path.startswith("/connectors") else b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    for name in ("STREAMAPP_CONNECT_USER_INFO", "STREAMAPP_CONNECT_USER_INFO_FILE"):
        monkeypatch.delenv(name, raising=False)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        s = Settings.from_env(
            {"STREAMAPP_CONNECT_URL": url, "STREAMAPP_CONNECT_USER_INFO": "me:pw"}
        )
        _connect_checks(url, [], s)
    finally:
        server.shutdown()
    expected = "Basic " + base64.b64encode(b"me:pw").decode()
    assert seen and all(h == expected for h in seen)
