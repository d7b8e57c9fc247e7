"""The local stack's authenticating HTTPS proxy: who passes, what reaches the upstream."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from stack_scripts import STACK, load


@pytest.fixture(scope="module")
def authproxy() -> Iterator[ModuleType]:
    """infra/local/stack/authproxy.py (with its stack modules lent for the import)."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("common", "kafkasasl", "certs"):
            load(mp, name, STACK / f"{name}.py")
        yield load(mp, "authproxy", STACK / "authproxy.py")


class Upstream(BaseHTTPRequestHandler):
    """Answers every request with what it received (method, path, headers, body) as JSON."""

    def _echo(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        data = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode(),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _echo

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def proxy(authproxy: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A proxy on a free port in front of an echoing upstream; its folder has user ``alice``
    (password ``s3cret``) and a bearer token ``tok``. Yields (port, CA file, folder)."""
    from kafkasasl import ensure_certificates

    tmp = tmp_path_factory.mktemp("authproxy")
    ensure_certificates(tmp / "tls")  # ca.pem, broker.pem/.key: 127.0.0.1 and localhost
    folder = tmp / "auth"
    folder.mkdir()
    (folder / "alice.password").write_text("s3cret\n")
    (folder / "bearer.token").write_text("tok\n")
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp / "tls" / "broker.pem", tmp / "tls" / "broker.key")
    server = authproxy.ProxyServer(0, ("127.0.0.1", upstream.server_address[1]), tls, folder)
    for s in (upstream, server):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    yield server.server_address[1], tmp / "tls" / "ca.pem", folder
    server.shutdown()
    upstream.shutdown()


def _request(
    proxy: Any, method: str, authorization: str | None, body: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    port, ca, _ = proxy
    conn = http.client.HTTPSConnection(
        "127.0.0.1", port, context=ssl.create_default_context(cafile=str(ca)), timeout=10
    )
    headers = {"Authorization": authorization} if authorization else {}
    conn.request(method, "/apis/ccompat/v7/subjects?x=1", body=body, headers=headers)
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    return resp.status, answer


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_a_known_user_passes_and_the_upstream_never_sees_the_credentials(proxy: Any) -> None:
    status, seen = _request(proxy, "POST", basic("alice", "s3cret"), b'{"schema": "1"}')
    assert status == 200
    assert (seen["method"], seen["path"], seen["body"]) == (
        "POST",
        "/apis/ccompat/v7/subjects?x=1",
        '{"schema": "1"}',
    )
    assert "authorization" not in seen["headers"]


def test_the_bearer_token_passes(proxy: Any) -> None:
    assert _request(proxy, "GET", "Bearer tok")[0] == 200


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        basic("alice", "wrong"),
        basic("bob", "s3cret"),  # no such user
        basic("../auth/alice", "s3cret"),  # not a user name: no path outside the folder
        basic("bearer", "tok"),  # the token is no user's password
        "Bearer wrong",
        "Bearer ",
        "Basic not-base64!",
        "Digest alice",
    ],
)
def test_anything_else_is_401_with_a_json_error(proxy: Any, authorization: str | None) -> None:
    status, answer = _request(proxy, "GET", authorization)
    assert status == 401 and answer["error_code"] == 401


def test_a_user_added_later_counts_at_once(proxy: Any) -> None:
    _, _, folder = proxy
    (folder / "carol.password").write_text("later\n")
    try:
        assert _request(proxy, "DELETE", basic("carol", "later"))[0] == 200
    finally:
        (folder / "carol.password").unlink()
    assert _request(proxy, "DELETE", basic("carol", "later"))[0] == 401


def test_a_plaintext_client_gets_no_answer(proxy: Any) -> None:
    port = proxy[0]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /subjects HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            answer = sock.recv(100)
        except ConnectionResetError:
            answer = b""
        assert not answer.startswith(b"HTTP/")  # closed (or a TLS alert), never forwarded


# -- OAuth2 client credentials (the Iceberg REST spec's /v1/oauth/tokens) -------------------------


def _token(
    proxy: Any, form: dict[str, str], authorization: str | None = None
) -> tuple[int, dict[str, Any]]:
    import urllib.parse

    port, ca, _ = proxy
    conn = http.client.HTTPSConnection(
        "127.0.0.1", port, context=ssl.create_default_context(cafile=str(ca)), timeout=10
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if authorization:
        headers["Authorization"] = authorization
    conn.request("POST", "/v1/oauth/tokens", urllib.parse.urlencode(form), headers)
    resp = conn.getresponse()
    answer = json.loads(resp.read())
    conn.close()
    return resp.status, answer


GRANT = {"grant_type": "client_credentials"}


def test_client_credentials_get_a_token_that_passes_as_bearer(proxy: Any) -> None:
    status, answer = _token(proxy, {**GRANT, "client_id": "alice", "client_secret": "s3cret"})
    assert status == 200, answer
    assert answer["token_type"] == "bearer" and answer["expires_in"] == 3600
    assert answer["access_token"] not in ("tok", "s3cret")
    assert _request(proxy, "GET", f"Bearer {answer['access_token']}")[0] == 200
    # the client's credentials as HTTP basic auth (RFC 6749 2.3.1), as pyiceberg's OAuth2 manager
    status, again = _token(proxy, GRANT, basic("alice", "s3cret"))
    assert status == 200 and again["access_token"] != answer["access_token"]


@pytest.mark.parametrize(
    ("form", "authorization", "status", "error"),
    [
        ({**GRANT, "client_id": "alice", "client_secret": "wrong"}, None, 401, "invalid_client"),
        ({**GRANT, "client_id": "bob", "client_secret": "s3cret"}, None, 401, "invalid_client"),
        (GRANT, None, 401, "invalid_client"),
        (GRANT, "Bearer tok", 401, "invalid_client"),  # a token is no client credential
        ({"grant_type": "password", "client_id": "alice", "client_secret": "s3cret"}, None, 400,
         "unsupported_grant_type"),
    ],
)  # fmt: skip
def test_a_refused_grant_is_the_rfc_6749_error(
    proxy: Any, form: dict[str, str], authorization: str | None, status: int, error: str
) -> None:
    got, answer = _token(proxy, form, authorization)
    assert (got, answer["error"]) == (status, error)
    assert "s3cret" not in json.dumps(answer)


def test_an_issued_token_expires_after_the_clients_ttl(proxy: Any) -> None:
    import time

    _, _, folder = proxy
    (folder / "carol.password").write_text("pw\n")
    (folder / "carol.ttl").write_text("1\n")
    status, answer = _token(proxy, {**GRANT, "client_id": "carol", "client_secret": "pw"})
    assert status == 200 and answer["expires_in"] == 1
    bearer = f"Bearer {answer['access_token']}"
    assert _request(proxy, "GET", bearer)[0] == 200
    time.sleep(1.2)
    assert _request(proxy, "GET", bearer)[0] == 401


def test_up_restarts_a_proxy_started_from_other_code_or_ports(
    authproxy: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAMAPP_STACK_DIR", str(tmp_path / "stack"))
    monkeypatch.delenv("STREAMAPP_ICEBERG_REST_TLS_PORT", raising=False)
    proxy = authproxy.AuthProxy(sys.modules["common"].Config.from_env())
    proxy.record_start()
    assert proxy.outdated() is None
    edited = tmp_path / "authproxy.py"
    edited.write_text(Path(authproxy.__file__).read_text() + "# a new endpoint\n")
    monkeypatch.setattr(authproxy, "__file__", str(edited))
    assert proxy.outdated() == "runs with other jars, code or settings"
    proxy.record_start()
    monkeypatch.setenv("STREAMAPP_ICEBERG_REST_TLS_PORT", "28544")
    proxy.cfg = sys.modules["common"].Config.from_env()
    assert proxy.outdated() == "runs with other jars, code or settings"
