"""An authenticating HTTPS proxy of our own in front of the registry, Kafka Connect's REST API and
the Iceberg REST catalog.

Apicurio Registry authenticates only through an OpenID Connect server (Keycloak; its HTTP basic
mode hands the credentials to that server), and Kafka Connect's REST API has no TLS or login of
its own here, so the local stack puts this proxy in front of both: HTTPS with a certificate
signed by the stack CA (certs.py), on STREAMAPP_REGISTRY_TLS_PORT (registry),
STREAMAPP_CONNECT_TLS_PORT (Connect) and STREAMAPP_ICEBERG_REST_TLS_PORT (the Iceberg REST
catalog, whose servlet has no login or TLS of its own either). A request passes with HTTP
basic auth of a user whose password is in ``<stack>/authproxy/<user>.password``
(``streamapp``'s is made by ``make up``; a test may add a user by writing a file) or with
``Authorization: Bearer <the token in <stack>/authproxy/bearer.token>``, or with a bearer token
it issued itself (below) and that has not expired; anything else is answered 401. Stdlib only.

OAuth2 client credentials (RFC 6749 4.4, as the Iceberg REST spec's ``/v1/oauth/tokens``): a
``POST`` to a path ending in ``/v1/oauth/tokens`` with ``grant_type=client_credentials`` and a
user as ``client_id``/``client_secret`` (form fields or HTTP basic auth) gets a fresh random
access token valid for ``<stack>/authproxy/<user>.ttl`` seconds (3600 without that file), then
answered 401 like any unknown token: a client must fetch a new one. A wrong secret is
``401 invalid_client``.

Run by the stack as ``python3 authproxy.py serve --cert C --key K --auth-dir D
--route PORT=UPSTREAM ...``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import http.client
import json
import re
import secrets
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from certs import ca_file, issue
from common import Config, FingerprintedService, ensure_port_free, spawn

USER = "streamapp"
REGISTRY_PATH = "/apis/ccompat/v7"
TOKEN_PATH = "/v1/oauth/tokens"  # the Iceberg REST spec's OAuth2 token endpoint
# Headers that describe one hop, not the message (RFC 9110 7.6.1), and the credentials.
_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
     "upgrade", "authorization", "host", "content-length"}
)  # fmt: skip
_USER = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


def auth_dir(cfg: Config) -> Path:
    return cfg.state_dir / "authproxy"


def secret_file(path: Path) -> str:
    """A random secret kept in ``path`` (mode 0600), made once."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        path.write_text(secrets.token_urlsafe(24) + "\n")
        path.chmod(0o600)
    return path.read_text().strip()


