"""The local stack's authenticating HTTPS proxy: who passes, what reaches the upstream."""

from __future__ import annotations

import base64
import http.client
import importlib.util
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

STACK = Path(__file__).resolve().parents[2] / "infra" / "local" / "stack"


@pytest.fixture(scope="module")
def authproxy() -> Iterator[ModuleType]:
    """infra/local/stack/authproxy.py (with its stack modules lent for the import)."""
    with pytest.MonkeyPatch.context() as mp:
        module = None
        for name in ("common", "kafkasasl", "certs", "authproxy"):
            spec = importlib.util.spec_from_file_location(name, STACK / f"{name}.py")
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            mp.setitem(sys.modules, name, module)
            spec.loader.exec_module(module)
        assert module is not None
        yield module


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
