"""The chaos proxy in front of the stack's real Redis: it forwards, refuses, black-holes, heals."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from chaos_proxy import TcpProxy

from streamapp.settings import Settings


@pytest.fixture
def proxy(chaos_stack: Settings) -> Iterator[TcpProxy]:
    import urllib.parse

    url = urllib.parse.urlsplit(chaos_stack.redis_url)
    p = TcpProxy(
        url.hostname or "127.0.0.1", url.port or 6379, name="test-redis", max_connections=4
    )
    p.start()
    yield p
    p.close()


def _client(port: int, timeout: float = 5.0) -> Any:
    import redis

    return redis.Redis(
        port=port, socket_timeout=timeout, socket_connect_timeout=timeout, retry=None
    )


def test_forwards_and_refuses_while_cut(proxy: TcpProxy) -> None:
    client = _client(proxy.port)
    assert client.ping()
    proxy.cut("refuse")
    with socket.socket() as sock:  # nothing listens: connection refused at once
        assert sock.connect_ex(("127.0.0.1", proxy.port)) != 0
    import redis

    with pytest.raises(redis.exceptions.ConnectionError):
        client.ping()  # its open connection was reset
    proxy.restore()
    assert client.ping()


def test_black_hole_holds_bytes_until_restored(proxy: TcpProxy) -> None:
    client = _client(proxy.port, timeout=60)
    assert client.ping()
    proxy.cut("blackhole")
    answered = threading.Event()
    worker = threading.Thread(target=lambda: client.ping() and answered.set(), daemon=True)
    worker.start()
    assert not answered.wait(1.0)  # held: no answer while the hole is open
    proxy.restore()
    worker.join(30)
    assert answered.is_set()


def test_refuses_connections_beyond_its_bound(proxy: TcpProxy) -> None:
    clients = [_client(proxy.port) for _ in range(4)]
    for c in clients:
        assert c.ping()  # 4 connections open (each client keeps its own)
    import redis

    with pytest.raises(redis.exceptions.ConnectionError):
        _client(proxy.port).ping()
    assert proxy.refused >= 1


def test_only_loopback_targets() -> None:
    with pytest.raises(ValueError, match="loopback"):
        TcpProxy("192.0.2.1", 6379)