class AuthProxy(FingerprintedService):
    """The proxy process. ``healthy`` is a real round trip through each port: with the
    password, the registry lists its subjects and Connect its plugins; without it, 401; and a
    token from the OAuth2 endpoint opens the Iceberg catalog. ``up`` restarts a proxy started
    from other code or routes."""

    name = "authproxy"
    stop_grace = 10.0

    @property
    def address(self) -> str:
        return (
            f"https://127.0.0.1:{self.cfg.registry_tls_port}{REGISTRY_PATH} (registry), "
            f"https://127.0.0.1:{self.cfg.connect_tls_port} (connect), "
            f"https://127.0.0.1:{self.cfg.iceberg_rest_tls_port} (iceberg-rest)"
        )

    def prepare(self) -> None:
        issue(self.cfg, "authproxy")
        secret_file(auth_dir(self.cfg) / f"{USER}.password")
        secret_file(auth_dir(self.cfg) / "bearer.token")

    def start(self) -> None:
        ensure_port_free(self.cfg.registry_tls_port, self.name, "STREAMAPP_REGISTRY_TLS_PORT")
        ensure_port_free(self.cfg.connect_tls_port, self.name, "STREAMAPP_CONNECT_TLS_PORT")
        iceberg = self.cfg.iceberg_rest_tls_port
        ensure_port_free(iceberg, self.name, "STREAMAPP_ICEBERG_REST_TLS_PORT")
        self.record_start()
        spawn(self.argv(), log=self.log, pidfile=self.pidfile)

    def argv(self) -> list[str]:
        cert, key = issue(self.cfg, "authproxy")
        return [
            sys.executable,
            str(Path(__file__).resolve()),
            "serve",
            "--cert", str(cert),
            "--key", str(key),
            "--auth-dir", str(auth_dir(self.cfg)),
            "--route", f"{self.cfg.registry_tls_port}=127.0.0.1:{self.cfg.registry_port}",
            "--route", f"{self.cfg.connect_tls_port}=127.0.0.1:{self.cfg.connect_port}",
            "--route",
            f"{self.cfg.iceberg_rest_tls_port}=127.0.0.1:{self.cfg.iceberg_rest_port}",
        ]  # fmt: skip

    def fingerprint(self) -> str:
        """The proxy's code and command line: a change restarts it on ``up``."""
        code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
        return json.dumps({"code": code, "argv": self.argv()})

    def healthy(self) -> bool:
        password = (auth_dir(self.cfg) / f"{USER}.password").read_text().strip()
        good = "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()
        registry = f"https://127.0.0.1:{self.cfg.registry_tls_port}{REGISTRY_PATH}/subjects"
        connect = f"https://127.0.0.1:{self.cfg.connect_tls_port}/connector-plugins"
        iceberg = f"https://127.0.0.1:{self.cfg.iceberg_rest_tls_port}/v1/config"
        for url in (registry, connect, iceberg):
            if self._get(url, None) != 401 or self._get(url, good) != 200:
                return False
        token = self._post_token(f"https://127.0.0.1:{self.cfg.iceberg_rest_tls_port}", password)
        return token is not None and self._get(iceberg, f"Bearer {token}") == 200

    def _post_token(self, base: str, password: str) -> str | None:
        """An access token of the OAuth2 endpoint for USER, or None when refused."""
        context = ssl.create_default_context(cafile=str(ca_file(self.cfg)))
        form = {"grant_type": "client_credentials", "client_id": USER, "client_secret": password}
        request = urllib.request.Request(
            base + TOKEN_PATH, data=urllib.parse.urlencode(form).encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=5, context=context) as resp:
                return str(json.loads(resp.read())["access_token"])
        except (urllib.error.HTTPError, KeyError, ValueError):
            return None

    def _get(self, url: str, authorization: str | None) -> int:
        context = ssl.create_default_context(cafile=str(ca_file(self.cfg)))
        headers = {"Authorization": authorization} if authorization else {}
        try:
            with urllib.request.urlopen(
                urllib.request.Request(url, headers=headers), timeout=5, context=context
            ) as resp:
                json.loads(resp.read())
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return exc.code


# -- the server ---------------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    """One client connection: check its credentials, then forward each request upstream."""

    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    server: ProxyServer

    def do_GET(self) -> None:
        self._proxy()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _proxy(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self._answer(411, "send a Content-Length", close=True)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.command == "POST" and self.path.split("?")[0].endswith(TOKEN_PATH):
            self._token(body or b"")
            return
        if not self.server.allowed(self.headers.get("Authorization", "")):
            self._answer(401, "Unauthorized: HTTP basic auth or a bearer token is required")
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        upstream = http.client.HTTPConnection(*self.server.upstream, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
        except OSError as exc:
            self._answer(502, f"upstream 127.0.0.1:{self.server.upstream[1]}: {exc}")
            return
        finally:
            upstream.close()
        self.send_response(resp.status, resp.reason)
        for name, value in resp.getheaders():
            if name.lower() not in _HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _token(self, body: bytes) -> None:
        """The OAuth2 client-credentials grant: a token of the client's lifetime, or the
        RFC 6749 5.2 error."""
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode(errors="replace")).items()}
        user, password = _basic(self.headers.get("Authorization", ""))
        user = form.get("client_id") or user
        password = form.get("client_secret") or password
        if form.get("grant_type") != "client_credentials":
            self._json(400, {"error": "unsupported_grant_type"})
        elif not self.server.valid_user(user, password):
            self._json(401, {"error": "invalid_client", "error_description": "unknown client"})
        else:
            token, ttl = self.server.issue(user)
            self._json(
                200,
                {
                    "access_token": token,
                    "token_type": "bearer",
                    "expires_in": ttl,
                    "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                },
            )

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _answer(self, status: int, message: str, *, close: bool = False) -> None:
        """A Confluent-style JSON error (``error_code``, ``message``), as the registry sends."""
        data = json.dumps({"error_code": status, "message": message}).encode()
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="streamapp local stack"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if str(code) not in ("200", "204"):  # the refusals and failures only; never a header
            self.log_message('"%s" %s', self.requestline, code)


class ProxyServer(ThreadingHTTPServer):
    """Listens on one port; TLS is negotiated in each connection's own thread."""

    daemon_threads = True

    def __init__(self, port: int, upstream: tuple[str, int], tls: ssl.SSLContext, folder: Path):
        super().__init__(("127.0.0.1", port), Handler)
        self.upstream = upstream
        self.tls = tls
        self.folder = folder
        self.issued: dict[str, float] = {}  # access token -> when it expires (monotonic)
        self.lock = threading.Lock()

    def issue(self, user: str) -> tuple[str, int]:
        """A new access token for ``user`` and its lifetime in seconds."""
        try:
            ttl = int((self.folder / f"{user}.ttl").read_text().strip())
        except (OSError, ValueError):
            ttl = 3600
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self.lock:
            self.issued = {t: end for t, end in self.issued.items() if end > now}
            self.issued[token] = now + ttl
        return token, ttl

    def valid_user(self, user: str, password: str) -> bool:
        return bool(_USER.fullmatch(user)) and _matches(self.folder / f"{user}.password", password)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(30)
            conn = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. a plaintext client: nothing to answer over TLS
        try:
            super().finish_request(conn, client_address)
        finally:
            conn.close()

    def allowed(self, authorization: str) -> bool:
        """Whether ``authorization`` carries a known user's password or the bearer token
        (files read at each request, so a user added or removed counts at once)."""
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and value:
            with self.lock:
                expires = self.issued.get(value.strip(), 0.0)
            if expires > time.monotonic():
                return True
            return _matches(self.folder / "bearer.token", value.strip())
        return self.valid_user(*_basic(authorization))


def _basic(authorization: str) -> tuple[str, str]:
    """(user, password) of an HTTP basic ``Authorization``; ("", "") for anything else."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    try:
        user, sep, password = base64.b64decode(value, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return "", ""
    return (user, password) if sep else ("", "")


def _matches(path: Path, given: str) -> bool:
    try:
        expected = path.read_text().strip()
    except OSError:
        return False
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="authproxy serve")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--auth-dir", required=True, type=Path)
    parser.add_argument("--route", action="append", required=True, help="PORT=HOST:PORT")
    args = parser.parse_args(argv)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.minimum_version = ssl.TLSVersion.TLSv1_2
    tls.load_cert_chain(args.cert, args.key)
    servers = []
    for route in args.route:
        port, _, target = route.partition("=")
        host, _, upstream_port = target.rpartition(":")
        servers.append(ProxyServer(int(port), (host, int(upstream_port)), tls, args.auth_dir))
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        print(f"authproxy: https://127.0.0.1:{server.server_address[1]} -> "
              f"http://{server.upstream[0]}:{server.upstream[1]}", flush=True)  # fmt: skip
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] != ["serve"]:
        sys.exit("usage: authproxy.py serve --cert C --key K --auth-dir D --route PORT=HOST:PORT")
    sys.exit(serve(sys.argv[2:]))
